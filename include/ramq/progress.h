// Progress of long stages (hashing, analysis, writing, evaluation) on a terminal or a log.
// Stages report through a `Progress*` in their options (nullptr = silent); counters are atomic,
// so workers of ramq::parallel_for may advance them concurrently. Progress never changes what a
// stage computes or writes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

namespace ramq {

struct ProgressTask {
  std::string label;                  // "analyze", "write", "eval", ...
  std::string item_noun = "tensors";  // what total_items counts
  std::uint64_t total_items = 0;
  std::uint64_t total_amount = 0;     // bytes, or amount_noun units; 0 = not shown
  std::string amount_noun;            // "" = bytes (shown as kB/MB/GB), else e.g. "tokens"
};

enum class ProgressStyle {
  kOff,    // nothing
  kBar,    // one line redrawn in place ("\r"), erased at the end: for terminals
  kLines,  // a plain line every `interval` seconds, and a last one if any was printed: for logs
};

// Reports one task at a time to a stdio stream. Thread-safe: advance() may be called from any
// thread; begin() and end() from the thread that owns the task.
class Progress {
 public:
  // interval_seconds: kLines: time between lines (0 = a line on every advance); kBar: time
  // between redraws (the bar first appears after this much time, so quick tasks stay silent).
  Progress(std::FILE* out, ProgressStyle style, double interval_seconds);
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void begin(const ProgressTask& task);
  void advance(std::uint64_t items, std::uint64_t amount);
  // completed = false (error or exception): the bar is erased and no final line is printed.
  void end(bool completed);

  ProgressStyle style() const { return style_; }
  // The text of one status line for the current counters (exposed for tests).
  std::string status_line(bool final_line) const;

 private:
  void maybe_print(bool force);
  double elapsed() const;

  std::FILE* out_;
  ProgressStyle style_;
  double interval_;
  ProgressTask task_;
  std::atomic<std::uint64_t> items_{0}, amount_{0};
  std::chrono::steady_clock::time_point start_;
  std::atomic<std::int64_t> next_print_ns_{0};  // since start_
  std::mutex print_mutex_;
  bool printed_ = false;  // under print_mutex_
  std::atomic<bool> active_{false};
};

// kBar when `fd` is a terminal, else kLines; kOff when quiet.
ProgressStyle progress_style_for(int fd, bool quiet);

// begin() on construction, end() on destruction (completed only if done() was called); every
// call is a no-op when the Progress pointer is null.
class ProgressScope {
 public:
  ProgressScope(Progress* p, const ProgressTask& task) : p_(p) {
    if (p_) p_->begin(task);
  }
  ~ProgressScope() {
    if (p_) p_->end(done_);
  }
  ProgressScope(const ProgressScope&) = delete;
  ProgressScope& operator=(const ProgressScope&) = delete;
  void advance(std::uint64_t items, std::uint64_t amount) const {
    if (p_) p_->advance(items, amount);
  }
  void done() { done_ = true; }

 private:
  Progress* p_;
  bool done_ = false;
};

}  // namespace ramq
