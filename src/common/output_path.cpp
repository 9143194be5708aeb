// The rules for where ramq may write (include/ramq/output_path.h).
#include "ramq/output_path.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "ramq/error.h"
#include "ramq/input_file.h"
#include "ramq/json_io.h"

namespace fs = std::filesystem;

namespace ramq {

namespace {

// Foreign files that --force approved, as they were when approved (a different file put at the
// same path later is not approved).
struct Approval {
  fs::path path;
  dev_t dev = 0;
  ino_t ino = 0;
};
std::mutex g_approvals_mutex;
std::vector<Approval> g_approvals;

bool lstat_path(const fs::path& p, struct stat& st) { return ::lstat(p.c_str(), &st) == 0; }

// A JSON file ramq may have written, parsed; nullopt when it is not one (or unreadable).
std::optional<nlohmann::json> ramq_json(const fs::path& p) {
  struct stat st {};
  if (!lstat_path(p, st) || !S_ISREG(st.st_mode)) return std::nullopt;
  try {
    nlohmann::json j = parse_json_text(read_regular_file(p, kMaxJsonInputBytes), p.string());
    const auto kind = j.is_object() ? j.find("kind") : j.end();
    if (kind == j.end() || !kind->is_string() || kind->get<std::string>().rfind("ramq-", 0) != 0) return std::nullopt;
    return j;
  } catch (const Error&) {
    return std::nullopt;
  }
}

// The file names a ramq manifest lists as its outputs; nullopt when `manifest` is not one.
std::optional<std::set<std::string>> manifest_listing(const fs::path& manifest) {
  const auto j = ramq_json(manifest);
  if (!j || (*j)["kind"] != "ramq-manifest") return std::nullopt;
  const auto outs = j->find("outputs");
  if (outs == j->end() || !outs->is_array()) return std::nullopt;
  std::set<std::string> names;
  for (const auto& e : *outs) {
    if (!e.is_object() || !e.contains("file") || !e["file"].is_string()) return std::nullopt;
    names.insert(e["file"].get<std::string>());
  }
  return names;
}

fs::path sidecar_of(const fs::path& file) { return file.parent_path() / (file.filename().string() + kManifestSuffix); }

// The first few KiB of a regular file ("" when unreadable).
std::string file_head(const fs::path& p) {
  try {
    std::uint64_t size = 0;
    const int fd = open_regular_file(p, size);
    std::string head(4096, '\0');
    const ssize_t n = ::read(fd, head.data(), head.size());
    ::close(fd);
    head.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return head;
  } catch (const Error&) {
    return "";
  }
}

// A regular file ramq wrote: named by the manifest beside it (a GGUF), one of ramq's JSON files
// (analysis, plan, manifest), or a report page.
bool is_ramq_file(const fs::path& p) {
  if (const auto listed = manifest_listing(sidecar_of(p)); listed && listed->size() == 1 && listed->count(p.filename().string()))
    return true;
  const std::string head = file_head(p);
  const auto first = head.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && head[first] == '{') return ramq_json(p).has_value();
  return head.find(kReportGeneratorTag) != std::string::npos || head.find("<title>ramq report: ") != std::string::npos;
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

ExistingOutput classify_directory(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) names.push_back(it->path().filename().string());
  if (ec) return {ExistingKind::kNever, "is a directory that cannot be listed: " + ec.message()};
  if (names.empty()) return {ExistingKind::kAbsent, ""};
  const auto listed = manifest_listing(dir / kManifestName);
  if (!listed)
    return {ExistingKind::kNever, "is a directory that ramq did not write (no ramq-manifest.json lists its files); "
                                  "not replacing it, even with --force"};
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    if (n == kManifestName) continue;
    struct stat st {};
    if (!listed->count(n) || !lstat_path(dir / n, st) || !S_ISREG(st.st_mode))
      return {ExistingKind::kNever, "holds " + quoted(n) + ", which ramq did not write; not replacing the directory, "
                                    "even with --force (move that file out first)"};
  }
  return {ExistingKind::kRamqOutput, ""};
}

// The path with symbolic links and "." / ".." resolved as far as it exists.
fs::path resolved(const fs::path& p) {
  std::error_code ec;
  fs::path r = fs::weakly_canonical(fs::absolute(p, ec), ec);
  return ec ? fs::absolute(p).lexically_normal() : r;
}

bool approved(const fs::path& p) {
  struct stat st {};
  if (!lstat_path(p, st)) return false;
  const fs::path r = resolved(p);
  std::lock_guard<std::mutex> lock(g_approvals_mutex);
  for (const auto& a : g_approvals)
    if (a.path == r && a.dev == st.st_dev && a.ino == st.st_ino) return true;
  return false;
}

void approve(const fs::path& p) {
  struct stat st {};
  if (!lstat_path(p, st)) return;
  std::lock_guard<std::mutex> lock(g_approvals_mutex);
  g_approvals.push_back({resolved(p), st.st_dev, st.st_ino});
}

