#include <gtest/gtest.h>

#include "ramq/error.h"
#include "ramq/plan.h"
#include "ramq/options.h"

using namespace ramq;

namespace {
// Bytes of an MLX affine matrix of rows x cols (times batch experts), from the Encoding.
std::uint64_t mlx_bytes(std::int64_t rows, std::int64_t cols, std::int64_t batch, int bits, int group) {
  const std::vector<std::int64_t> shape = {batch, rows, cols};
  return Encoding::mlx_affine(bits, group).bytes(shape, DType::F16, false);
}

// A scored 2-D tensor whose four scores are all `s`, so S == s under the default weights (sum 1).
TensorAnalysis scored(const std::string& name, std::int64_t rows, std::int64_t cols, double s, const char* dtype = "F32") {
  TensorAnalysis t;
  t.name = name;
  t.shape = {rows, cols};
  t.dtype = dtype;
  t.numel = rows * cols;
  t.scored = true;
  t.raw = RawMetrics{};
  t.scores = SwanScores{s, s, s, s, s};
  return t;
}

TensorAnalysis unscored(const std::string& name, std::int64_t n) {
  TensorAnalysis t;
  t.name = name;
  t.shape = {n};
  t.dtype = "F32";
  t.numel = n;
  t.scored = false;
  t.skip_reason = "1-D tensor";
  return t;
}

ModelAnalysis model_of(std::vector<TensorAnalysis> ts) {
  ModelAnalysis a;
  for (auto& t : ts) a.total_params += t.numel;
  a.tensors = std::move(ts);
  return a;
}

}  // namespace

TEST(Policy, ProtectedNames) {
  EXPECT_TRUE(is_protected_tensor("model.embed_tokens.weight"));
  EXPECT_TRUE(is_protected_tensor("lm_head.weight"));
  EXPECT_TRUE(is_protected_tensor("model.layers.0.input_layernorm.weight"));
  EXPECT_TRUE(is_protected_tensor("model.norm.weight"));
  EXPECT_TRUE(is_protected_tensor("model.layers.3.mlp.gate.weight"));       // MoE router gate
  EXPECT_TRUE(is_protected_tensor("model.layers.3.mlp.router.weight"));
  EXPECT_FALSE(is_protected_tensor("model.layers.3.mlp.gate_proj.weight"));
  EXPECT_FALSE(is_protected_tensor("model.layers.3.self_attn.q_proj.weight"));
  EXPECT_FALSE(is_protected_tensor("model.layers.3.mlp.experts.gate_up_proj"));
}

// The reference code's protected patterns (smartquant/config.py): vision components and
// positional embeddings keep 16 bits under swan whatever their score; uniform quantizes them.
TEST(Policy, SwanKeepsTheReferencesProtectedComponents) {
  const auto a = model_of({
      scored("vision_model.encoder.layers.0.mlp.fc1.weight", 64, 128, 0.40),
      scored("multi_modal_projector.linear_1.weight", 64, 128, 0.40),
      scored("vision_tower.vision_model.embeddings.patch_embedding.weight", 64, 128, 0.40),
      scored("model.layers.0.mlp.up_proj.weight", 64, 128, 0.40),
  });
  Options opt;
  const Plan swan = make_plan(a, opt);
  EXPECT_EQ(swan.find("vision_model.encoder.layers.0.mlp.fc1.weight")->bits(), 16);
  EXPECT_EQ(swan.find("multi_modal_projector.linear_1.weight")->bits(), 16);
  EXPECT_EQ(swan.find("vision_tower.vision_model.embeddings.patch_embedding.weight")->bits(), 16);
  EXPECT_EQ(swan.find("model.layers.0.mlp.up_proj.weight")->bits(), 4);
  opt.policy = PolicyKind::Uniform;
  EXPECT_EQ(make_plan(a, opt).find("multi_modal_projector.linear_1.weight")->bits(), 4);
}

TEST(Policy, QuantizedBytesClosedForm) {
  // 64 x 128 at 4 bits: 64*128/2 = 4096 bytes of codes; 64 rows x 1 group x (scale + bias) x 2 bytes = 256.
  EXPECT_EQ(mlx_bytes(64, 128, 1, 4, 128), 4096u + 256u);
  // 3 bits, group 32, 10 x 96, 2 experts: codes 10*96*3/8 = 360; groups 10*3*4 = 120; x2.
  EXPECT_EQ(mlx_bytes(10, 96, 2, 3, 32), 2u * (360u + 120u));
}

