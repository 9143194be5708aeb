// Progress lines and bars on stderr (see include/ramq/progress.h).
#include "ramq/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace ramq {

namespace {

std::string format_bytes(double b) {
  char buf[32];
  if (b >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.2f GB", b / 1e9);
  } else if (b >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2f MB", b / 1e6);
  } else if (b >= 1e3) {
    std::snprintf(buf, sizeof buf, "%.1f kB", b / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f B", b);
  }
  return buf;
}

std::string format_amount(double v, const std::string& noun) {
  if (noun.empty()) return format_bytes(v);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.0f %s", v, noun.c_str());
  return buf;
}

std::string format_duration(double s) {
  const long t = std::lround(std::max(0.0, s));
  char buf[32];
  if (t >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  }
  return buf;
}

}  // namespace

Progress::Progress(std::FILE* out, ProgressStyle style, double interval_seconds)
    : out_(out), style_(out == nullptr ? ProgressStyle::kOff : style), interval_(std::max(0.0, interval_seconds)) {}

ProgressStyle progress_style_for(int fd, bool quiet) {
  if (quiet) return ProgressStyle::kOff;
  return ::isatty(fd) == 1 ? ProgressStyle::kBar : ProgressStyle::kLines;
}

double Progress::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::begin(const ProgressTask& task) {
  if (style_ == ProgressStyle::kOff) return;
  std::lock_guard<std::mutex> lock(print_mutex_);
  task_ = task;
  items_ = 0;
  amount_ = 0;
  start_ = std::chrono::steady_clock::now();
  next_print_ns_ = static_cast<std::int64_t>(interval_ * 1e9);
  printed_ = false;
  active_ = true;
}

std::string Progress::status_line(bool final_line) const {
  const double secs = elapsed();
  const auto items = items_.load(), amount = amount_.load();
  const bool show_amount = task_.total_amount > 0;
  std::string s = task_.label + " ";
  char buf[160];
  if (final_line) {
    std::snprintf(buf, sizeof buf, "done: %llu %s", static_cast<unsigned long long>(items), task_.item_noun.c_str());
    s += buf;
    if (show_amount) s += ", " + format_amount(static_cast<double>(amount), task_.amount_noun);
    std::snprintf(buf, sizeof buf, " in %.2f s", secs);
    return s + buf;
  }
  std::snprintf(buf, sizeof buf, "%llu/%llu %s", static_cast<unsigned long long>(items),
                static_cast<unsigned long long>(task_.total_items), task_.item_noun.c_str());
  s += buf;
  // Rate and ETA from the amount when there is one (tensors differ in size), else from items.
  const double done = show_amount ? static_cast<double>(amount) : static_cast<double>(items);
  const double total = show_amount ? static_cast<double>(task_.total_amount) : static_cast<double>(task_.total_items);
  if (show_amount) {
    s += ", " + format_amount(static_cast<double>(amount), task_.amount_noun) + " of " +
         format_amount(static_cast<double>(task_.total_amount), task_.amount_noun);
  }
  if (secs > 0 && done > 0) {
    const double rate = done / secs;
    s += ", " + (show_amount ? format_amount(rate, task_.amount_noun) : format_amount(rate, task_.item_noun)) + "/s";
    s += ", ETA " + format_duration((total - done) / rate);
  }
  return s;
}

void Progress::advance(std::uint64_t items, std::uint64_t amount) {
  if (style_ == ProgressStyle::kOff || !active_) return;
  items_ += items;
  amount_ += amount;
  maybe_print(false);
}

void Progress::maybe_print(bool force) {
  const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start_).count();
  if (!force && now_ns < next_print_ns_.load()) return;
  std::unique_lock<std::mutex> lock(print_mutex_, std::try_to_lock);
  if (!lock.owns_lock() || !active_) return;  // another thread is printing
  next_print_ns_ = now_ns + static_cast<std::int64_t>(interval_ * 1e9);
  if (style_ == ProgressStyle::kBar) {
    const double frac =
        task_.total_amount > 0
            ? static_cast<double>(amount_.load()) / static_cast<double>(task_.total_amount)
            : (task_.total_items > 0 ? static_cast<double>(items_.load()) / static_cast<double>(task_.total_items) : 1.0);
    constexpr int kWidth = 24;
    const int fill = std::clamp(static_cast<int>(frac * kWidth), 0, kWidth);
    std::string bar(static_cast<std::size_t>(fill), '=');
    bar.resize(kWidth, ' ');
    std::fprintf(out_, "\r[%s] %s\x1b[K", bar.c_str(), status_line(false).c_str());
  } else {
    std::fprintf(out_, "ramq: %s\n", status_line(false).c_str());
  }
  std::fflush(out_);
  printed_ = true;
}

void Progress::end(bool completed) {
  if (style_ == ProgressStyle::kOff) return;
  std::lock_guard<std::mutex> lock(print_mutex_);
  if (!active_) return;
  active_ = false;
  if (!printed_) return;
  if (style_ == ProgressStyle::kBar) {
    std::fprintf(out_, "\r\x1b[K");  // the command prints its own summary
  } else if (completed) {
    std::fprintf(out_, "ramq: %s\n", status_line(true).c_str());
  }
  std::fflush(out_);
}

}  // namespace ramq
