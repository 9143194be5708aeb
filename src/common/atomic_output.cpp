#include "ramq/atomic_output.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>

#include "ramq/error.h"
#include "ramq/output_path.h"

namespace fs = std::filesystem;

namespace ramq {

namespace {

// ---------------------------------------------------------------------------------------------
// Registry of live temporaries for the signal handler: fixed-size, plain char arrays, guarded by
// lock-free atomics (state 0 = free, 1 = being filled, 2 = live), so the handler never allocates
// or takes a lock.
//
// Limitation: the handler deletes a registered temporary file, or a registered temporary
// directory together with the entries directly inside it (MLX outputs are flat). Anything nested
// deeper, or a file another thread creates while the handler runs, can leave the hidden
// ".NAME.ramq-tmp-PID" behind; it never appears under the final name.
constexpr int kSlots = 32;
constexpr std::size_t kPathMax = 4096;
struct Slot {
  std::atomic<int> state{0};
  char path[kPathMax];
};
Slot g_slots[kSlots];
std::atomic<bool> g_handlers_installed{false};

void register_temp(const fs::path& p) {
  const std::string s = p.string();
  if (s.size() + 1 > kPathMax) return;  // too long to register: not removed on a signal
  for (auto& slot : g_slots) {
    int expected = 0;
    if (slot.state.compare_exchange_strong(expected, 1)) {
      std::memcpy(slot.path, s.c_str(), s.size() + 1);
      slot.state.store(2);
      return;
    }
  }
}

void unregister_temp(const fs::path& p) {
  const std::string s = p.string();
  for (auto& slot : g_slots) {
    if (slot.state.load() == 2 && std::strcmp(slot.path, s.c_str()) == 0) {
      slot.state.store(0);
      return;
    }
  }
}

bool is_dot_entry(const char* n) { return n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0')); }

// Async-signal-safe removal: open/getdents64/unlinkat/close/rmdir/unlink only.
void remove_path_signal_safe(const char* p) {
  const int fd = ::open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    ::unlink(p);
    return;
  }
  alignas(8) char buf[4096];
  for (int pass = 0; pass < 8; ++pass) {
    bool removed_any = false;
    ::lseek(fd, 0, SEEK_SET);
    for (;;) {
      const long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
      if (n <= 0) break;
      // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
      for (long off = 0; off < n;) {
        unsigned short reclen = 0;
        std::memcpy(&reclen, buf + off + 16, sizeof reclen);
        const char* name = buf + off + 19;
        if (!is_dot_entry(name)) {
          if (::unlinkat(fd, name, 0) == 0 || ::unlinkat(fd, name, AT_REMOVEDIR) == 0) removed_any = true;
        }
        if (reclen == 0) break;
        off += reclen;
      }
    }
    if (!removed_any) break;
  }
  ::close(fd);
  ::rmdir(p);
}

extern "C" void ramq_cleanup_signal_handler(int sig) {
  for (auto& slot : g_slots)
    if (slot.state.load() == 2) remove_path_signal_safe(slot.path);
  ::_exit(128 + sig);
}

// Blocks the cleanup signals on the calling thread for the lifetime of the object, so that a
// commit (two renames for directories) is not cut in half by an interrupt.
class SignalBlock {
 public:
  SignalBlock() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~SignalBlock() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  SignalBlock(const SignalBlock&) = delete;
  SignalBlock& operator=(const SignalBlock&) = delete;

 private:
  sigset_t set_{};
  sigset_t old_{};
};

// Removes hidden leftovers of `name` from processes that no longer run: ".NAME.ramq-tmp-PID"
// (a run killed with SIGKILL, or a crash) and ".NAME.ramq-old-PID" (killed in the middle of
// replacing a directory). A PID that is alive (even if reused by another program) is left alone.
void remove_stale_leftovers(const fs::path& parent, const std::string& name) {
  std::error_code ec;
  const fs::path dir = parent.empty() ? fs::path(".") : parent;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    for (const char* kind : {".ramq-tmp-", ".ramq-old-"}) {
      const std::string prefix = "." + name + kind;
      if (n.size() <= prefix.size() || n.compare(0, prefix.size(), prefix) != 0) continue;
      const std::string digits = n.substr(prefix.size());
      if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
      const pid_t pid = static_cast<pid_t>(std::stol(digits));
      if (pid <= 0 || pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
      std::error_code rm;
      fs::remove_all(it->path(), rm);
    }
  }
}

}  // namespace

void install_cleanup_signal_handlers() {
  bool expected = false;
  if (!g_handlers_installed.compare_exchange_strong(expected, true)) return;
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;  // e.g. nohup
    struct sigaction sa {};
    sa.sa_handler = ramq_cleanup_signal_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(sig, &sa, nullptr);
  }
}