TEST(Policy, SwanThresholdsPickBitsAndGroups) {
  Options opt;
  const auto a = model_of({
      scored("l.a.weight", 64, 128, 0.95),  // >= 0.90 -> 16
      scored("l.b.weight", 64, 128, 0.70),  // >= 0.65 -> 8 / g64
      scored("l.c.weight", 64, 128, 0.40),  // -> 4 / g128
      scored("l.d.weight", 64, 128, 0.05),  // <= 0.10 -> 2 / g32
      scored("l.e.weight", 64, 128, 0.90),  // boundary: 16
      scored("l.f.weight", 64, 128, 0.10),  // boundary: 2
      scored("model.embed_tokens.weight", 64, 128, 0.0),  // protected
      unscored("model.norm.weight", 128),
  });
  const Plan p = make_plan(a, opt);
  auto bits = [&](const char* n) { return p.find(n)->bits(); };
  auto group = [&](const char* n) { return p.find(n)->encoding.group(); };
  EXPECT_EQ(bits("l.a.weight"), 16);
  EXPECT_EQ(bits("l.b.weight"), 8);
  EXPECT_EQ(group("l.b.weight"), 64);
  EXPECT_EQ(bits("l.c.weight"), 4);
  EXPECT_EQ(group("l.c.weight"), 128);
  EXPECT_EQ(bits("l.d.weight"), 2);
  EXPECT_EQ(group("l.d.weight"), 32);
  EXPECT_EQ(bits("l.e.weight"), 16);
  EXPECT_EQ(bits("l.f.weight"), 2);
  EXPECT_EQ(bits("model.embed_tokens.weight"), 16);
  EXPECT_EQ(bits("model.norm.weight"), 16);
  // Totals: F32 sources kept in 16 bits are written as F16 (2 bytes per element).
  std::uint64_t expect = 0;
  expect += 2 * 64 * 128 * 3;  // a, e, embed
  expect += mlx_bytes(64, 128, 1, 8, 64);
  expect += mlx_bytes(64, 128, 1, 4, 128);
  expect += 2 * mlx_bytes(64, 128, 1, 2, 32);
  expect += 2 * 128;
  EXPECT_EQ(p.total_bytes, expect);
  EXPECT_EQ(p.total_params, 7 * 64 * 128 + 128);
  EXPECT_DOUBLE_EQ(p.average_bits, 8.0 * static_cast<double>(expect) / (7 * 64 * 128 + 128));
}

TEST(Policy, ThresholdsAndWeightsAreOptions) {
  Options opt;
  opt.swan.t8 = 0.3;
  opt.swan.group4 = 64;
  const auto a = model_of({scored("x.weight", 8, 128, 0.4), scored("y.weight", 8, 128, 0.2)});
  Plan p = make_plan(a, opt);
  EXPECT_EQ(p.find("x.weight")->bits(), 8);
  EXPECT_EQ(p.find("y.weight")->encoding.group(), 64);
  opt.swan.w_kurt = 0.0;  // S = 0.55 * s now: 0.4 -> 0.22, still 4-bit band with t8 = 0.3
  p = make_plan(a, opt);
  EXPECT_EQ(p.find("x.weight")->bits(), 4);
}

TEST(Policy, IndivisibleRowStays16BitAndSaysWhy) {
  Options opt;
  const auto a = model_of({scored("m.down_proj.weight", 64, 172, 0.4)});
  const Plan p = make_plan(a, opt);
  const auto* d = p.find("m.down_proj.weight");
  EXPECT_EQ(d->bits(), 16);
  EXPECT_NE(d->reason.find("172"), std::string::npos);
  EXPECT_NE(d->reason.find("128"), std::string::npos);
  EXPECT_EQ(d->bytes, 2u * 64 * 172);
}

TEST(Policy, UniformBaseline) {
  Options opt;
  opt.policy = PolicyKind::Uniform;
  opt.uniform.bits = 3;
  opt.uniform.group = 32;
  const auto a = model_of({scored("model.embed_tokens.weight", 64, 128, 0.99), scored("q.weight", 64, 128, 0.99),
                           scored("model.layers.0.mlp.gate.weight", 8, 128, 0.0)});
  Plan p = make_plan(a, opt);
  EXPECT_EQ(p.find("q.weight")->bits(), 3);
  EXPECT_EQ(p.find("q.weight")->encoding.group(), 32);
  EXPECT_EQ(p.find("model.embed_tokens.weight")->bits(), 16);
  EXPECT_EQ(p.find("model.layers.0.mlp.gate.weight")->bits(), 16);
  opt.uniform.quantize_embeddings = true;
  p = make_plan(a, opt);
  EXPECT_EQ(p.find("model.embed_tokens.weight")->bits(), 3);
  EXPECT_EQ(p.find("model.layers.0.mlp.gate.weight")->bits(), 16);  // router stays
}

TEST(Policy, KeepDtypeCountsF32AsFourBytes) {
  Options opt;
  opt.keep_dtype = true;
  const auto a = model_of({unscored("n.weight", 100), scored("model.embed_tokens.weight", 8, 128, 0.0, "BF16")});
  const Plan p = make_plan(a, opt);
  EXPECT_EQ(p.find("n.weight")->bytes, 400u);
  EXPECT_EQ(p.find("model.embed_tokens.weight")->bytes, 2u * 8 * 128);
}

TEST(PlanJson, RoundTripAndValidation) {
  Options opt;
  const auto a = model_of({scored("l.b.weight", 64, 128, 0.70), unscored("n.weight", 64)});
  const Plan p = make_plan(a, opt);
  const auto j = plan_to_json(p);
  const Plan q = plan_from_json(j, "plan.json");
  ASSERT_EQ(q.tensors.size(), 2u);
  EXPECT_EQ(q.find("l.b.weight")->bits(), 8);
  EXPECT_EQ(q.total_bytes, p.total_bytes);
  EXPECT_EQ(j["totals"]["bytes"].get<std::uint64_t>(), p.total_bytes);

  auto bad = j;
  bad["tensors"][0]["bits"] = 7;
  try {
    plan_from_json(bad, "plan.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.file(), "plan.json");
    EXPECT_EQ(e.tensor(), "l.b.weight");
    EXPECT_NE(std::string(e.what()).find("bits 7"), std::string::npos);
  }
  bad = j;
  bad["tensors"].push_back(bad["tensors"][0]);
  EXPECT_THROW(plan_from_json(bad, "plan.json"), Error);
  bad = j;
  bad["tensors"][0]["group"] = 48;
  EXPECT_THROW(plan_from_json(bad, "plan.json"), Error);
  bad = j;
  bad["tensors"][0]["numel"] = 5;
  EXPECT_THROW(plan_from_json(bad, "plan.json"), Error);
  EXPECT_THROW(plan_from_json(nlohmann::json::array(), "plan.json"), Error);
}
