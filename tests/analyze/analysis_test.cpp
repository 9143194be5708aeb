// analyze stage orchestration: which tensors are scored, expert stacking, determinism across
// thread counts, analysis.json round trip.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <tuple>

#include "ramq/analysis.h"
#include "ramq/options.h"
#include "ramq/plan.h"
#include "ramq/error.h"
#include "ramq/rng.h"
#include "support/safetensors_builder.h"

using namespace ramq;
using namespace ramq::testkit;

namespace {
std::vector<float> gaussian(std::size_t n, std::uint64_t seed, double scale = 0.02) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(r.normal() * scale);
  return v;
}

struct SmallModel {
  TempDir dir;
  std::vector<float> experts, dense;
  SmallModel() {
    experts = gaussian(8 * 16 * 128, 1);
    dense = gaussian(64 * 128, 2);
    experts[3 * 16 * 128 + 5] = 1.5f;  // an outlier in an expert that is NOT sampled (index 3)
    SafetensorsBuilder b;
    b.add("model.layers.0.mlp.experts.down_proj", DType::F32, {8, 16, 128}, experts)
        .add("model.layers.0.self_attn.q_proj.weight", DType::F32, {64, 128}, dense)
        .add("model.layers.0.input_layernorm.weight", DType::F32, {128}, std::vector<float>(128, 1.0f))
        .add("model.layers.0.small.weight", DType::F32, {8, 64}, gaussian(512, 3));
    write_model(dir.path(), b);
  }
};
}  // namespace

