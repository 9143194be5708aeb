// The registry of model families (src/arch/model_family.h): which model_type is which family,
// every Hugging Face tensor of a synthetic llama / qwen2 / qwen3 checkpoint and the GGUF name
// llama.cpp expects for it (both ways), the tensors llama.cpp requires, roles, shapes, what is
// never quantized, and unknown model types refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ramq/gguf_names.h"
#include "ramq/model_family.h"
#include "ramq/qk_permute.h"
#include "ramq/error.h"

namespace ramq {
namespace {

using NamePairs = std::vector<std::pair<std::string, std::string>>;

// A two-layer checkpoint of the dense decoder, written out by hand: Hugging Face name and the
// name llama.cpp's loader looks up (llama-arch.cpp's LLM_TENSOR_NAMES).
NamePairs llama_checkpoint() {
  NamePairs out{{"model.embed_tokens.weight", "token_embd.weight"},
                {"model.norm.weight", "output_norm.weight"},
                {"lm_head.weight", "output.weight"}};
  for (const std::string n : {"0", "1"}) {
    const std::string hf = "model.layers." + n + ".", gg = "blk." + n + ".";
    const NamePairs layer{{"input_layernorm.weight", "attn_norm.weight"},
                          {"self_attn.q_proj.weight", "attn_q.weight"},
                          {"self_attn.k_proj.weight", "attn_k.weight"},
                          {"self_attn.v_proj.weight", "attn_v.weight"},
                          {"self_attn.o_proj.weight", "attn_output.weight"},
                          {"post_attention_layernorm.weight", "ffn_norm.weight"},
                          {"mlp.gate_proj.weight", "ffn_gate.weight"},
                          {"mlp.up_proj.weight", "ffn_up.weight"},
                          {"mlp.down_proj.weight", "ffn_down.weight"}};
    for (const auto& [h, g] : layer) out.emplace_back(hf + h, gg + g);
  }
  return out;
}

NamePairs with_layer_tensors(NamePairs base, const NamePairs& per_layer) {
  for (const std::string n : {"0", "1"})
    for (const auto& [h, g] : per_layer) base.emplace_back("model.layers." + n + "." + h, "blk." + n + "." + g);
  return base;
}

NamePairs qwen2_checkpoint() {
  return with_layer_tensors(llama_checkpoint(), {{"self_attn.q_proj.bias", "attn_q.bias"},
                                                 {"self_attn.k_proj.bias", "attn_k.bias"},
                                                 {"self_attn.v_proj.bias", "attn_v.bias"}});
}

NamePairs qwen3_checkpoint() {
  return with_layer_tensors(llama_checkpoint(), {{"self_attn.q_norm.weight", "attn_q_norm.weight"},
                                                 {"self_attn.k_norm.weight", "attn_k_norm.weight"}});
}

ModelConfig config_of(const std::string& model_type) {
  ModelConfig c;
  c.model_type = model_type;
  c.hidden_size = 64;
  c.intermediate_size = 160;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.vocab_size = 100;
  return c;
}

TEST(ModelFamilies, ModelTypesAndArchitectures) {
  ASSERT_EQ(model_families().size(), 13u);  // 8 + the hybrid families (hybrid_family_test.cpp) + gemma3 (gemma3_family_test.cpp)
  const std::vector<std::pair<std::string, std::string>> types{
      {"llama", "llama"}, {"mistral", "llama"},        {"qwen2", "qwen2"},        {"qwen3", "qwen3"},
      {"mistral3", "mistral3"},
      {"mixtral", "llama"}, {"qwen2_moe", "qwen2moe"}, {"qwen3_moe", "qwen3moe"}};
  for (const auto& [type, arch] : types) {
    const ModelFamily* f = find_family(type);
    ASSERT_NE(f, nullptr) << type;
    EXPECT_EQ(f->gguf_architecture, arch) << type;
    EXPECT_EQ(find_gguf_family(arch, f->moe != nullptr), f) << arch;
  }
  EXPECT_TRUE(find_family("llama")->permute_qk);
  EXPECT_TRUE(find_family("mistral3")->permute_qk);  // llama.cpp's converter: a LlamaModel
  EXPECT_FALSE(find_family("qwen2")->permute_qk);
  EXPECT_TRUE(find_family("qwen2")->qkv_bias);
  EXPECT_TRUE(find_family("qwen3")->qk_norm);
  EXPECT_FALSE(find_family("llama")->qkv_bias || find_family("llama")->qk_norm);
  EXPECT_EQ(find_family("qwen3")->hf_architecture, "Qwen3ForCausalLM");
  EXPECT_EQ(supported_model_types(), "llama, mistral, qwen2, qwen3, mistral3, mixtral, qwen2_moe, qwen3_moe, qwen3_next, qwen3_5, qwen3_5_moe, phi3, gemma3_text, gemma3");
  EXPECT_EQ(supported_gguf_architectures(), "llama, qwen2, qwen3, mistral3, qwen2moe, qwen3moe, qwen3next, qwen35, qwen35moe, phi3, gemma3");
}

TEST(ModelFamilies, UnknownModelTypeIsRefusedNamingTheSupportedOnes) {
  EXPECT_EQ(find_family("gpt2"), nullptr);
  EXPECT_EQ(find_family(""), nullptr);
  EXPECT_EQ(find_gguf_family("mistral"), nullptr);  // mistral checkpoints are llama in GGUF
  try {
    family_for(config_of("gpt2"), "m/config.json", "GGUF output");
    ADD_FAILURE() << "gpt2 accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "m/config.json: model_type 'gpt2' is not supported for GGUF output (supported: llama, mistral, qwen2, "
              "qwen3, mistral3, mixtral, qwen2_moe, qwen3_moe, qwen3_next, qwen3_5, qwen3_5_moe, phi3, gemma3_text, gemma3)");
  }
}

void expect_names_both_ways(const std::string& model_type, const NamePairs& checkpoint) {
  const ModelFamily& f = *find_family(model_type);
  std::set<std::string> gguf_names;
  for (const auto& [hf, gg] : checkpoint) {
    EXPECT_EQ(hf_to_gguf_tensor_name(f, hf, "m.safetensors"), gg) << model_type;
    EXPECT_EQ(gguf_to_hf_tensor_name(f, gg).value_or("?"), hf) << model_type;
    // The classifier reads both spellings alike.
    EXPECT_EQ(classify_tensor(hf).role, classify_tensor(gg).role) << hf << " / " << gg;
    EXPECT_EQ(classify_tensor(hf).layer, classify_tensor(gg).layer) << hf << " / " << gg;
    gguf_names.insert(gg);
  }
  // What llama.cpp requires is all there, and nothing the checkpoint lacks (the tied head aside).
  std::set<std::string> required;
  for (const auto& r : required_gguf_tensors(f, 2)) required.insert(r);
  gguf_names.erase("output.weight");
  EXPECT_EQ(required, gguf_names) << model_type;
}

TEST(ModelFamilies, SyntheticCheckpointsMapToLlamaCppNamesAndBack) {
  expect_names_both_ways("llama", llama_checkpoint());
  expect_names_both_ways("mistral", llama_checkpoint());
  expect_names_both_ways("qwen2", qwen2_checkpoint());
  expect_names_both_ways("qwen3", qwen3_checkpoint());
  // mistral3: the llama names under "language_model."; the vision tower is left out.
  NamePairs mistral3;
  for (const auto& [hf, gg] : llama_checkpoint()) mistral3.emplace_back("language_model." + hf, gg);
  expect_names_both_ways("mistral3", mistral3);
  EXPECT_TRUE(is_left_out("mistral3", "vision_tower.transformer.layers.0.attention.q_proj.weight"));
  EXPECT_TRUE(is_left_out("mistral3", "multi_modal_projector.linear_1.weight"));
  EXPECT_FALSE(is_left_out("mistral3", "language_model.model.layers.0.self_attn.q_proj.weight"));
  EXPECT_EQ(find_family("mistral3")->mlx_path("vision_tower.ln_pre.weight"), "");
  const ModelFamily& llama = *find_family("llama");
  EXPECT_EQ(hf_to_gguf_tensor_name(llama, "model.layers.0.self_attn.rotary_emb.inv_freq", "m"), "");
  EXPECT_THROW(hf_to_gguf_tensor_name(llama, "model.layers.0.mlp.experts.0.w1.weight", "m"), Error);
  EXPECT_FALSE(gguf_to_hf_tensor_name(llama, "blk.0.ffn_gate_exps.weight"));
}

TEST(ModelFamilies, RolesOfTheCheckpointsTensors) {
  for (const auto& [hf, gg] : qwen3_checkpoint()) {
    const TensorPlace p = classify_tensor(hf);
    const bool norm = hf.find("norm") != std::string::npos;
    EXPECT_EQ(find_family("qwen3")->never_quantized(p.role), norm) << hf;
  }
  const std::string l = "model.layers.1.";
  EXPECT_EQ(classify_tensor(l + "self_attn.q_norm.weight").role, TensorRole::QNorm);
  EXPECT_EQ(classify_tensor(l + "post_attention_layernorm.weight").role, TensorRole::Norm);
  EXPECT_EQ(classify_tensor(l + "self_attn.v_proj.bias").role, TensorRole::AttnV);
  EXPECT_TRUE(classify_tensor(l + "self_attn.v_proj.bias").bias);
  EXPECT_EQ(classify_tensor("lm_head.weight").role, TensorRole::Head);
}

TEST(ModelFamilies, BlockOrderFollowsTheTable) {
  const ModelFamily& f = *find_family("qwen2");
  const std::vector<std::string> order{"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight",
                                       "attn_output.weight", "attn_q_norm.weight", "attn_k_norm.weight",
                                       "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight",
                                       "mystery.weight"};
  for (std::size_t i = 1; i < order.size(); ++i)
    EXPECT_LT(gguf_block_rank(f, order[i - 1]), gguf_block_rank(f, order[i])) << order[i];
  EXPECT_EQ(gguf_block_rank(f, "attn_q.bias"), gguf_block_rank(f, "attn_q.weight"));
}

TEST(ModelFamilies, ExpectedShapes) {
  const ModelConfig c = config_of("qwen2");
  const ModelFamily& f = *find_family("qwen2");
  const auto shape = [&](const std::string& n) { return f.expected_shape(c, n).value_or(ExpectedShape{}).shape; };
  using S = std::vector<std::int64_t>;
  EXPECT_EQ(shape("model.embed_tokens.weight"), (S{100, 64}));
  EXPECT_EQ(shape("model.norm.weight"), (S{64}));
  EXPECT_EQ(shape("model.layers.1.self_attn.q_proj.weight"), (S{64, 64}));
  EXPECT_EQ(shape("model.layers.1.self_attn.k_proj.weight"), (S{32, 64}));
  EXPECT_EQ(shape("model.layers.1.self_attn.o_proj.weight"), (S{64, 64}));
  EXPECT_EQ(shape("model.layers.1.self_attn.k_proj.bias"), (S{32}));
  EXPECT_EQ(shape("model.layers.1.self_attn.k_norm.weight"), (S{16}));
  EXPECT_EQ(shape("model.layers.1.mlp.down_proj.weight"), (S{64, 160}));
  EXPECT_EQ(f.expected_shape(c, "model.layers.1.self_attn.k_proj.weight")->formula,
            "[num_key_value_heads x head_dim, hidden_size]");
  EXPECT_FALSE(f.expected_shape(c, "model.layers.1.self_attn.rotary_emb.inv_freq"));
  EXPECT_FALSE(f.expected_shape(c, "model.layers.01.mlp.up_proj.weight"));
}

// Phi-3 / Phi-4: the fused projections keep their fusion in llama.cpp's names (attn_qkv, and
// ffn_up with 2 x n_ff rows), with the shapes config.json implies; no q/k permutation.
TEST(ModelFamilies, Phi3KeepsItsFusedProjections) {
  const ModelFamily& f = *find_family("phi3");
  EXPECT_EQ(f.gguf_architecture, "phi3");
  EXPECT_FALSE(f.permute_qk);
  EXPECT_TRUE(f.phi3_rope);
  const NamePairs pairs{{"model.embed_tokens.weight", "token_embd.weight"},
                        {"model.norm.weight", "output_norm.weight"},
                        {"lm_head.weight", "output.weight"},
                        {"model.layers.1.input_layernorm.weight", "blk.1.attn_norm.weight"},
                        {"model.layers.1.self_attn.qkv_proj.weight", "blk.1.attn_qkv.weight"},
                        {"model.layers.1.self_attn.o_proj.weight", "blk.1.attn_output.weight"},
                        {"model.layers.1.post_attention_layernorm.weight", "blk.1.ffn_norm.weight"},
                        {"model.layers.1.mlp.gate_up_proj.weight", "blk.1.ffn_up.weight"},
                        {"model.layers.1.mlp.down_proj.weight", "blk.1.ffn_down.weight"}};
  for (const auto& [hf, gg] : pairs) {
    EXPECT_EQ(hf_to_gguf_tensor_name(f, hf, "m.safetensors"), gg);
    EXPECT_EQ(gguf_to_hf_tensor_name(f, gg).value_or("?"), hf);
  }
  EXPECT_EQ(classify_tensor("model.layers.1.self_attn.qkv_proj.weight").role, TensorRole::AttnQkv);
  EXPECT_EQ(classify_tensor("model.layers.1.mlp.gate_up_proj.weight").role, TensorRole::FfnGateUp);
  const std::vector<std::string> required = required_gguf_tensors(f, 1);
  EXPECT_EQ(required, (std::vector<std::string>{"token_embd.weight", "output_norm.weight", "blk.0.attn_norm.weight",
                                                "blk.0.attn_qkv.weight", "blk.0.attn_output.weight",
                                                "blk.0.ffn_norm.weight", "blk.0.ffn_up.weight", "blk.0.ffn_down.weight"}));
  const ModelConfig c = config_of("phi3");  // 4 heads, 2 kv heads of 16, hidden 64, ff 160
  using S = std::vector<std::int64_t>;
  EXPECT_EQ(f.expected_shape(c, "model.layers.1.self_attn.qkv_proj.weight")->shape, (S{128, 64}));
  EXPECT_EQ(f.expected_shape(c, "model.layers.1.mlp.gate_up_proj.weight")->shape, (S{320, 64}));
  EXPECT_EQ(f.expected_shape(c, "model.layers.1.mlp.down_proj.weight")->shape, (S{64, 160}));
  EXPECT_FALSE(f.expected_shape(c, "model.layers.1.self_attn.q_proj.weight"));
  EXPECT_EQ(f.mlx_path("model.layers.1.self_attn.qkv_proj.weight"), "model.layers.1.self_attn.qkv_proj.weight");
}

TEST(ModelFamilies, QkPermutationHeadsAndOtherFacts) {
  const ModelConfig c = config_of("llama");
  const ModelFamily& llama = *find_family("llama");
  EXPECT_EQ(qk_permute_heads(llama, c, "model.layers.0.self_attn.q_proj.weight"), 4);
  EXPECT_EQ(qk_permute_heads(llama, c, "model.layers.0.self_attn.q_proj.bias"), 4);
  EXPECT_EQ(qk_permute_heads(llama, c, "model.layers.0.self_attn.k_proj.weight"), 2);
  EXPECT_EQ(qk_permute_heads(llama, c, "model.layers.0.self_attn.q_norm.weight"), 0);
  EXPECT_EQ(qk_permute_heads(*find_family("qwen3"), c, "model.layers.0.self_attn.q_proj.weight"), 0);
  for (const ModelFamily& f : model_families())
    EXPECT_EQ(f.mlx_path("model.layers.3.mlp.up_proj.weight"), "model.layers.3.mlp.up_proj.weight") << f.name;

  ModelConfig big = config_of("llama");
  big.num_hidden_layers = 80;
  big.num_attention_heads = 64;
  big.num_key_value_heads = 8;
  EXPECT_TRUE(llama.llama_cpp_70b(big));
  big.num_key_value_heads = 64;  // LLaMA-1 65B: no grouped-query attention
  EXPECT_FALSE(llama.llama_cpp_70b(big));
  EXPECT_TRUE(find_family("qwen2")->llama_cpp_70b(big));
  EXPECT_EQ(find_family("qwen3")->llama_cpp_70b, nullptr);
}

}  // namespace
}  // namespace ramq
