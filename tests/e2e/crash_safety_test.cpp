// Crash safety: ramq killed with SIGKILL at random (seeded) moments while it writes never leaves a
// partial output under the final name, and the next run succeeds (and removes the hidden
// temporaries of the killed runs). Writing to a full file system fails cleanly.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <map>
#include <random>
#include <thread>

#include "support/run_ramq.h"
#include "support/synthetic_llama.h"

namespace fs = std::filesystem;
using namespace ramq::testkit;

namespace {

// Every file under `p` (a directory, recursively) or `p` itself, by relative name.
std::map<std::string, std::string> contents(const fs::path& p) {
  std::map<std::string, std::string> m;
  if (fs::is_directory(p)) {
    for (const auto& e : fs::recursive_directory_iterator(p))
      if (e.is_regular_file()) m[fs::relative(e.path(), p).string()] = slurp(e.path());
  } else {
    m[""] = slurp(p);
  }
  return m;
}

pid_t spawn_ramq(const std::vector<std::string>& args) {
  std::vector<std::string> argv_s = {RAMQ_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!std::freopen("/dev/null", "w", stdout) || !std::freopen("/dev/null", "w", stderr)) ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

std::vector<std::string> visible_entries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().front() != '.') out.push_back(e.path().filename().string());
  return out;
}

// True once process `pid` has created the hidden temporary of an output (".NAME.ramq-tmp-PID")
// in `dir`: its write stage has begun. (Temporaries of earlier, killed runs carry their PIDs.)
bool writing_started(const fs::path& dir, pid_t pid) {
  const std::string tag = "ramq-tmp-" + std::to_string(pid);
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    const std::size_t at = name.find(tag);
    if (at != std::string::npos && (at + tag.size() == name.size() || !std::isdigit(static_cast<unsigned char>(name[at + tag.size()]))))
      return true;
  }
  return false;
}

// Starts `args` and returns once its write stage has begun (or the process has exited: then
// `exited` is set and `status` holds its wait status).
pid_t spawn_until_writing(const fs::path& work, const std::vector<std::string>& args, bool& exited, int& status) {
  exited = false;
  const pid_t pid = spawn_ramq(args);
  while (!writing_started(work, pid)) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return pid;
}

// Kills `trials` runs of `args` while they write: each run is killed at a seeded random moment
// between the appearance of its temporary output and the write time of a complete run. A run that
// completes before its kill does not count (the window it drew from is halved for the next one,
// so a machine slower or busier now than during the reference run still gets its kills), up to
// 3 x `trials` runs. After each, `out` (and its sidecar manifest, for a file) is either absent or
// complete.
void kill_during_writes(const fs::path& work, const std::vector<std::string>& args, const fs::path& out,
                        const std::vector<fs::path>& outputs, int trials, std::uint64_t seed) {
  // Reference: one complete run; the time from the start of its write stage to its end.
  bool exited = false;
  int ref_status = 0;
  const pid_t ref_pid = spawn_until_writing(work, args, exited, ref_status);
  const auto t0 = std::chrono::steady_clock::now();
  if (!exited) ::waitpid(ref_pid, &ref_status, 0);
  const double full_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(WIFEXITED(ref_status) && WEXITSTATUS(ref_status) == 0) << "reference run failed";
  std::map<fs::path, std::map<std::string, std::string>> reference;
  for (const auto& o : outputs) reference[o] = contents(o);
  for (const auto& o : outputs) fs::remove_all(o);

  std::mt19937_64 rng(seed);
  double window_ms = full_ms;
  int killed_mid_run = 0, completed = 0;
  for (int trial = 0; trial < 3 * trials && killed_mid_run < trials; ++trial) {
    const auto delay = std::chrono::microseconds(static_cast<long>(std::uniform_real_distribution<double>(0.0, 1.0)(rng) * window_ms * 1000));
    int st = 0;
    const pid_t pid = spawn_until_writing(work, args, exited, st);
    if (exited) {  // finished before the poll saw its temporary
      ++completed;
      continue;
    }
    std::this_thread::sleep_for(delay);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
      ++killed_mid_run;
    } else {
      ++completed;
      window_ms /= 2;
    }
    // Each output is either absent or exactly the complete reference; never partial.
    for (const auto& o : outputs) {
      if (fs::exists(o)) {
        EXPECT_TRUE(contents(o) == reference[o]) << "trial " << trial << ": partial or wrong " << o;
      }
    }
    // Nothing else visible appears beside the output (the hidden temporary may stay).
    for (const auto& n : visible_entries(work))
      EXPECT_TRUE(fs::path(work / n) == out || std::find(outputs.begin(), outputs.end(), work / n) != outputs.end() ||
                  n == "model")
          << "trial " << trial << ": unexpected " << n;
  }
  std::printf("%d runs killed while writing, %d completed first (writing takes %.0f ms)\n", killed_mid_run, completed,
              full_ms);
  EXPECT_EQ(killed_mid_run, trials);
  // A re-run succeeds, gives the reference output, and leaves no temporaries of the killed runs.
  const auto r = run_ramq(args);
  ASSERT_EQ(r.status, 0) << r.err;
  for (const auto& o : outputs) EXPECT_TRUE(contents(o) == reference[o]) << o;
  for (const auto& e : fs::directory_iterator(work))
    EXPECT_EQ(e.path().filename().string().find("ramq-tmp"), std::string::npos) << "left behind: " << e.path();
  EXPECT_EQ(run_ramq({"verify", out.string()}).status, 0);
}

