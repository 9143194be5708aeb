// `ramq report` with malformed evaluation or manifest JSON: exit status 1, one line on stderr
// naming the file and the field, and no report written.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "report/report_checks.h"
#include "support/run_ramq.h"
#include "support/temp_dir.h"

namespace ramq::testkit {
namespace {

namespace fs = std::filesystem;

class ReportInputs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("ramq-report-inputs");
    const auto r = run_ramq({"-q", "quantize", stories_dir(), "-o", (*dir_ / "out").string()});
    ASSERT_EQ(r.status, 0) << r.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static fs::path write(const std::string& name, const nlohmann::json& j) {
    const fs::path p = *dir_ / name;
    std::ofstream(p) << j.dump(2) << "\n";
    return p;
  }
  static nlohmann::json good_eval() {
    return {{"tokens", 4096},      {"windows", 16},          {"scored_tokens", 4080}, {"mean_nll", 1.4},
            {"ppl", 4.05},         {"median_window_ppl", 4.0}, {"mean_kld", 0.05},    {"median_kld", 0.04},
            {"top1_agreement", 0.9}, {"ppl_reference", 3.85}, {"ppl_ratio", 1.05},   {"ctx", 256},
            {"model", "out"},      {"token_file", "t.u32"}};
  }
  // Runs `ramq report` with extra arguments and expects a clean rejection naming `file` and `field`.
  static void expect_rejected(const std::vector<std::string>& extra, const fs::path& file, const std::string& field) {
    const fs::path html = *dir_ / "rejected.html";
    fs::remove(html);
    std::vector<std::string> args = {"-q", "report", (*dir_ / "out").string(), "-o", html.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = run_ramq(args);
    EXPECT_EQ(r.status, 1) << r.err;
    ASSERT_FALSE(r.err.empty());
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "more than one line: " << r.err;
    EXPECT_EQ(r.err.rfind("ramq: error: " + file.string() + ": ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("'" + field + "'"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(html));
  }
  static fs::path manifest_path() { return *dir_ / "out" / "ramq-manifest.json"; }

  static TempDir* dir_;
};
TempDir* ReportInputs::dir_ = nullptr;

TEST_F(ReportInputs, WellFormedEvalIsAccepted) {
  const auto e = write("eval-good.json", good_eval());
  const auto r = run_ramq({"-q", "report", (*dir_ / "out").string(), "--eval", e.string(), "-o", (*dir_ / "ok.html").string()});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(slurp(*dir_ / "ok.html").find("data-key=\"ppl_ratio\""), std::string::npos);
}

TEST_F(ReportInputs, EvalNumberAsStringIsRejected) {
  auto j = good_eval();
  j["ppl"] = "4.05";
  expect_rejected({"--eval", write("eval-ppl.json", j).string()}, *dir_ / "eval-ppl.json", "ppl");
}

TEST_F(ReportInputs, EvalOptionalFieldOfWrongTypeIsRejected) {
  auto j = good_eval();
  j["top1_agreement"] = nlohmann::json::array({0.9});
  expect_rejected({"--eval", write("eval-top1.json", j).string()}, *dir_ / "eval-top1.json", "top1_agreement");
  j = good_eval();
  j["windows"] = 16.5;
  expect_rejected({"--eval", write("eval-windows.json", j).string()}, *dir_ / "eval-windows.json", "windows");
}

TEST_F(ReportInputs, EvalMissingRequiredFieldIsRejected) {
  auto j = good_eval();
  j.erase("median_window_ppl");
  expect_rejected({"--eval", write("eval-missing.json", j).string()}, *dir_ / "eval-missing.json", "median_window_ppl");
}

TEST_F(ReportInputs, ManifestFieldsOfWrongTypeAreRejected) {
  const auto real = load_json(manifest_path());
  ASSERT_TRUE(real.contains("tensors") && !real["tensors"].empty());
  auto j = real;
  j["tensors"][0]["bits"] = "4";
  expect_rejected({"--manifest", write("m-bits.json", j).string()}, *dir_ / "m-bits.json", "tensors[0].bits");
  j = real;
  j["tensors"][1]["scores"] = {{"s_svd", 0.1}, {"s_kurt", 0.1}, {"s_out", 0.1}, {"s_err", 0.1}, {"S", "high"}};
  expect_rejected({"--manifest", write("m-score.json", j).string()}, *dir_ / "m-score.json", "tensors[1].scores.S");
  j = real;
  j["plan"]["total_bytes"] = -5;
  expect_rejected({"--manifest", write("m-total.json", j).string()}, *dir_ / "m-total.json", "plan.total_bytes");
  j = real;
  j["inputs"][0]["sha256"] = 12;
  expect_rejected({"--manifest", write("m-inputs.json", j).string()}, *dir_ / "m-inputs.json", "inputs");
}

TEST_F(ReportInputs, OtherJsonAsManifestIsRejected) {
  const auto plan = write("not-a-manifest.json", {{"format", "mlx"}, {"tensors", nlohmann::json::array()}});
  expect_rejected({"--manifest", plan.string()}, plan, "kind");
}

TEST_F(ReportInputs, BrokenManifestBesideTheOutputIsRejected) {
  // The manifest found beside the output is checked too.
  TempDir d("ramq-report-beside");
  const auto q = run_ramq({"-q", "quantize", stories_dir(), "-o", (d / "out").string()});
  ASSERT_EQ(q.status, 0) << q.err;
  auto j = load_json(d / "out" / "ramq-manifest.json");
  j["command_line"] = "ramq quantize";
  std::ofstream(d / "out" / "ramq-manifest.json") << j.dump(2);
  const auto r = run_ramq({"-q", "report", (d / "out").string(), "-o", (d / "r.html").string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find((d / "out" / "ramq-manifest.json").string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'command_line'"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(d / "r.html"));
}

}  // namespace
}  // namespace ramq::testkit