AtomicOutput::AtomicOutput(fs::path final_path, bool is_directory)
    : final_(std::move(final_path)), is_dir_(is_directory) {
  if (!final_.has_filename() && final_.has_parent_path()) final_ = final_.parent_path();  // "out/" -> "out"
  const std::string name = final_.filename().string();
  if (name.empty() || name == "." || name == "..")
    throw Error(final_.string(), "", "not a usable output path (it needs a final name)");
  std::error_code ec;
  const fs::path parent = final_.parent_path();
  if (!parent.empty()) {
    fs::create_directories(parent, ec);
    if (ec) throw Error(parent.string(), "", "cannot create output directory: " + ec.message());
  }
  remove_stale_leftovers(parent, name);
  temp_ = parent / ("." + name + ".ramq-tmp-" + std::to_string(::getpid()));
  fs::remove_all(temp_, ec);  // stale leftover of a dead process that had the same pid
  if (is_dir_) {
    fs::create_directory(temp_, ec);
    if (ec) throw Error(temp_.string(), "", "cannot create temporary output directory: " + ec.message());
  }
  registered_ = fs::absolute(temp_, ec);
  register_temp(registered_);
}

AtomicOutput::~AtomicOutput() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(temp_, ec);
  unregister_temp(registered_);
}

void AtomicOutput::attach(std::unique_ptr<AtomicOutput> companion) {
  if (companion && companion->final_.parent_path() != final_.parent_path())
    throw std::logic_error("AtomicOutput::attach: a companion must be in the same directory");
  companion_ = std::move(companion);
}

void AtomicOutput::commit() {
  if (committed_) throw std::logic_error("AtomicOutput::commit called twice");
  SignalBlock block;
  OutputDirectoryLock lock(final_.parent_path(), /*exclusive=*/true);
  check_replace_at_commit(final_, is_dir_);
  if (companion_) {
    check_replace_at_commit(companion_->final_, companion_->is_dir_);
    // Never leave an older companion (a manifest) beside the new output: removed first, so a
    // crash between the renames leaves the output without one, never with another run's.
    std::error_code ec;
    fs::remove(companion_->final_, ec);
  }
  move_into_place();
  if (companion_) companion_->move_into_place();
}

void AtomicOutput::move_into_place() {
  std::error_code ec;
  const auto tst = fs::symlink_status(temp_, ec);
  if (!fs::exists(tst) || fs::is_directory(tst) != is_dir_)
    throw Error(final_.string(), "", "the output was not written (temporary " + temp_.string() + " missing)");
  const bool final_exists = fs::exists(fs::symlink_status(final_, ec));
  if (!is_dir_ || !final_exists) {
    fs::rename(temp_, final_, ec);  // atomic replace of an existing file
    if (ec) throw Error(final_.string(), "", "cannot move the output into place: " + ec.message());
  } else {
    const fs::path aside =
        final_.parent_path() / ("." + final_.filename().string() + ".ramq-old-" + std::to_string(::getpid()));
    fs::remove_all(aside, ec);
    fs::rename(final_, aside, ec);
    if (ec) throw Error(final_.string(), "", "cannot move the existing output aside: " + ec.message());
    fs::rename(temp_, final_, ec);
    if (ec) {
      std::error_code ec2;
      fs::rename(aside, final_, ec2);  // put the old output back
      throw Error(final_.string(), "", "cannot move the output into place: " + ec.message());
    }
    fs::remove_all(aside, ec);  // best effort: the new output is already in place
  }
  committed_ = true;
  unregister_temp(registered_);
}

}  // namespace ramq
