// `--json` on analyze, plan and quantize: stdout is exactly one JSON object, and its numbers are
// those of the files written (analysis.json, plan.json, the output and its index). Progress goes
// to stderr only: one plain line per tensor with --progress-interval 0, nothing with -q.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "support/run_ramq.h"
#include "support/temp_dir.h"

namespace ramq::testkit {
namespace {

namespace fs = std::filesystem;

// stdout holds one JSON object on one line, and nothing else.
nlohmann::json one_json_object(const RunResult& r) {
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << "not one line: " << r.out;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "stdout is not JSON (" << e.what() << "): " << r.out;
  }
  EXPECT_TRUE(j.is_object());
  return j;
}

nlohmann::json load(const fs::path& p) { return nlohmann::json::parse(slurp(p)); }

std::uint64_t files_bytes_except_manifest(const fs::path& dir) {
  std::uint64_t n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != "ramq-manifest.json") n += e.file_size();
  return n;
}

TEST(JsonSummary, AnalyzeMatchesAnalysisJson) {
  TempDir d;
  const auto j = one_json_object(run_ramq({"-q", "analyze", stories_dir(), "-o", (d / "a.json").string(), "--json"}));
  const auto a = load(d / "a.json");
  EXPECT_EQ(j["command"], "analyze");
  EXPECT_EQ(j["output"], (d / "a.json").string());
  EXPECT_EQ(j["tensors"], a["tensors"].size());
  std::size_t scored = 0;
  for (const auto& t : a["tensors"]) scored += t["scored"].get<bool>() ? 1 : 0;
  EXPECT_GT(scored, 0u);
  EXPECT_EQ(j["scored_tensors"], scored);
  EXPECT_EQ(j["total_params"], a["model"]["total_params"]);
  EXPECT_EQ(j["input_sha256"], a["input_sha256"]);
}

TEST(JsonSummary, PlanMatchesPlanJson) {
  TempDir d;
  ASSERT_EQ(run_ramq({"-q", "analyze", stories_dir(), "-o", (d / "a.json").string()}).status, 0);
  for (const std::string format : {"mlx", "gguf"}) {
    const auto out = d / ("plan-" + format + ".json");
    const auto j = one_json_object(
        run_ramq({"-q", "plan", (d / "a.json").string(), "--format", format, "-o", out.string(), "--json"}));
    const auto p = load(out);
    EXPECT_EQ(j["command"], "plan");
    EXPECT_EQ(j["format"], format);
    EXPECT_EQ(j["policy"], p["policy"]);
    EXPECT_EQ(j["totals"], p["totals"]);
    // The totals themselves add up over the plan's tensors.
    std::uint64_t bytes = 0;
    std::int64_t params = 0;
    for (const auto& t : p["tensors"]) {
      bytes += t["bytes"].get<std::uint64_t>();
      params += t["numel"].get<std::int64_t>();
    }
    EXPECT_EQ(j["totals"]["bytes"], bytes);
    EXPECT_EQ(j["totals"]["params"], params);
  }
}

TEST(JsonSummary, QuantizeMlxMatchesTheWrittenFiles) {
  TempDir d;
  const auto out = d / "out";
  const auto j = one_json_object(run_ramq(
      {"-q", "quantize", stories_dir(), "-o", out.string(), "--save-plan", (d / "plan.json").string(), "--json"}));
  const auto p = load(d / "plan.json");
  EXPECT_EQ(j["command"], "quantize");
  EXPECT_EQ(j["output"], out.string());
  EXPECT_EQ(j["format"], "mlx");
  EXPECT_EQ(j["plan"], p["totals"]);
  const auto& w = j["written"];
  EXPECT_EQ(w["tensor_bytes"], p["totals"]["bytes"]);
  EXPECT_EQ(w["tensor_bytes"], load(out / "model.safetensors.index.json")["metadata"]["total_size"]);
  EXPECT_EQ(w["params"], p["totals"]["params"]);
  EXPECT_EQ(w["file_bytes"], files_bytes_except_manifest(out));
  std::size_t shards = 0;
  for (const auto& e : fs::directory_iterator(out)) shards += e.path().extension() == ".safetensors" ? 1 : 0;
  EXPECT_EQ(w["shards"], shards);
  EXPECT_NEAR(w["average_bits"].get<double>(), p["totals"]["average_bits"].get<double>(), 1e-12);
}

TEST(JsonSummary, QuantizeGgufMatchesTheFile) {
  TempDir d;
  const auto out = d / "m.gguf";
  const auto j = one_json_object(run_ramq({"-q", "quantize", stories_dir(), "--format", "gguf", "-o", out.string(),
                                           "--save-plan", (d / "plan.json").string(), "--json"}));
  const auto p = load(d / "plan.json");
  EXPECT_EQ(j["format"], "gguf");
  EXPECT_EQ(j["plan"], p["totals"]);
  EXPECT_EQ(j["written"]["file_bytes"], fs::file_size(out));
  EXPECT_EQ(j["written"]["params"], p["totals"]["params"]);
}

TEST(JsonSummary, ProgressGoesToStderrOneLinePerTensor) {
  TempDir d;
  // Not quiet, stderr a file (not a terminal): plain lines, one per tensor with interval 0.
  const auto r = run_ramq({"--threads", "1", "--progress-interval", "0", "analyze", stories_dir(), "-o",
                           (d / "a.json").string(), "--json"});
  one_json_object(r);  // stdout is still only the summary
  const auto a = load(d / "a.json");
  const std::size_t n = a["tensors"].size();
  std::set<std::size_t> seen;
  std::size_t lines = 0, done = 0;
  for (std::size_t b = 0; b < r.err.size();) {
    const std::size_t e = r.err.find('\n', b);
    ASSERT_NE(e, std::string::npos) << "unterminated stderr line";
    const std::string line = r.err.substr(b, e - b);
    b = e + 1;
    EXPECT_EQ(line.find('\r'), std::string::npos);
    if (line.rfind("ramq: analyze done: ", 0) == 0) {
      EXPECT_NE(line.find(std::to_string(n) + " tensors"), std::string::npos) << line;
      ++done;
      continue;
    }
    if (line.rfind("ramq: analyze ", 0) != 0) continue;  // other stages (hashing the inputs)
    ++lines;
    const std::size_t count = std::stoul(line.substr(14));
    EXPECT_NE(line.find("/" + std::to_string(n) + " tensors"), std::string::npos) << line;
    EXPECT_TRUE(seen.insert(count).second) << "count " << count << " twice";
  }
  EXPECT_EQ(lines, n);
  EXPECT_EQ(done, 1u);
  EXPECT_EQ(seen.size(), n);
  EXPECT_EQ(*seen.begin(), 1u);
  EXPECT_EQ(*seen.rbegin(), n);
}

TEST(JsonSummary, QuietPrintsNoProgress) {
  TempDir d;
  const auto r = run_ramq({"-q", "--progress-interval", "0", "quantize", stories_dir(), "-o", (d / "out").string(),
                           "--json"});
  one_json_object(r);
  EXPECT_EQ(r.err, "");
}

}  // namespace
}  // namespace ramq::testkit
