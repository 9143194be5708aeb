// The one tensor-role classifier (src/arch/tensor_role.h): roles, layers and experts of Hugging
// Face, Mixtral-style and llama.cpp names, and what is never quantized.
#include <gtest/gtest.h>

#include <string>

#include "ramq/tensor_role.h"

namespace ramq {
namespace {

TensorRole role(const std::string& name) { return classify_tensor(name).role; }

TEST(TensorRoleClassifier, DenseDecoderNames) {
  EXPECT_EQ(role("model.embed_tokens.weight"), TensorRole::Embedding);
  EXPECT_EQ(role("lm_head.weight"), TensorRole::Head);
  EXPECT_EQ(role("model.norm.weight"), TensorRole::Norm);
  const std::string p = "model.layers.7.";
  EXPECT_EQ(role(p + "input_layernorm.weight"), TensorRole::Norm);
  EXPECT_EQ(role(p + "post_attention_layernorm.weight"), TensorRole::Norm);
  EXPECT_EQ(role(p + "self_attn.q_proj.weight"), TensorRole::AttnQ);
  EXPECT_EQ(role(p + "self_attn.k_proj.weight"), TensorRole::AttnK);
  EXPECT_EQ(role(p + "self_attn.v_proj.weight"), TensorRole::AttnV);
  EXPECT_EQ(role(p + "self_attn.o_proj.weight"), TensorRole::AttnOut);
  EXPECT_EQ(role(p + "self_attn.q_norm.weight"), TensorRole::QNorm);
  EXPECT_EQ(role(p + "self_attn.k_norm.weight"), TensorRole::KNorm);
  EXPECT_EQ(role(p + "mlp.gate_proj.weight"), TensorRole::FfnGate);
  EXPECT_EQ(role(p + "mlp.up_proj.weight"), TensorRole::FfnUp);
  EXPECT_EQ(role(p + "mlp.down_proj.weight"), TensorRole::FfnDown);
  EXPECT_EQ(classify_tensor(p + "mlp.down_proj.weight").layer, 7);
  EXPECT_EQ(classify_tensor("model.norm.weight").layer, -1);
}

TEST(TensorRoleClassifier, BiasesKeepTheirModulesRole) {
  const TensorPlace b = classify_tensor("model.layers.0.self_attn.q_proj.bias");
  EXPECT_TRUE(b.bias);
  EXPECT_EQ(b.role, TensorRole::AttnQ);
  EXPECT_EQ(b.module, "q_proj");
  EXPECT_FALSE(classify_tensor("model.layers.0.self_attn.q_proj.weight").bias);
}

TEST(TensorRoleClassifier, FusedAndMixtralSpellings) {
  EXPECT_EQ(role("model.layers.0.self_attn.qkv_proj.weight"), TensorRole::AttnQkv);
  EXPECT_EQ(role("model.layers.0.mlp.gate_up_proj.weight"), TensorRole::FfnGateUp);
  EXPECT_EQ(role("model.layers.1.block_sparse_moe.experts.3.w1.weight"), TensorRole::FfnGate);
  EXPECT_EQ(role("model.layers.1.block_sparse_moe.experts.3.w2.weight"), TensorRole::FfnDown);
  EXPECT_EQ(role("model.layers.1.block_sparse_moe.experts.3.w3.weight"), TensorRole::FfnUp);
  EXPECT_EQ(role("model.layers.1.block_sparse_moe.gate.weight"), TensorRole::Router);
  EXPECT_EQ(role("model.layers.1.mlp.router.weight"), TensorRole::Router);
  EXPECT_EQ(role("model.layers.1.mlp.shared_expert_gate.weight"), TensorRole::Router);
  EXPECT_EQ(role("transformer.wte.weight"), TensorRole::Embedding);
  EXPECT_EQ(role("model.layers.0.attention.wq.weight"), TensorRole::AttnQ);
  EXPECT_EQ(role("model.layers.0.attn.out_proj.weight"), TensorRole::AttnOut);
  EXPECT_EQ(role("model.layers.0.mlp.c_fc.weight"), TensorRole::Other);
  EXPECT_EQ(classify_tensor("model.layers.0.mlp.c_fc.weight").module, "c_fc");
}

TEST(TensorRoleClassifier, ExpertsAndSharedExperts) {
  const TensorPlace e = classify_tensor("model.layers.2.mlp.experts.5.down_proj.weight");
  EXPECT_EQ(e.role, TensorRole::FfnDown);
  EXPECT_EQ(e.layer, 2);
  EXPECT_EQ(e.expert, 5);
  EXPECT_TRUE(e.routed_expert());
  const TensorPlace s = classify_tensor("model.layers.2.mlp.shared_expert.down_proj.weight");
  EXPECT_TRUE(s.shared_expert);
  EXPECT_FALSE(s.routed_expert());
  const TensorPlace stacked = classify_tensor("model.layers.2.mlp.experts.gate_up_proj");
  EXPECT_EQ(stacked.role, TensorRole::FfnGateUp);
  EXPECT_TRUE(stacked.in_experts);
  EXPECT_EQ(stacked.expert, -1);
}

TEST(TensorRoleClassifier, LlamaCppSpellings) {
  EXPECT_EQ(role("token_embd.weight"), TensorRole::Embedding);
  EXPECT_EQ(role("output.weight"), TensorRole::Head);
  EXPECT_EQ(role("output_norm.weight"), TensorRole::Norm);
  EXPECT_EQ(role("rope_freqs.weight"), TensorRole::Other);
  EXPECT_EQ(role("blk.4.attn_q.weight"), TensorRole::AttnQ);
  EXPECT_EQ(role("blk.4.attn_output.weight"), TensorRole::AttnOut);
  EXPECT_EQ(role("blk.4.attn_q_norm.weight"), TensorRole::QNorm);
  EXPECT_EQ(role("blk.4.attn_k_norm.weight"), TensorRole::KNorm);
  EXPECT_EQ(role("blk.4.ffn_gate_inp.weight"), TensorRole::Router);
  EXPECT_EQ(classify_tensor("blk.4.attn_q.weight").layer, 4);
  const TensorPlace exps = classify_tensor("blk.4.ffn_down_exps.weight");
  EXPECT_EQ(exps.role, TensorRole::FfnDown);
  EXPECT_TRUE(exps.routed_expert());
  const TensorPlace shexp = classify_tensor("blk.4.ffn_up_shexp.weight");
  EXPECT_EQ(shexp.role, TensorRole::FfnUp);
  EXPECT_TRUE(shexp.shared_expert);
}

TEST(TensorRoleClassifier, LayerIndexIsAWholeComponent) {
  EXPECT_EQ(classify_tensor("transformer.h.11.attn.c_attn.weight").layer, 11);
  EXPECT_EQ(classify_tensor("model.blocks.3.ffn.weight").layer, 3);
  EXPECT_EQ(classify_tensor("model.sublayers.3.ffn.weight").layer, -1);
  EXPECT_EQ(classify_tensor("model.layers.x.mlp.up_proj.weight").layer, -1);
}

TEST(TensorRoleClassifier, NeverQuantized) {
  for (const TensorRole r : {TensorRole::Norm, TensorRole::QNorm, TensorRole::KNorm, TensorRole::Router})
    EXPECT_TRUE(is_never_quantized(r));
  for (const TensorRole r : {TensorRole::Embedding, TensorRole::Head, TensorRole::AttnQ, TensorRole::FfnDown,
                             TensorRole::AttnQkv, TensorRole::Other})
    EXPECT_FALSE(is_never_quantized(r));
}

}  // namespace
}  // namespace ramq
