// Closed forms of the hybrid forward pass on one-layer qwen3_5 models with hand-set weights
// (hidden 8, vocab 8, lm_head the identity, MLP zero, norms zero-centred at 0). Token A's
// embedding is (1, 1, 0, ...), token B's (1, 0, 1, 0, ...): both RMS-normalise to twice
// themselves. The layer writes its output into dimensions 4 and 5 only, so the ratio of logits
// 4 and 5 is the ratio of the layer's two output channels, whatever the final RMSNorm does.
//  * Gated DeltaNet (1 key head, 1 value head, dk = dv = 2): q = k = e0 after the l2 norm,
//    v_A = silu(2) e0, v_B = silu(2) e1. After A the state is beta_A k v_A^T, so after B
//    o = (q.k) [e^g beta_A (1 - beta_B) v_A + beta_B v_B]: o0 / o1 = e^g beta_A (1 - beta_B) / beta_B,
//    with beta = sigmoid(b), g = -exp(A_log) softplus(a + dt_bias).
//  * conv1d with its state: value channels that read only the previous token's input make the
//    first token's output zero and the second's follow v_A, in forward() and across append().
//  * Gated attention with partial rotary embeddings (head_dim 4, rotary 2, rope_theta 1): q and
//    k in dimension 3 are not rotated, so both keys score alike and B's output is
//    (v_A + v_B) / 2 times sigmoid(gate_B); in dimension 0 they are, by 1 radian at position 1.
//  * qwen3_5_moe's experts: top-2 weights renormalised over the two, plus the shared expert
//    scaled by sigmoid(shared_expert_gate . x).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "evaluate/llama_forward.h"
#include "evaluate/weights.h"
#include "ramq/eval.h"
#include "support/safetensors_builder.h"
#include "support/temp_dir.h"

namespace {

using nlohmann::json;

constexpr int kH = 8;
const std::string P = "model.language_model.layers.0.";

struct Matrix {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> v;
  Matrix(std::string n, std::vector<std::int64_t> s) : name(std::move(n)), shape(std::move(s)) {
    std::int64_t count = 1;
    for (auto d : shape) count *= d;
    v.assign(static_cast<std::size_t>(count), 0.0f);
  }
  // Element (r, c) of the matrix seen as [shape[0], rest].
  Matrix& set(std::int64_t r, std::int64_t c, float x) {
    v[static_cast<std::size_t>(r * (static_cast<std::int64_t>(v.size()) / shape[0]) + c)] = x;
    return *this;
  }
};

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }
// The RMS-normalised embedding entry of both tokens: 1 / sqrt(mean(x^2) + eps) with mean 2 / 8.
const double kS = 1 / std::sqrt(2.0 / kH + 1e-6);

json config(bool linear) {
  return {{"architectures", {"Qwen3_5ForCausalLM"}}, {"model_type", "qwen3_5"}, {"hidden_size", kH},
          {"intermediate_size", 2}, {"num_hidden_layers", 1}, {"num_attention_heads", 1},
          {"num_key_value_heads", 1}, {"head_dim", 4}, {"vocab_size", kH}, {"max_position_embeddings", 64},
          {"rms_norm_eps", 1e-6}, {"tie_word_embeddings", false}, {"rope_theta", 1.0},
          {"partial_rotary_factor", 0.5}, {"linear_conv_kernel_dim", 2}, {"linear_key_head_dim", 2},
          {"linear_value_head_dim", 2}, {"linear_num_key_heads", 1}, {"linear_num_value_heads", 1},
          {"layer_types", {linear ? "linear_attention" : "full_attention"}}};
}

// The model's common tensors plus `layer`, written to dir with `cfg` (a dense MLP of zeros
// unless cfg has experts).
void write(const std::filesystem::path& dir, const json& cfg, const std::vector<Matrix>& layer) {
  std::vector<Matrix> all = layer;
  Matrix embed("model.language_model.embed_tokens.weight", {kH, kH});
  embed.set(0, 0, 1).set(0, 1, 1).set(1, 0, 1).set(1, 2, 1);
  Matrix head("lm_head.weight", {kH, kH});
  for (int i = 0; i < kH; ++i) head.set(i, i, 1);
  all.push_back(embed);
  all.push_back(head);
  all.emplace_back("model.language_model.norm.weight", std::vector<std::int64_t>{kH});
  all.emplace_back(P + "input_layernorm.weight", std::vector<std::int64_t>{kH});
  all.emplace_back(P + "post_attention_layernorm.weight", std::vector<std::int64_t>{kH});
  if (!cfg.contains("num_experts")) {
    all.emplace_back(P + "mlp.gate_proj.weight", std::vector<std::int64_t>{2, kH});
    all.emplace_back(P + "mlp.up_proj.weight", std::vector<std::int64_t>{2, kH});
    all.emplace_back(P + "mlp.down_proj.weight", std::vector<std::int64_t>{kH, 2});
  }
  ramq::testkit::SafetensorsBuilder b;
  for (const auto& m : all) b.add(m.name, ramq::DType::F32, m.shape, m.v);
  ramq::testkit::write_model(dir, b, cfg.dump());
}
void write(const std::filesystem::path& dir, bool linear, const std::vector<Matrix>& layer) {
  write(dir, config(linear), layer);
}

