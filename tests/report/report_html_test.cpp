// The HTML report of the example model, checked structurally against the plan.json and
// analysis.json it was made from: `ramq report` on an MLX directory and on a GGUF file,
// `ramq quantize --report`, and a report with evaluation results.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "report/report_checks.h"
#include "support/run_ramq.h"
#include "support/temp_dir.h"
#include "support/xml_lite.h"

namespace ramq::testkit {
namespace {

namespace fs = std::filesystem;

class ReportHtml : public ::testing::Test {
 protected:
  // One quantization of each kind for the whole suite (each takes well under a second).
  static void SetUpTestSuite() {
    dir_ = new TempDir("ramq-report");
    const TempDir& d = *dir_;
    const auto m = run_ramq({"-q", "quantize", stories_dir(), "-o", (d / "mlx").string(), "--save-analysis",
                             (d / "mlx-analysis.json").string(), "--save-plan", (d / "mlx-plan.json").string(),
                             "--report", (d / "quantize-report.html").string()});
    ASSERT_EQ(m.status, 0) << m.err;
    const auto g = run_ramq({"-q", "quantize", stories_dir(), "--format", "gguf", "-o", (d / "model.gguf").string(),
                             "--save-analysis", (d / "gguf-analysis.json").string(), "--save-plan",
                             (d / "gguf-plan.json").string()});
    ASSERT_EQ(g.status, 0) << g.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static fs::path path(const std::string& name) { return *dir_ / name; }

  static TempDir* dir_;
};
TempDir* ReportHtml::dir_ = nullptr;

TEST_F(ReportHtml, MlxReportMatchesPlanAndAnalysis) {
  const auto html = path("mlx-report.html");
  const auto r = run_ok({"-q", "report", path("mlx").string(), "--analysis", path("mlx-analysis.json").string(), "--plan",
                         path("mlx-plan.json").string(), "-o", html.string()});
  const auto plan = load_json(path("mlx-plan.json"));
  const auto analysis = load_json(path("mlx-analysis.json"));
  const auto doc = check_report(html, plan, &analysis);
  ASSERT_NE(doc, nullptr);
  // The manifest beside the output is found and shown.
  const XmlNode* manifest = doc->find_id("manifest-table");
  ASSERT_NE(manifest, nullptr);
  EXPECT_NE(manifest->all_text().find("ramq-manifest"), std::string::npos);
  // Without --eval the quality section says how to get it.
  EXPECT_EQ(doc->find_id("eval-table"), nullptr);
  EXPECT_NE(r.out.find(std::to_string(plan["totals"]["quantized_tensors"].get<int>()) + " quantized"), std::string::npos)
      << r.out;
}

TEST_F(ReportHtml, QuantizeReportFlagWritesTheSameChecks) {
  const auto plan = load_json(path("mlx-plan.json"));
  const auto analysis = load_json(path("mlx-analysis.json"));
  ASSERT_NE(check_report(path("quantize-report.html"), plan, &analysis), nullptr);
}

TEST_F(ReportHtml, QuantizeReportJsonNamesTheReport) {
  TempDir d("ramq-report-json");
  const auto r = run_ok({"-q", "quantize", stories_dir(), "-o", (d / "out").string(), "--save-plan",
                         (d / "plan.json").string(), "--report", (d / "r.html").string(), "--json"});
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["report"], (d / "r.html").string());
  ASSERT_NE(check_report(d / "r.html", load_json(d / "plan.json"), nullptr), nullptr);
}

TEST_F(ReportHtml, GgufReportMatchesPlanAndAnalysis) {
  const auto html = path("gguf-report.html");
  run_ok({"-q", "report", path("model.gguf").string(), "--analysis", path("gguf-analysis.json").string(), "--plan",
          path("gguf-plan.json").string(), "-o", html.string()});
  const auto plan = load_json(path("gguf-plan.json"));
  const auto analysis = load_json(path("gguf-analysis.json"));
  ASSERT_EQ(plan["format"], "gguf");
  ASSERT_NE(check_report(html, plan, &analysis), nullptr);
}

TEST_F(ReportHtml, PlanAloneIsEnough) {
  const auto html = path("plan-only.html");
  run_ok({"-q", "report", "--plan", path("mlx-plan.json").string(), "-o", html.string()});
  const auto doc = check_report(html, load_json(path("mlx-plan.json")), nullptr);
  ASSERT_NE(doc, nullptr);
  // No analysis: the scatter is replaced by a note, and no point claims a predicted error.
  const XmlNode* rd = doc->find_id("rd");
  ASSERT_NE(rd, nullptr);
  EXPECT_TRUE(elements(*rd, "svg", "scatter").empty());
}

TEST_F(ReportHtml, EvalNumbersAppear) {
  const auto eval = run_ok({"-q", "eval", path("mlx").string(), "--reference", stories_dir(), "--tokens",
                            shared_dir() + "/data/stories260K/tinystories_sample.u32", "--json"});
  const auto ej = nlohmann::json::parse(eval.out);
  {
    std::FILE* f = std::fopen(path("eval.json").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(eval.out.c_str(), f);
    std::fclose(f);
  }
  const auto html = path("eval-report.html");
  run_ok({"-q", "report", path("mlx").string(), "--analysis", path("mlx-analysis.json").string(), "--eval",
          path("eval.json").string(), "-o", html.string()});
  const auto doc = check_report(html, load_json(path("mlx-plan.json")), nullptr);
  ASSERT_NE(doc, nullptr);
  const XmlNode* table = doc->find_id("eval-table");
  ASSERT_NE(table, nullptr);
  std::map<std::string, const XmlNode*> cells;
  for (const XmlNode* c : table->find_all([](const XmlNode& n) { return n.attr("data-key") != nullptr; }))
    cells[*c->attr("data-key")] = c;
  for (const char* key : {"ppl", "median_window_ppl", "ppl_reference", "ppl_ratio", "mean_kld", "median_kld",
                          "top1_agreement"}) {
    ASSERT_TRUE(ej.contains(key)) << key;
    ASSERT_TRUE(cells.count(key)) << "no " << key << " in the report";
    const double want = ej[key].get<double>();
    EXPECT_NEAR(std::stod(attr_or_empty(*cells[key], "data-value")), want, 1e-12 * std::abs(want)) << key;
    // The shown text is the same number (top-1 as a percentage), to its printed precision.
    const double shown = std::stod(cells[key]->all_text()) / (std::string(key) == "top1_agreement" ? 100.0 : 1.0);
    EXPECT_NEAR(shown, want, 1e-3 * std::abs(want)) << key << ": " << cells[key]->all_text();
  }
  // Sanity against REFERENCE.md's order of magnitude: a 4-bit model agrees on most tokens.
  EXPECT_GT(ej["top1_agreement"].get<double>(), 0.5);
}

TEST_F(ReportHtml, DeterministicBytes) {
  const auto a = path("det-a.html"), b = path("det-b.html");
  for (const auto& out : {a, b})
    run_ok({"-q", "report", path("mlx").string(), "--analysis", path("mlx-analysis.json").string(), "-o", out.string()});
  EXPECT_EQ(slurp(a), slurp(b));
}

}  // namespace
}  // namespace ramq::testkit