TEST(Analysis, ExpertIndicesAreRoundedLinspace) {
  EXPECT_EQ(scored_expert_indices(8), (std::vector<std::int64_t>{0, 2, 5, 7}));  // 0, 2.33, 4.67, 7
  EXPECT_EQ(scored_expert_indices(128), (std::vector<std::int64_t>{0, 42, 85, 127}));
  EXPECT_EQ(scored_expert_indices(4), (std::vector<std::int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(scored_expert_indices(1), (std::vector<std::int64_t>{0}));  // duplicates collapse
}

TEST(Analysis, ScoresUseDocumentedNormalisations) {
  RawMetrics raw;
  raw.concentration = 0.5;  // (0.5 - 0.1) / 0.8 = 0.5
  raw.kurtosis = 3.0;       // 0.3
  raw.noise_amp = 1.0;      // (0 + 2) / 3
  raw.nrmse = 0.0275;       // (0.0275 - 0.005) / 0.045 = 0.5
  const SwanScores s = swan_scores(raw, SwanPolicyOptions{});
  EXPECT_NEAR(s.s_svd, 0.5, 1e-12);
  EXPECT_NEAR(s.s_kurt, 0.3, 1e-12);
  EXPECT_NEAR(s.s_out, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(s.s_err, 0.5, 1e-12);
  EXPECT_NEAR(s.composite, 0.20 * 0.5 + 0.45 * 0.3 + 0.15 * 2.0 / 3.0 + 0.20 * 0.5, 1e-12);
}

TEST(Analysis, ScoresWhatItShouldAndStacksSampledExperts) {
  SmallModel m;
  ModelReader reader(m.dir.path());
  Options opt;
  const ModelAnalysis a = analyze_model(reader, opt);
  ASSERT_EQ(a.tensors.size(), 4u);
  EXPECT_EQ(a.total_params, 8 * 16 * 128 + 64 * 128 + 128 + 512);
  std::map<std::string, const TensorAnalysis*> by;
  for (const auto& t : a.tensors) by[t.name] = &t;
  EXPECT_FALSE(by["model.layers.0.input_layernorm.weight"]->scored);
  EXPECT_EQ(by["model.layers.0.input_layernorm.weight"]->skip_reason, "1-D tensor");
  EXPECT_FALSE(by["model.layers.0.small.weight"]->scored);  // 512 < 1024 elements
  ASSERT_TRUE(by["model.layers.0.mlp.experts.down_proj"]->scored);

  // The expert tensor is scored as experts {0, 2, 5, 7} stacked to (64, 128): build that matrix
  // here and compare with the metric functions called directly.
  std::vector<float> stacked;
  for (int e : {0, 2, 5, 7}) stacked.insert(stacked.end(), m.experts.begin() + e * 16 * 128, m.experts.begin() + (e + 1) * 16 * 128);
  const auto& raw = *by["model.layers.0.mlp.experts.down_proj"]->raw;
  MatrixView v{stacked.data(), 64, 128};
  EXPECT_DOUBLE_EQ(raw.kurtosis, excess_kurtosis(stacked));
  EXPECT_DOUBLE_EQ(raw.nrmse, quantization_nrmse(v, 4, 128));
  EXPECT_DOUBLE_EQ(raw.concentration, spectral_concentration(singular_values_full(v)));
  // The unsampled outlier (expert 3) would dominate the kurtosis if it were included.
  EXPECT_LT(raw.kurtosis, 5.0);
}

// Routed experts stored one tensor each: only the experts SWAN samples from the stack
// ({0, 2, 5, 7} of 8) get metrics, and the swan plan gives all 8 the mean of those four.
TEST(Analysis, PerExpertTensorsMeasureOnlyTheSampledExperts) {
  TempDir dir;
  SafetensorsBuilder b;
  for (int e = 0; e < 8; ++e)
    b.add("model.layers.0.mlp.experts." + std::to_string(e) + ".down_proj.weight", DType::F32, {16, 128},
          gaussian(16 * 128, 10 + static_cast<std::uint64_t>(e), 0.02 * (1 + e)));
  write_model(dir.path(), b, opaque_config_json());
  ModelReader reader(dir.path());
  Options opt;
  ModelAnalysis a = analyze_model(reader, opt);
  ASSERT_EQ(a.tensors.size(), 8u);
  for (int e = 0; e < 8; ++e) {
    const bool sampled = e == 0 || e == 2 || e == 5 || e == 7;
    EXPECT_TRUE(a.tensors[static_cast<std::size_t>(e)].scored) << e;
    EXPECT_EQ(a.tensors[static_cast<std::size_t>(e)].raw.has_value(), sampled) << e;
    EXPECT_TRUE(a.tensors[static_cast<std::size_t>(e)].rd.has_value()) << e;  // the budget needs every expert
  }
  const SwanPolicyOptions swan;
  score_analysis(a, swan);
  double mean = 0;
  for (const int e : {0, 2, 5, 7}) mean += swan_composite(*a.tensors[static_cast<std::size_t>(e)].scores, swan) / 4;
  PlanOptions po;
  po.policy = swan;
  const Plan p = make_plan(a, po);
  for (const auto& d : p.tensors) {
    EXPECT_EQ(d.bits(), p.tensors[0].bits()) << d.name;
    EXPECT_NE(d.reason.find("(mean of experts 0, 2, 5, 7)"), std::string::npos) << d.reason;
  }
  char want[32];
  std::snprintf(want, sizeof want, "S=%.4f", mean);
  EXPECT_NE(p.tensors[0].reason.find(want), std::string::npos) << p.tensors[0].reason;
}

TEST(Analysis, IdenticalForAnyThreadCount) {
  SmallModel m;
  ModelReader reader(m.dir.path());
  Options one, two;
  one.threads = 1;
  two.threads = 2;
  EXPECT_EQ(analysis_to_json(analyze_model(reader, one)).dump(), analysis_to_json(analyze_model(reader, two)).dump());
}

// Large tensors (>= 2^22 elements) are converted into one buffer shared from tensor to tensor: a
// smaller tensor after a larger one leaves a stale tail in it, a larger one makes it grow. Each
// tensor's metrics must be those of the tensor alone.
TEST(Analysis, LargeTensorsShareOneBufferAndMatchTheMetricsOfEachAlone) {
  TempDir dir;
  const std::vector<std::pair<std::string, std::int64_t>> shapes = {
      {"model.a.weight", 2176}, {"model.b.weight", 2056}, {"model.c.weight", 2304}};  // 2048 rows each
  std::vector<std::vector<float>> data;
  SafetensorsBuilder b;
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    data.push_back(gaussian(static_cast<std::size_t>(2048 * shapes[i].second), 10 + i));
    data.back()[i * 977] = 0.5f;  // a different outlier in each
    b.add(shapes[i].first, DType::F32, {2048, shapes[i].second}, data.back());
  }
  write_model(dir.path(), b);
  ModelReader reader(dir.path());
  Options opt;
  opt.hash_inputs = false;
  const ModelAnalysis a = analyze_model(reader, opt);
  ASSERT_EQ(a.tensors.size(), shapes.size());
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    const TensorAnalysis& t = a.tensors[i];
    ASSERT_EQ(t.name, shapes[i].first);
    ASSERT_TRUE(t.raw.has_value());
    const RawMetrics want = compute_raw_metrics(MatrixView{data[i].data(), 2048, shapes[i].second}, opt.metrics,
                                                opt.seed ^ fnv1a64(t.name), 2);
    EXPECT_TRUE(want.randomized_svd);
    EXPECT_EQ(t.raw->concentration, want.concentration) << t.name;
    EXPECT_EQ(t.raw->kurtosis, want.kurtosis) << t.name;
    EXPECT_EQ(t.raw->noise_amp, want.noise_amp) << t.name;
    EXPECT_EQ(t.raw->nrmse, want.nrmse) << t.name;
  }
}

TEST(Analysis, ScheduleSharesWorkersAsDocumented) {
  const std::int64_t kLarge = std::int64_t{1} << 22, kVery = std::int64_t{1} << 25;
  // 0 small, 1 large, 2 and 3 very large, 4 the largest, 5 small but larger than 0.
  const std::vector<std::int64_t> numels = {100, kLarge, kVery, kVery + 1, 4 * kVery, 5000};
  const std::vector<std::size_t> all = {0, 1, 2, 3, 4, 5};
  TensorSchedule s = schedule_tensors(numels, all, 2);
  EXPECT_EQ(s.alone, (std::vector<std::size_t>{1, 4}));
  EXPECT_EQ(s.side_by_side, (std::vector<std::size_t>{2, 3, 5, 0}));  // very large in order, small largest first
  EXPECT_EQ(s.very_large, 2u);
  // 4 workers: 4 x (kVery + 1) elements exceed the largest tensor, so tensor 3 runs alone.
  s = schedule_tensors(numels, all, 4);
  EXPECT_EQ(s.alone, (std::vector<std::size_t>{1, 3, 4}));
  EXPECT_EQ(s.side_by_side, (std::vector<std::size_t>{2, 5, 0}));
  EXPECT_EQ(s.very_large, 1u);
  // One worker: every large tensor alone, in the given order.
  s = schedule_tensors(numels, all, 1);
  EXPECT_EQ(s.alone, (std::vector<std::size_t>{1, 2, 3, 4}));
  EXPECT_EQ(s.very_large, 0u);
  // Only a selection (an MPI rank's share): the largest is taken among the selected ones.
  s = schedule_tensors(numels, {3, 2, 0}, 2);
  EXPECT_EQ(s.alone, (std::vector<std::size_t>{3, 2}));
  EXPECT_EQ(s.side_by_side, (std::vector<std::size_t>{0}));
}

// Every schedule gives every tensor the metrics it has alone: limits lowered so that a small
// model has tensors that run alone, very large ones side by side (reusing each other's larger
// buffers: a stale tail) and small ones, for 1, 2 and 3 workers.
TEST(Analysis, EveryScheduleGivesTheMetricsOfEachTensorAlone) {
  TempDir dir;
  const std::vector<std::tuple<std::string, std::int64_t, std::int64_t>> shapes = {
      {"model.a.weight", 256, 256}, {"model.b.weight", 192, 256}, {"model.c.weight", 512, 512},
      {"model.d.weight", 40, 64}, {"model.e.weight", 224, 200}};
  std::vector<std::vector<float>> data;
  SafetensorsBuilder b;
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    const auto& [name, rows, cols] = shapes[i];
    data.push_back(gaussian(static_cast<std::size_t>(rows * cols), 20 + i));
    data.back()[i * 131] = 0.4f;
    b.add(name, DType::F32, {rows, cols}, data.back());
  }
  write_model(dir.path(), b);
  ModelReader reader(dir.path());
  Options opt;
  opt.hash_inputs = false;
  opt.metrics.full_svd_max_dim = 100;  // the block Krylov SVD on all but d
  const ScheduleLimits limits{std::int64_t{1} << 13, std::int64_t{1} << 15};
  std::vector<std::int64_t> numels;
  for (const auto& t : reader.tensors()) numels.push_back(t.numel());
  const TensorSchedule s = schedule_tensors(numels, {0, 1, 2, 3, 4}, 2, limits);
  ASSERT_EQ(s.very_large, 3u) << "a, b and e side by side";
  ASSERT_EQ(s.alone.size(), 1u);
  std::string first;
  for (const unsigned threads : {1u, 2u, 3u}) {
    opt.threads = threads;
    const ModelAnalysis a = analyze_model(reader, opt, nullptr, limits);
    for (std::size_t i = 0; i < shapes.size(); ++i) {
      const TensorAnalysis& t = a.tensors[i];
      ASSERT_TRUE(t.raw.has_value()) << t.name;
      const auto& [name, rows, cols] = shapes[i];
      const RawMetrics want =
          compute_raw_metrics(MatrixView{data[i].data(), rows, cols}, opt.metrics, opt.seed ^ fnv1a64(t.name), 1);
      EXPECT_EQ(t.raw->concentration, want.concentration) << t.name << ", " << threads << " threads";
      EXPECT_EQ(t.raw->kurtosis, want.kurtosis) << t.name;
      EXPECT_EQ(t.raw->noise_amp, want.noise_amp) << t.name;
      EXPECT_EQ(t.raw->nrmse, want.nrmse) << t.name;
    }
    const std::string dump = analysis_to_json(a)["tensors"].dump();
    if (first.empty()) first = dump;
    else EXPECT_EQ(dump, first) << threads << " threads";
  }
}

