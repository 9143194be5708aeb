// Crash safety: ramq killed with SIGKILL at random (seeded) moments while it writes never leaves a
// partial output under the final name, and the next run succeeds (and removes the hidden
// temporaries of the killed runs). Writing to a full file system fails cleanly.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
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

// Kills `trials` runs of `args` at seeded random moments within the duration of a full run and
// checks `out` (and its sidecar manifest, for a file) after each.
void kill_during_writes(const fs::path& work, const std::vector<std::string>& args, const fs::path& out,
                        const std::vector<fs::path>& outputs, int trials, std::uint64_t seed) {
  // Reference: one complete run, timed.
  const auto t0 = std::chrono::steady_clock::now();
  const auto ref_run = run_ramq(args);
  const double full_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(ref_run.status, 0) << ref_run.err;
  std::map<fs::path, std::map<std::string, std::string>> reference;
  for (const auto& o : outputs) reference[o] = contents(o);
  for (const auto& o : outputs) fs::remove_all(o);

  std::mt19937_64 rng(seed);
  int killed_mid_run = 0, completed = 0;
  for (int trial = 0; trial < trials; ++trial) {
    const auto delay = std::chrono::microseconds(static_cast<long>(std::uniform_real_distribution<double>(0.05, 1.1)(rng) * full_ms * 1000));
    const pid_t pid = spawn_ramq(args);
    std::this_thread::sleep_for(delay);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    (WIFSIGNALED(status) ? killed_mid_run : completed)++;
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
  std::printf("%d of %d runs killed mid-run (a full run takes %.0f ms)\n", killed_mid_run, trials, full_ms);
  EXPECT_GE(killed_mid_run, trials / 2);
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
                     out, {out, fs::path(out.string() + ".ramq-manifest.json")}, 10, 77);
}

TEST(CrashSafety, FullFileSystemFailsCleanly) {
  TempDir tmp("crash-full");
  const fs::path mnt = tmp / "small";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=192k") != 0)
    GTEST_SKIP() << "cannot mount a small tmpfs (" << std::strerror(errno) << "; needs root): full-disk test skipped";
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
