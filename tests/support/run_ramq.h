// Test support: run the ramq binary as a user would and capture exit status, stdout and stderr.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace ramq::testkit {

struct RunResult {
  int status = -1;  // exit status, or 128 + signal
  std::string out;
  std::string err;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs a program with the given arguments (no shell involved), in directory `cwd` if given.
inline RunResult run_program(const std::string& exe, const std::vector<std::string>& args,
                             const std::filesystem::path& cwd = {}) {
  static std::atomic<int> counter{0};
  const auto base = std::filesystem::temp_directory_path() /
                    ("ramq-run-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  const std::string out_file = base.string() + ".out", err_file = base.string() + ".err";
  std::vector<std::string> argv_s = {exe};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);  // the child must not inherit (and print again) unflushed output
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!std::freopen(out_file.c_str(), "w", stdout) || !std::freopen(err_file.c_str(), "w", stderr)) ::_exit(126);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(125);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int wstatus = 0;
  ::waitpid(pid, &wstatus, 0);
  RunResult r;
  r.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  r.out = slurp(out_file);
  r.err = slurp(err_file);
  std::filesystem::remove(out_file);
  std::filesystem::remove(err_file);
  return r;
}

inline RunResult run_ramq(const std::vector<std::string>& args) { return run_program(RAMQ_BINARY, args); }

inline std::string shared_dir() { return RAMQ_SHARED_DIR; }
inline std::string stories_dir() { return shared_dir() + "/models/stories260K"; }

}  // namespace ramq::testkit
