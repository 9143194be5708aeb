// Test support: runs the ramq binary on a deliberately bad input and checks that it fails the
// way the README promises: exit status 1, exactly one line on stderr ("ramq: error: ...") naming
// the file and the problem, nothing left under the output name, no hidden temporary left behind,
// and (being one line) no sanitizer report.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "support/run_ramq.h"

namespace ramq::testkit {

struct BadInput {
  std::string label;
  // Writes the broken input into `dir`, a fresh empty directory.
  std::function<void(const std::filesystem::path& dir)> make;
  // Substrings of the error line; a leading "$DIR" stands for `dir`.
  std::vector<std::string> expect;
  // The command line (without "ramq"); `out` is the output path that must not appear. Default:
  // quantize_args below.
  std::function<std::vector<std::string>(const std::filesystem::path& dir, const std::filesystem::path& out)> args = nullptr;
};

// `ramq quantize DIR --format mlx -o OUT`.
inline std::vector<std::string> quantize_args(const std::filesystem::path& dir, const std::filesystem::path& out) {
  return {"quantize", dir.string(), "--format", "mlx", "-o", out.string()};
}

inline void expect_clean_failure(const BadInput& c) {
  namespace fs = std::filesystem;
  TempDir tmp("cli-bad");
  const fs::path dir = tmp / "input";
  fs::create_directories(dir);
  c.make(dir);
  const fs::path out = tmp / "out";
  const auto r = run_ramq(c.args ? c.args(dir, out) : quantize_args(dir, out));
  EXPECT_EQ(r.status, 1) << c.label << ": " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << c.label << ": stderr must be one line: " << r.err;
  EXPECT_EQ(r.err.rfind("ramq: error: ", 0), 0u) << c.label << ": " << r.err;
  for (std::string want : c.expect) {
    if (want.rfind("$DIR", 0) == 0) want = dir.string() + want.substr(4);
    EXPECT_NE(r.err.find(want), std::string::npos) << c.label << ": '" << want << "' not in: " << r.err;
  }
  EXPECT_FALSE(fs::exists(out)) << c.label << ": output left behind";
  EXPECT_FALSE(fs::exists(out.string() + ".ramq-manifest.json")) << c.label << ": manifest left behind";
  for (const auto& e : fs::recursive_directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename().string().find("ramq-tmp"), std::string::npos) << c.label << ": temporary left: " << e.path();
}

}  // namespace ramq::testkit