// The delta-rule layer; `delayed_values`: the value channels' conv1d reads the previous token.
std::vector<Matrix> delta_layer(bool delayed_values) {
  const std::string a = P + "linear_attn.";
  Matrix qkv(a + "in_proj_qkv.weight", {6, kH});
  qkv.set(0, 0, 1).set(2, 0, 1).set(4, 1, 1).set(5, 2, 1);  // q0, k0 <- dim 0; v0 <- dim 1; v1 <- dim 2
  Matrix z(a + "in_proj_z.weight", {2, kH});
  z.set(0, 0, 1).set(1, 0, 1);
  Matrix b(a + "in_proj_b.weight", {1, kH});
  b.set(0, 1, 0.5f).set(0, 2, -0.25f);  // b_A = 1, b_B = -0.5
  Matrix al(a + "in_proj_a.weight", {1, kH});
  al.set(0, 0, 0.25f);  // a = 0.5 for both
  Matrix conv(a + "conv1d.weight", {6, 1, 2});
  for (int ch = 0; ch < 6; ++ch) conv.set(ch, delayed_values && ch >= 4 ? 0 : 1, 1);
  Matrix dt(a + "dt_bias", {1});
  dt.v = {0.3f};
  Matrix A(a + "A_log", {1});
  A.v = {static_cast<float>(std::log(0.7))};
  Matrix norm(a + "norm.weight", {2});
  norm.v = {1, 1};
  Matrix out(a + "out_proj.weight", {kH, 2});
  out.set(4, 0, 1).set(5, 1, 1);
  return {qkv, z, b, al, conv, dt, A, norm, out};
}

// The attention layer; q and k read dimension 0 into head dimension `qk_dim`.
std::vector<Matrix> attention_layer(int qk_dim) {
  const std::string a = P + "self_attn.";
  Matrix q(a + "q_proj.weight", {8, kH});  // per head [q (4); gate (4)]
  q.set(qk_dim, 0, 1).set(4, 1, 1).set(5, 2, 1);
  Matrix k(a + "k_proj.weight", {4, kH});
  k.set(qk_dim, 0, 1);
  Matrix v(a + "v_proj.weight", {4, kH});
  v.set(0, 1, 1).set(1, 2, 1);  // v_A = 2 e0, v_B = 2 e1
  Matrix o(a + "o_proj.weight", {kH, 4});
  o.set(4, 0, 1).set(5, 1, 1);
  return {q, k, v, o, Matrix(a + "q_norm.weight", {4}), Matrix(a + "k_norm.weight", {4})};
}

ramq::EvalOptions options() {
  ramq::EvalOptions opt;
  opt.threads = 1;
  opt.ctx = 16;
  return opt;
}

// Logits 4 and 5 of each of the two tokens A, B.
std::vector<std::pair<double, double>> outputs(const std::vector<float>& logits) {
  return {{logits[4], logits[5]}, {logits[kH + 4], logits[kH + 5]}};
}

TEST(HybridClosedForm, DeltaRuleAfterTwoTokens) {
  ramq::testkit::TempDir tmp("hybrid-delta");
  write(tmp.path(), true, delta_layer(false));
  const auto o = outputs(ramq::load_language_model(tmp.path(), options())->forward(std::vector<std::uint32_t>{0, 1}));
  EXPECT_GT(o[0].first, 0.1);
  EXPECT_EQ(o[0].second, 0.0);  // the state holds v_A only
  const double beta_a = sigmoid(0.5 * kS), beta_b = sigmoid(-0.25 * kS);
  const double g = -0.7 * std::log1p(std::exp(0.25 * kS + 0.3));
  const double want = std::exp(g) * beta_a * (1 - beta_b) / beta_b;
  EXPECT_NEAR(o[1].first / o[1].second, want, 1e-5 * want);
}

TEST(HybridClosedForm, ConvolutionCarriesThePreviousTokenAcrossAppend) {
  ramq::testkit::TempDir tmp("hybrid-conv");
  write(tmp.path(), true, delta_layer(true));
  const auto whole = ramq::load_language_model(tmp.path(), options())->forward(std::vector<std::uint32_t>{0, 1});
  auto inc = ramq::eval::make_incremental_llama_model(ramq::eval::open_model_weights(tmp.path()), options());
  std::vector<float> pieces = inc->append(std::vector<std::uint32_t>{0});
  const auto second = inc->append(std::vector<std::uint32_t>{1});
  pieces.insert(pieces.end(), second.begin(), second.end());
  for (const auto& logits : {whole, pieces}) {
    const auto o = outputs(logits);
    EXPECT_EQ(o[0].first, 0.0);  // v of the first token reads the zero state
    EXPECT_EQ(o[0].second, 0.0);
    EXPECT_GT(o[1].first, 0.1);  // v of B is A's value input: e0
    EXPECT_NEAR(o[1].second, 0.0, 1e-7);
  }
}

