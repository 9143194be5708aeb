// Plans in GGUF terms: bit classes to ggml types, block fallbacks, and llama.cpp's mixes.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "ramq/error.h"
#include "ramq/plan.h"
#include "ramq/options.h"

using namespace ramq;

namespace {

TensorAnalysis tensor(const std::string& name, std::vector<std::int64_t> shape, double s = 0.4) {
  TensorAnalysis t;
  t.name = name;
  t.shape = shape;
  t.dtype = "BF16";
  t.numel = 1;
  for (auto d : shape) t.numel *= d;
  t.scored = shape.size() >= 2 && t.numel >= 1024;
  if (t.scored) {
    t.raw = RawMetrics{};
    t.scores = SwanScores{s, s, s, s, s};
  } else {
    t.skip_reason = "1-D tensor";
  }
  return t;
}

// A dense Llama-shaped analysis: n layers of hidden 4096 / ffn 11008, untied head.
ModelAnalysis llama_like(int n_layers, bool tied) {
  ModelAnalysis a;
  a.config.num_hidden_layers = n_layers;
  a.tensors.push_back(tensor("model.embed_tokens.weight", {32000, 4096}));
  if (!tied) a.tensors.push_back(tensor("lm_head.weight", {32000, 4096}));
  a.tensors.push_back(tensor("model.norm.weight", {4096}));
  for (int i = 0; i < n_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    for (const char* m : {"self_attn.q_proj", "self_attn.o_proj"}) a.tensors.push_back(tensor(p + m + ".weight", {4096, 4096}));
    for (const char* m : {"self_attn.k_proj", "self_attn.v_proj"}) a.tensors.push_back(tensor(p + m + ".weight", {1024, 4096}));
    for (const char* m : {"mlp.gate_proj", "mlp.up_proj"}) a.tensors.push_back(tensor(p + m + ".weight", {11008, 4096}));
    a.tensors.push_back(tensor(p + "mlp.down_proj.weight", {4096, 11008}));
    a.tensors.push_back(tensor(p + "input_layernorm.weight", {4096}));
  }
  std::sort(a.tensors.begin(), a.tensors.end(), [](const auto& x, const auto& y) { return x.name < y.name; });
  return a;
}

std::string type_of(const Plan& p, const std::string& name) {
  const auto* d = p.find(name);
  return d && d->encoding.ggml_type() ? d->encoding.name() : "?";
}

}  // namespace

TEST(GgufPolicy, FallbackNeverLosesBitsAndFitsTheRow) {
  EXPECT_EQ(gguf_fallback(GgmlType::Q4_K, 4096), GgmlType::Q4_K);
  EXPECT_EQ(gguf_fallback(GgmlType::Q4_K, 64), GgmlType::IQ4_NL);  // 4.5 bpw -> 4.5 bpw
  EXPECT_EQ(gguf_fallback(GgmlType::Q2_K, 64), GgmlType::IQ4_NL);
  EXPECT_EQ(gguf_fallback(GgmlType::Q5_K, 96), GgmlType::Q5_0);    // 5.5 -> 5.5
  EXPECT_EQ(gguf_fallback(GgmlType::Q6_K, 96), GgmlType::Q8_0);    // 6.5625 -> 8.5
  EXPECT_EQ(gguf_fallback(GgmlType::Q8_0, 172), GgmlType::F16);    // 172 is not a multiple of 32
  // llama.cpp's own table.
  EXPECT_EQ(llama_cpp_fallback(GgmlType::Q4_K, 64), GgmlType::Q5_0);
  EXPECT_EQ(llama_cpp_fallback(GgmlType::Q5_K, 64), GgmlType::Q5_1);
  EXPECT_EQ(llama_cpp_fallback(GgmlType::Q6_K, 64), GgmlType::Q8_0);
  EXPECT_EQ(llama_cpp_fallback(GgmlType::Q6_K, 100), GgmlType::F16);
}

