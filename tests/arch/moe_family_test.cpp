// The mixture-of-experts families (src/arch/mixtral.cpp, qwen2_moe.cpp, qwen3_moe.cpp): the stack
// key of a routed expert, Hugging Face -> llama.cpp names (every expert of a projection maps to
// one stacked *_exps tensor, names written out by hand from llama.cpp's LLM_TENSOR_NAMES), shapes
// from config.json's MoE fields, mlx_lm's switch_mlp paths (mlx_lm models/qwen3_moe.py and
// mixtral.py sanitize()), and the MoE fields read and refused.
#include <gtest/gtest.h>

#include <string>

#include "ramq/error.h"
#include "ramq/family_config.h"
#include "ramq/gguf_names.h"
#include "ramq/model_family.h"

namespace ramq {
namespace {

ModelConfig moe_config(const std::string& type, nlohmann::json extra) {
  ModelConfig c;
  c.model_type = type;
  c.hidden_size = 64;
  c.intermediate_size = 96;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.vocab_size = 100;
  c.raw = {{"model_type", type}, {"num_experts_per_tok", 2}, {"intermediate_size", 96}};
  c.raw.update(extra);
  return c;
}

TEST(MoeFamily, ExpertStackKeyReplacesTheExpertIndexOnly) {
  std::int64_t e = -1;
  EXPECT_EQ(expert_stack_key("model.layers.12.mlp.experts.107.up_proj.weight", &e),
            "model.layers.12.mlp.experts.*.up_proj.weight");
  EXPECT_EQ(e, 107);
  EXPECT_EQ(expert_stack_key("model.layers.0.block_sparse_moe.experts.3.w1.weight", &e),
            "model.layers.0.block_sparse_moe.experts.*.w1.weight");
  EXPECT_EQ(e, 3);
  // Not an expert index: no digits, a name that merely contains "experts", the shared expert.
  for (const char* n : {"model.layers.0.mlp.experts.gate_up_proj", "model.layers.0.mlp.shared_experts.0.w",
                        "model.layers.0.mlp.shared_expert.up_proj.weight", "model.layers.0.mlp.gate.weight"}) {
    EXPECT_EQ(expert_stack_key(n, &e), n);
    EXPECT_EQ(e, -1) << n;
  }
}

TEST(MoeFamily, RoutedExpertsMapToOneStackedGgufTensor) {
  const ModelFamily& q3 = *find_family("qwen3_moe");
  EXPECT_EQ(q3.gguf_architecture, "qwen3moe");
  const std::pair<const char*, const char*> qwen[] = {
      {"model.layers.1.mlp.gate.weight", "blk.1.ffn_gate_inp.weight"},
      {"model.layers.1.mlp.experts.0.gate_proj.weight", "blk.1.ffn_gate_exps.weight"},
      {"model.layers.1.mlp.experts.5.gate_proj.weight", "blk.1.ffn_gate_exps.weight"},
      {"model.layers.1.mlp.experts.5.up_proj.weight", "blk.1.ffn_up_exps.weight"},
      {"model.layers.1.mlp.experts.5.down_proj.weight", "blk.1.ffn_down_exps.weight"},
      {"model.layers.1.self_attn.q_norm.weight", "blk.1.attn_q_norm.weight"}};
  for (const auto& [hf, gguf] : qwen) EXPECT_EQ(hf_to_gguf_tensor_name(q3, hf, "f"), gguf) << hf;
  EXPECT_EQ(gguf_to_hf_tensor_name(q3, "blk.1.ffn_up_exps.weight"), "model.layers.1.mlp.experts.*.up_proj.weight");

  const ModelFamily& q2 = *find_family("qwen2_moe");
  EXPECT_EQ(hf_to_gguf_tensor_name(q2, "model.layers.0.mlp.shared_expert.down_proj.weight", "f"),
            "blk.0.ffn_down_shexp.weight");
  EXPECT_EQ(hf_to_gguf_tensor_name(q2, "model.layers.0.mlp.shared_expert_gate.weight", "f"),
            "blk.0.ffn_gate_inp_shexp.weight");

  const ModelFamily& mx = *find_family("mixtral");
  EXPECT_EQ(mx.gguf_architecture, "llama");
  EXPECT_TRUE(mx.permute_qk);
  EXPECT_EQ(hf_to_gguf_tensor_name(mx, "model.layers.0.block_sparse_moe.experts.7.w1.weight", "f"),
            "blk.0.ffn_gate_exps.weight");
  EXPECT_EQ(hf_to_gguf_tensor_name(mx, "model.layers.0.block_sparse_moe.experts.7.w2.weight", "f"),
            "blk.0.ffn_down_exps.weight");
  EXPECT_EQ(hf_to_gguf_tensor_name(mx, "model.layers.0.block_sparse_moe.experts.7.w3.weight", "f"),
            "blk.0.ffn_up_exps.weight");
  // A GGUF "llama" file with experts is Mixtral, without them Llama.
  EXPECT_EQ(find_gguf_family("llama", true), &mx);
  EXPECT_EQ(find_gguf_family("llama", false)->name, "llama");
  EXPECT_EQ(supported_gguf_architectures(), "llama, qwen2, qwen3, qwen2moe, qwen3moe, qwen3next, qwen35, qwen35moe, gemma3");
}

TEST(MoeFamily, MlxPathsAreMlxLmStackedSwitchMlp) {
  EXPECT_EQ(find_family("qwen3_moe")->mlx_path("model.layers.2.mlp.experts.9.down_proj.weight"),
            "model.layers.2.mlp.switch_mlp.down_proj.weight");
  EXPECT_EQ(find_family("qwen2_moe")->mlx_path("model.layers.2.mlp.shared_expert.up_proj.weight"),
            "model.layers.2.mlp.shared_expert.up_proj.weight");
  const ModelFamily& mx = *find_family("mixtral");
  EXPECT_EQ(mx.mlx_path("model.layers.0.block_sparse_moe.experts.1.w1.weight"),
            "model.layers.0.block_sparse_moe.switch_mlp.gate_proj.weight");
  EXPECT_EQ(mx.mlx_path("model.layers.0.block_sparse_moe.experts.1.w2.weight"),
            "model.layers.0.block_sparse_moe.switch_mlp.down_proj.weight");
  EXPECT_EQ(mx.mlx_path("model.layers.0.block_sparse_moe.experts.1.w3.weight"),
            "model.layers.0.block_sparse_moe.switch_mlp.up_proj.weight");
}

TEST(MoeFamily, ShapesComeFromTheMoeFields) {
  const ModelConfig c = moe_config("qwen2_moe", {{"num_experts", 6},
                                                 {"moe_intermediate_size", 32},
                                                 {"shared_expert_intermediate_size", 48}});
  const ModelFamily& f = *find_family("qwen2_moe");
  const auto shape = [&](const char* n) { return f.expected_shape(c, n).value().shape; };
  EXPECT_EQ(shape("model.layers.0.mlp.gate.weight"), (std::vector<std::int64_t>{6, 64}));
  EXPECT_EQ(shape("model.layers.0.mlp.experts.5.up_proj.weight"), (std::vector<std::int64_t>{32, 64}));
  EXPECT_EQ(shape("model.layers.0.mlp.experts.5.down_proj.weight"), (std::vector<std::int64_t>{64, 32}));
  EXPECT_EQ(shape("model.layers.0.mlp.shared_expert.gate_proj.weight"), (std::vector<std::int64_t>{48, 64}));
  EXPECT_EQ(shape("model.layers.0.mlp.shared_expert_gate.weight"), (std::vector<std::int64_t>{1, 64}));
  EXPECT_EQ(shape("model.layers.0.self_attn.k_proj.weight"), (std::vector<std::int64_t>{32, 64}));
  EXPECT_EQ(f.expected_shape(c, "model.layers.0.mlp.experts.5.up_proj.weight")->formula,
            "[moe_intermediate_size, hidden_size]");
  // Mixtral's experts are intermediate_size wide.
  const ModelConfig m = moe_config("mixtral", {{"num_local_experts", 8}});
  EXPECT_EQ(find_family("mixtral")->expected_shape(m, "model.layers.1.block_sparse_moe.experts.0.w2.weight")->shape,
            (std::vector<std::int64_t>{64, 96}));
}

TEST(MoeFamily, MoeFieldsAreReadAndRefused) {
  const ModelFamily& f = *find_family("qwen3_moe");
  const auto read = [&](nlohmann::json extra) {
    const ModelConfig c = moe_config("qwen3_moe", std::move(extra));
    return read_family_fields(ConfigFields(c.raw, "cfg.json"), c, f).moe.value();
  };
  const MoeFields m = read({{"num_experts", 8}, {"moe_intermediate_size", 32}});
  EXPECT_EQ(m.experts, 8);
  EXPECT_EQ(m.experts_per_token, 2);
  EXPECT_FALSE(m.norm_topk);  // transformers' Qwen3MoeConfig default
  EXPECT_TRUE(read({{"num_experts", 8}, {"moe_intermediate_size", 32}, {"norm_topk_prob", true}}).norm_topk);
  const auto refused = [&](nlohmann::json extra, const std::string& field) {
    try {
      read(std::move(extra));
      ADD_FAILURE() << "accepted; wanted an error naming " << field;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("'" + field + "'"), std::string::npos) << e.what();
    }
  };
  refused({{"moe_intermediate_size", 32}}, "num_experts");
  refused({{"num_experts", 1}, {"moe_intermediate_size", 32}}, "num_experts_per_tok");  // top-2 of 1
  refused({{"num_experts", 8}, {"moe_intermediate_size", 32}, {"decoder_sparse_step", 2}}, "decoder_sparse_step");
  refused({{"num_experts", 8}, {"moe_intermediate_size", 32}, {"mlp_only_layers", {0}}}, "mlp_only_layers");
  // A dense family still refuses experts.
  const ModelConfig dense = moe_config("qwen3", {{"num_experts", 8}});
  EXPECT_THROW(read_family_fields(ConfigFields(dense.raw, "cfg.json"), dense, *find_family("qwen3")), Error);
}

}  // namespace
}  // namespace ramq