void write_test_model(const fs::path& dir) {
  SyntheticLlama s;  // 8 layers of 256 x 512: about 4 M parameters, several MB to write
  write_synthetic_llama(dir, s);
}

}  // namespace

TEST(CrashSafety, SigkillWhileWritingMlx) {
  TempDir tmp("crash-mlx");
  write_test_model(tmp / "model");
  const fs::path out = tmp / "out";
  kill_during_writes(tmp.path(), {"quantize", (tmp / "model").string(), "--policy", "uniform", "-o", out.string()}, out,
                     {out}, 20, 20240607);
}

TEST(CrashSafety, SigkillWhileWritingGguf) {
  TempDir tmp("crash-gguf");
  write_test_model(tmp / "model");
  const fs::path out = tmp / "m.gguf";
  kill_during_writes(tmp.path(),
                     {"quantize", (tmp / "model").string(), "--format", "gguf", "--policy", "uniform", "-o", out.string()},
                     out, {out, fs::path(out.string() + ".ramq-manifest.json")}, 20, 77);
}

TEST(CrashSafety, FullFileSystemFailsCleanly) {
  TempDir tmp("crash-full");
  const fs::path mnt = tmp / "small";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=192k") != 0) {
    const char* allow = std::getenv("RAMQ_ALLOW_NO_ROOT");
    if (allow && std::string(allow) == "1")
      GTEST_SKIP() << "cannot mount a small tmpfs (" << std::strerror(errno) << "; needs root): full-disk test skipped";
    FAIL() << "cannot mount a small tmpfs (" << std::strerror(errno)
           << "): this test needs root (CI runs as root); set RAMQ_ALLOW_NO_ROOT=1 to skip it";
  }
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  // stories260K's outputs (about 0.3 MB for MLX and GGUF) do not fit in 192 KiB.
  for (const std::string format : {"mlx", "gguf"}) {
    const fs::path out = mnt / ("out-" + format);
    const auto r = run_ramq({"quantize", stories_dir(), "--format", format, "--policy", "uniform", "-o", out.string()});
    EXPECT_EQ(r.status, 1) << format << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.rfind("ramq: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(mnt.string()), std::string::npos) << "the error must name the file: " << r.err;
    EXPECT_TRUE(fs::is_empty(mnt)) << format << ": something was left on the full file system";
  }
}