TEST(Analysis, JsonRoundTripAndErrors) {
  SmallModel m;
  ModelReader reader(m.dir.path());
  const Options defaults;
  const ModelAnalysis a = analyze_model(reader, defaults);
  const auto j = analysis_to_json(a);
  const ModelAnalysis b = analysis_from_json(j, "analysis.json");
  EXPECT_EQ(analysis_to_json(b)["tensors"], j["tensors"]);
  EXPECT_EQ(b.config.hidden_size, a.config.hidden_size);

  auto bad = j;
  bad["tensors"][1]["scores"]["s_kurt"] = 1.5;
  try {
    analysis_from_json(bad, "analysis.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.file(), "analysis.json");
    EXPECT_EQ(e.tensor(), j["tensors"][1]["name"].get<std::string>());
  }
  bad = j;
  bad["kind"] = "something";
  EXPECT_THROW(analysis_from_json(bad, "analysis.json"), Error);
  bad = j;
  bad["tensors"][0].erase("shape");
  EXPECT_THROW(analysis_from_json(bad, "analysis.json"), Error);
}

TEST(Analysis, RateDistortionAloneReadsOnlyItsRowsAndGivesTheSameCurves) {
  // Without the SWAN metrics the analysis converts only the sampled rows (and scans the rest for
  // NaN/Inf): the curves equal those measured from the fully loaded tensors.
  TempDir model;
  SafetensorsBuilder mb;
  mb.add("model.layers.0.mlp.experts.down_proj.weight", DType::F32, {4, 16, 128}, gaussian(4 * 16 * 128, 5))
      .add("model.layers.0.self_attn.q_proj.weight", DType::F32, {64, 128}, gaussian(64 * 128, 6))
      .add_rounded("model.layers.0.self_attn.k_proj.weight", DType::BF16, {48, 256}, gaussian(48 * 256, 7))
      .add_rounded("model.layers.0.mlp.up_proj.weight", DType::F16, {40, 64}, gaussian(40 * 64, 8));
  write_model(model.path(), mb);
  ModelReader reader(model.path());
  Options full, rd_only;
  full.rd.max_rows = rd_only.rd.max_rows = 5;  // a real sample: fewer rows than every tensor has
  rd_only.swan_metrics = false;
  const auto a = analysis_to_json(analyze_model(reader, full));
  const auto b = analysis_to_json(analyze_model(reader, rd_only));
  ASSERT_EQ(a["tensors"].size(), b["tensors"].size());
  int curves = 0;
  for (std::size_t i = 0; i < a["tensors"].size(); ++i) {
    EXPECT_EQ(a["tensors"][i].contains("rd"), b["tensors"][i].contains("rd")) << i;
    if (!a["tensors"][i].contains("rd")) continue;
    EXPECT_EQ(a["tensors"][i]["rd"], b["tensors"][i]["rd"]) << a["tensors"][i]["name"];
    EXPECT_EQ(b["tensors"][i]["rd"]["sampled_rows"], 5);
    ++curves;
  }
  EXPECT_EQ(curves, 4);

  // A NaN in a row the sample skips still fails the analysis, naming the tensor.
  TempDir dir;
  std::vector<float> w = gaussian(64 * 128, 4);
  w[1 * 128 + 9] = std::numeric_limits<float>::quiet_NaN();  // row 1; the 5 sampled rows are 6, 19, 32, 44, 57
  SafetensorsBuilder bad;
  bad.add("model.layers.0.self_attn.q_proj.weight", DType::F32, {64, 128}, w);
  write_model(dir.path(), bad);
  ModelReader bad_reader(dir.path());
  try {
    analyze_model(bad_reader, rd_only);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.tensor(), "model.layers.0.self_attn.q_proj.weight");
    EXPECT_NE(std::string(e.what()).find("contains NaN at element 137"), std::string::npos) << e.what();
  }
}
