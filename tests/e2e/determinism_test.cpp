// The same input gives byte-identical analysis.json, plan.json and model files, whatever the
// thread count.
#include <gtest/gtest.h>

#include "support/run_ramq.h"

using namespace ramq::testkit;

namespace {
std::map<std::string, std::string> files_of(const std::filesystem::path& dir) {
  std::map<std::string, std::string> m;
  for (const auto& e : std::filesystem::directory_iterator(dir)) m[e.path().filename().string()] = slurp(e.path());
  return m;
}
}  // namespace

TEST(Determinism, OneAndTwoThreadsGiveIdenticalBytes) {
  TempDir tmp("determinism");
  std::map<std::string, std::string> first;
  for (const char* threads : {"1", "2", "1"}) {
    // The same paths every run: the audit manifest (compared too) records the command line.
    const auto run_dir = tmp / "run";
    std::filesystem::remove_all(run_dir);
    std::filesystem::create_directories(run_dir);
    auto r = run_ramq({"--threads", threads, "quantize", stories_dir(), "-o", (run_dir / "out").string(),
                       "--save-analysis", (run_dir / "analysis.json").string(), "--save-plan",
                       (run_dir / "plan.json").string()});
    ASSERT_EQ(r.status, 0) << r.err;
    auto files = files_of(run_dir / "out");
    files["analysis.json"] = slurp(run_dir / "analysis.json");
    files["plan.json"] = slurp(run_dir / "plan.json");
    ASSERT_GE(files.size(), 6u);  // config, index, model, manifest, analysis, plan
    ASSERT_TRUE(files.count("ramq-manifest.json"));
    if (first.empty()) {
      first = files;
      continue;
    }
    ASSERT_EQ(files.size(), first.size());
    for (const auto& [name, bytes] : files) EXPECT_TRUE(bytes == first[name]) << name << " differs with --threads " << threads;
  }
}