TEST(GgufPolicy, SwanBitClassesBecomeKQuants) {
  ModelAnalysis a;
  a.config.num_hidden_layers = 1;
  a.tensors = {tensor("a.weight", {256, 512}, 0.95), tensor("b.weight", {256, 512}, 0.7), tensor("c.weight", {256, 512}, 0.4),
               tensor("d.weight", {256, 512}, 0.05), tensor("e.weight", {64, 64}, 0.4), tensor("f.weight", {64, 172}, 0.4),
               tensor("n.weight", {512})};
  Options opt;
  opt.format = OutputFormat::Gguf;
  const Plan p = make_plan(a, opt);
  EXPECT_EQ(p.format, OutputFormat::Gguf);
  EXPECT_EQ(type_of(p, "a.weight"), "F16");
  EXPECT_EQ(type_of(p, "b.weight"), "Q8_0");
  EXPECT_EQ(type_of(p, "c.weight"), "Q4_K");
  EXPECT_EQ(type_of(p, "d.weight"), "Q2_K");
  EXPECT_EQ(type_of(p, "e.weight"), "IQ4_NL");
  EXPECT_NE(p.find("e.weight")->reason.find("do not fit Q4_K"), std::string::npos);
  EXPECT_EQ(type_of(p, "f.weight"), "F16");
  EXPECT_EQ(type_of(p, "n.weight"), "F32");
  // Bytes from the block sizes: Q4_K 144 bytes per 256 values, Q8_0 34 per 32, Q2_K 84 per 256.
  EXPECT_EQ(p.find("c.weight")->bytes, 256u * 2 * 144);
  EXPECT_EQ(p.find("b.weight")->bytes, 256u * 16 * 34);
  EXPECT_EQ(p.find("d.weight")->bytes, 256u * 2 * 84);
  EXPECT_EQ(p.find("e.weight")->bytes, 64u * 2 * 18);
  EXPECT_EQ(p.find("n.weight")->bytes, 512u * 4);
  EXPECT_EQ(p.find("f.weight")->bytes, 64u * 172 * 2);

  const Plan q = plan_from_json(plan_to_json(p), "plan.json");
  EXPECT_EQ(q.format, OutputFormat::Gguf);
  EXPECT_EQ(type_of(q, "e.weight"), "IQ4_NL");
  auto bad = plan_to_json(p);
  bad["tensors"][0]["gguf_type"] = "Q7_K";
  EXPECT_THROW(plan_from_json(bad, "plan.json"), Error);
}

// llama.cpp's Q4_K_M rules as documented in llama-quant.cpp: attn_v and ffn_down get Q6_K in
// "use_more_bits" layers (first and last eighth, and every third layer in between), the output
// head Q6_K, everything else the default Q4_K. With 32 layers: layers 0-3, 28-31 and 6, 9, ..., 27.
TEST(GgufPolicy, LlamaMixQ4KM) {
  Options opt;
  opt.format = OutputFormat::Gguf;
  opt.policy = PolicyKind::LlamaMix;
  opt.mix = "Q4_K_M";
  const Plan p = make_plan(llama_like(32, false), opt);
  const std::set<int> more = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
  for (int i = 0; i < 32; ++i) {
    const std::string l = "model.layers." + std::to_string(i) + ".";
    const std::string hi = more.count(i) ? "Q6_K" : "Q4_K";
    EXPECT_EQ(type_of(p, l + "self_attn.v_proj.weight"), hi) << i;
    EXPECT_EQ(type_of(p, l + "mlp.down_proj.weight"), more.count(i) ? "Q6_K" : "Q4_K") << i;
    EXPECT_EQ(type_of(p, l + "self_attn.q_proj.weight"), "Q4_K");
    EXPECT_EQ(type_of(p, l + "self_attn.k_proj.weight"), "Q4_K");
    EXPECT_EQ(type_of(p, l + "mlp.gate_proj.weight"), "Q4_K");
    EXPECT_EQ(type_of(p, l + "input_layernorm.weight"), "F32");
  }
  EXPECT_EQ(type_of(p, "lm_head.weight"), "Q6_K");
  EXPECT_EQ(type_of(p, "model.embed_tokens.weight"), "Q4_K");  // untied: default type
}

TEST(GgufPolicy, LlamaMixQ3KMAndTiedHead) {
  Options opt;
  opt.format = OutputFormat::Gguf;
  opt.policy = PolicyKind::LlamaMix;
  opt.mix = "Q3_K_M";
  const Plan p = make_plan(llama_like(32, true), opt);
  EXPECT_EQ(type_of(p, "model.layers.0.self_attn.v_proj.weight"), "Q5_K");
  EXPECT_EQ(type_of(p, "model.layers.1.self_attn.v_proj.weight"), "Q5_K");
  EXPECT_EQ(type_of(p, "model.layers.2.self_attn.v_proj.weight"), "Q4_K");
  EXPECT_EQ(type_of(p, "model.layers.1.mlp.down_proj.weight"), "Q5_K");  // layer < 32/16
  EXPECT_EQ(type_of(p, "model.layers.2.mlp.down_proj.weight"), "Q4_K");
  EXPECT_EQ(type_of(p, "model.layers.5.self_attn.o_proj.weight"), "Q4_K");
  EXPECT_EQ(type_of(p, "model.layers.5.self_attn.q_proj.weight"), "Q3_K");
  EXPECT_EQ(type_of(p, "model.embed_tokens.weight"), "Q6_K");  // tied: quantized like the output
  opt.mix = "Q8_0";
  EXPECT_EQ(type_of(make_plan(llama_like(4, true), opt), "model.embed_tokens.weight"), "Q8_0");
  opt.format = OutputFormat::Mlx;
  EXPECT_THROW(make_plan(llama_like(4, true), opt), Error);  // llama-mix is GGUF only
}