TEST(HybridClosedForm, GatedAttentionLeavesDimensionsPastTheRotaryWidthAlone) {
  ramq::testkit::TempDir tmp("hybrid-attn");
  write(tmp.path(), false, attention_layer(3));
  const auto o = outputs(ramq::load_language_model(tmp.path(), options())->forward(std::vector<std::uint32_t>{0, 1}));
  // A: only itself, v_A = 2 e0, gate_A = (2, 0); B: equal scores, (v_A + v_B) / 2 = (1, 1), gate_B = (0, 2).
  EXPECT_EQ(o[0].second, 0.0);
  EXPECT_GT(o[0].first, 0.1);
  EXPECT_NEAR(o[1].first / o[1].second, sigmoid(0) / sigmoid(kS), 1e-5);
}

TEST(HybridClosedForm, GatedAttentionRotatesTheRotaryDimensions) {
  ramq::testkit::TempDir tmp("hybrid-rope");
  write(tmp.path(), false, attention_layer(0));
  const auto o = outputs(ramq::load_language_model(tmp.path(), options())->forward(std::vector<std::uint32_t>{0, 1}));
  // q_B = 2 (cos 1, sin 1), k_A = 2 e0, k_B = q_B: scores 2 cos 1 and 2 (scale 1/2).
  const double p_a = 1 / (1 + std::exp(2 - 2 * std::cos(1.0)));
  EXPECT_NEAR(o[1].first / o[1].second, p_a * sigmoid(0) / ((1 - p_a) * sigmoid(kS)), 1e-5);
}

// qwen3_5_moe, one full-attention layer whose o_proj is zero, 4 experts of width 1, top-2. Every
// expert computes silu(x0) x0 and writes c_e times it into dimension 4; the shared expert writes
// it into dimension 5, times sigmoid(0.5 x0). Router logits r_e x0 with r = (1, 0.5, 0, -1) pick
// experts 0 and 1, weighted by their softmax probabilities renormalised over the two:
// dimension 4 / dimension 5 = (w0 c0 + w1 c1) / sigmoid(0.5 x0), w0 = 1 / (1 + e^(-0.5 x0)).
TEST(HybridClosedForm, ExpertsRenormalisedOverTheTopKPlusGatedSharedExpert) {
  json cfg = config(false);
  cfg["model_type"] = "qwen3_5_moe";
  cfg.erase("intermediate_size");
  cfg["num_experts"] = 4;
  cfg["num_experts_per_tok"] = 2;
  cfg["moe_intermediate_size"] = 1;
  cfg["shared_expert_intermediate_size"] = 1;
  std::vector<Matrix> layer = attention_layer(3);
  for (auto& m : layer)
    if (m.name.ends_with("o_proj.weight")) std::fill(m.v.begin(), m.v.end(), 0.0f);
  const std::string m = P + "mlp.";
  const float r[] = {1.0f, 0.5f, 0.0f, -1.0f}, c[] = {1.0f, 3.0f, 100.0f, 1000.0f};
  Matrix router(m + "gate.weight", {4, kH}), gate_up(m + "experts.gate_up_proj", {4, 2, kH}),
      down(m + "experts.down_proj", {4, kH, 1});
  for (int e = 0; e < 4; ++e) {
    router.set(e, 0, r[e]);
    gate_up.set(e, 0, 1).set(e, kH, 1);  // expert e's rows [gate; up] both read dimension 0
    down.set(e, 4, c[e]);
  }
  Matrix sg(m + "shared_expert.gate_proj.weight", {1, kH}), su(m + "shared_expert.up_proj.weight", {1, kH}),
      sd(m + "shared_expert.down_proj.weight", {kH, 1}), gate(m + "shared_expert_gate.weight", {1, kH});
  sg.set(0, 0, 1);
  su.set(0, 0, 1);
  sd.set(5, 0, 1);
  gate.set(0, 0, 0.5f);
  layer.insert(layer.end(), {router, gate_up, down, sg, su, sd, gate});
  ramq::testkit::TempDir tmp("hybrid-moe");
  write(tmp.path(), cfg, layer);
  const auto o = outputs(ramq::load_language_model(tmp.path(), options())->forward(std::vector<std::uint32_t>{0, 1}));
  const double w0 = 1 / (1 + std::exp(-0.5 * kS));
  const double want = (w0 * c[0] + (1 - w0) * c[1]) / sigmoid(0.5 * kS);
  for (const auto& [d4, d5] : o) EXPECT_NEAR(d4 / d5, want, 1e-5 * want);
}

}  // namespace