bool is_within(const fs::path& inner, const fs::path& outer) {
  const auto [o, i] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
  return o == outer.end();
}

bool same_inode(const fs::path& a, const fs::path& b) {
  struct stat sa {}, sb {};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// Why output `out` would touch input `in` (both as given), or "".
std::string clash_with_input(const OutputTarget& out, const fs::path& in) {
  std::error_code ec;
  if (!fs::exists(in, ec)) return "";  // its reader reports it
  const fs::path o = resolved(out.path), i = resolved(in);
  if (o == i || same_inode(out.path, in)) return "is " + quoted(in.string()) + ", an input of this run";
  if (is_within(o, i)) return "lies inside " + quoted(in.string()) + ", an input of this run";
  if (is_within(i, o)) return "would replace a directory that holds " + quoted(in.string()) + ", an input of this run";
  return "";
}

[[noreturn]] void refuse(const OutputTarget& t, const std::string& why) {
  throw Error(t.path.string(), "", "output (" + t.option + ") " + why + "; ramq writes nothing");
}

}  // namespace

OutputDirectoryLock::OutputDirectoryLock(const fs::path& dir, bool exclusive) {
  // Best effort: where the directory cannot be opened or the file system has no flock (some
  // network file systems), each output is still moved into place atomically, only not as one
  // unit with its companion against a concurrent run.
  fd_ = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_ < 0) return;
  while (::flock(fd_, exclusive ? LOCK_EX : LOCK_SH) != 0) {
    if (errno == EINTR) continue;
    ::close(fd_);
    fd_ = -1;
    return;
  }
}

OutputDirectoryLock::~OutputDirectoryLock() {
  if (fd_ >= 0) ::close(fd_);
}

ExistingOutput classify_existing_output(const fs::path& path, bool is_directory) {
  struct stat st {};
  if (!lstat_path(path, st)) {
    if (errno == ENOENT) return {ExistingKind::kAbsent, ""};
    return {ExistingKind::kNever, std::string("cannot be examined: ") + std::strerror(errno)};
  }
  if (S_ISLNK(st.st_mode))
    return {ExistingKind::kNever, "is a symbolic link; ramq does not replace links (name the file it points to)"};
  if (S_ISDIR(st.st_mode))
    return is_directory ? classify_directory(path) : ExistingOutput{ExistingKind::kNever, "is a directory"};
  if (!S_ISREG(st.st_mode))
    return {ExistingKind::kNever, "is " + describe_file_type(path, false) + "; ramq writes only regular files"};
  if (is_directory) return {ExistingKind::kNever, "is a file, where an output directory goes"};
  if (is_ramq_file(path)) return {ExistingKind::kRamqOutput, ""};
  return {ExistingKind::kForeignFile, "exists and is not a ramq output (no ramq manifest names it)"};
}

void check_output_targets(const std::vector<OutputTarget>& outputs, const std::vector<fs::path>& inputs, bool force) {
  std::vector<OutputTarget> all;
  for (OutputTarget t : outputs) {
    if (t.path.empty()) continue;
    if (!t.path.has_filename() && t.path.has_parent_path()) t.path = t.path.parent_path();  // "out/" -> "out"
    all.push_back(t);
    if (t.has_sidecar) all.push_back({sidecar_of(t.path), false, false, t.option + ", its manifest"});
  }
  for (std::size_t k = 0; k < all.size(); ++k) {
    const OutputTarget& t = all[k];
    for (const auto& in : inputs)
      if (const std::string why = clash_with_input(t, in); !why.empty()) refuse(t, why + "; ramq never writes over what it reads");
    ExistingOutput now;
    {
      const OutputDirectoryLock lock(t.path.parent_path(), /*exclusive=*/false);
      now = classify_existing_output(t.path, t.is_directory);
    }
    if (now.kind == ExistingKind::kNever) refuse(t, now.why);
    for (std::size_t j = 0; j < k; ++j) {
      const fs::path a = resolved(all[j].path), b = resolved(t.path);
      if (a == b || is_within(a, b) || is_within(b, a))
        refuse(t, "is the same path as, or nested with, the output of " + all[j].option + " (" + all[j].path.string() + ")");
    }
    if (now.kind == ExistingKind::kForeignFile) {
      if (!force) refuse(t, now.why + "; give --force to replace it");
      approve(t.path);
    }
  }
}

void check_replace_at_commit(const fs::path& path, bool is_directory) {
  const ExistingOutput now = classify_existing_output(path, is_directory);
  if (now.kind == ExistingKind::kNever) throw Error(path.string(), "", "output " + now.why);
  if (now.kind == ExistingKind::kForeignFile && !approved(path))
    throw Error(path.string(), "", "output " + now.why + "; not replacing it");
}

}  // namespace ramq