// llama.cpp's LLM_TYPE_70B rule: attn_v that the mix leaves at Q3_K or Q4_K becomes Q5_K. llama.cpp
// calls a "llama" model 70B when it has 80 layers and grouped-query attention (n_head != n_head_kv;
// 80 layers without GQA is LLaMA-1 65B), and a "qwen2" model when it has 80 layers.
namespace {

ModelAnalysis eighty_layers(const std::string& model_type, std::int64_t heads, std::int64_t kv_heads) {
  ModelAnalysis a = llama_like(80, false);
  a.config.model_type = model_type;
  a.config.num_attention_heads = heads;
  a.config.num_key_value_heads = kv_heads;
  return a;
}

Plan mix_plan(const ModelAnalysis& a, const std::string& mix) {
  Options opt;
  opt.format = OutputFormat::Gguf;
  opt.policy = PolicyKind::LlamaMix;
  opt.mix = mix;
  return make_plan(a, opt);
}

std::string v_proj(int layer) { return "model.layers." + std::to_string(layer) + ".self_attn.v_proj.weight"; }

// use_more_bits for 80 layers, written out: the first and last eighth (0-9, 70-79) and every third
// layer in between, starting at 12.
std::set<int> more_bits_80() {
  std::set<int> s;
  for (int i = 0; i < 10; ++i) s.insert(i);
  for (int i = 70; i < 80; ++i) s.insert(i);
  for (int i = 12; i < 70; i += 3) s.insert(i);
  return s;
}

}  // namespace

TEST(GgufPolicy, LlamaMix70BPromotesAttnV) {
  const ModelAnalysis llama70b = eighty_layers("llama", 64, 8);
  const std::set<int> more = more_bits_80();
  ASSERT_EQ(more.size(), 40u);
  const Plan q4 = mix_plan(llama70b, "Q4_K_M");
  const Plan q3 = mix_plan(llama70b, "Q3_K_M");
  const Plan q5 = mix_plan(llama70b, "Q5_K_M");
  for (int i = 0; i < 80; ++i) {
    EXPECT_EQ(type_of(q4, v_proj(i)), more.count(i) ? "Q6_K" : "Q5_K") << i;  // Q4_K -> Q5_K
    EXPECT_EQ(type_of(q3, v_proj(i)), "Q5_K") << i;                           // Q5_K first two, Q4_K -> Q5_K
    EXPECT_EQ(type_of(q5, v_proj(i)), more.count(i) ? "Q6_K" : "Q5_K") << i;  // already Q5_K
  }
  EXPECT_NE(q4.find(v_proj(11))->reason.find("70B"), std::string::npos) << q4.find(v_proj(11))->reason;
  // Only attn_v: the other tensors of a layer keep their types.
  EXPECT_EQ(type_of(q4, "model.layers.11.self_attn.k_proj.weight"), "Q4_K");
  EXPECT_EQ(type_of(q4, "model.layers.11.mlp.down_proj.weight"), "Q4_K");
  EXPECT_EQ(type_of(q4, "model.layers.12.mlp.down_proj.weight"), "Q6_K");
  EXPECT_EQ(type_of(q3, "model.layers.11.self_attn.q_proj.weight"), "Q3_K");
  EXPECT_EQ(type_of(q3, "model.layers.11.self_attn.o_proj.weight"), "Q4_K");
  EXPECT_EQ(type_of(q3, "model.layers.4.mlp.down_proj.weight"), "Q5_K");  // layer < 80/16
  EXPECT_EQ(type_of(q3, "model.layers.5.mlp.down_proj.weight"), "Q4_K");
  // Q6_K and Q8_0 are never below Q5_K: unchanged.
  EXPECT_EQ(type_of(mix_plan(llama70b, "Q6_K"), v_proj(11)), "Q6_K");
  EXPECT_EQ(type_of(mix_plan(llama70b, "Q8_0"), v_proj(11)), "Q8_0");
  // Qwen2 with 80 layers is 70B for llama.cpp whatever its heads (Qwen2-72B).
  EXPECT_EQ(type_of(mix_plan(eighty_layers("qwen2", 64, 64), "Q4_K_M"), v_proj(11)), "Q5_K");
  EXPECT_EQ(type_of(mix_plan(eighty_layers("mistral", 64, 8), "Q4_K_M"), v_proj(11)), "Q5_K");
}

TEST(GgufPolicy, LlamaMixNot70B) {
  // 80 llama layers without grouped-query attention: LLaMA-1 65B, no promotion.
  EXPECT_EQ(type_of(mix_plan(eighty_layers("llama", 64, 64), "Q4_K_M"), v_proj(11)), "Q4_K");
  EXPECT_EQ(type_of(mix_plan(eighty_layers("llama", 64, 64), "Q3_K_M"), v_proj(11)), "Q4_K");
  // Qwen3 has no 70B size in llama.cpp.
  EXPECT_EQ(type_of(mix_plan(eighty_layers("qwen3", 64, 8), "Q4_K_M"), v_proj(11)), "Q4_K");
  // Other depths are not 70B, whatever the heads.
  ModelAnalysis a = llama_like(64, false);
  a.config.model_type = "llama";
  a.config.num_attention_heads = 64;
  a.config.num_key_value_heads = 8;
  EXPECT_EQ(type_of(mix_plan(a, "Q4_K_M"), v_proj(11)), "Q4_K");
  EXPECT_EQ(type_of(mix_plan(a, "Q3_K_M"), v_proj(11)), "Q4_K");
}
