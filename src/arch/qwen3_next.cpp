// The qwen3_next family: Hugging Face model_type "qwen3_next" (Qwen3-Next-80B-A3B), llama.cpp
// architecture "qwen3next": hybrid layers (three Gated DeltaNet layers, then one gated
// full-attention layer, by default) with a router "mlp.gate", routed experts
// "mlp.experts.E.{gate,up,down}_proj" and a shared expert scaled by sigmoid(shared_expert_gate x)
// in every layer (transformers' Qwen3NextSparseMoeBlock). Its linear attention fuses the
// projections per key head: in_proj_qkvz [q_g, k_g, v_g, z_g] and in_proj_ba [b_g, a_g].
// llama.cpp reads in_proj_qkvz as its legacy fused "ssm_in" (src/models/qwen3next.cpp) or split
// into attn_qkv + attn_gate (its converter's choice); its graph always renormalises the top-k
// weights; transformers' Qwen3NextConfig reads norm_topk_prob, default true.
#include "arch/hybrid_decoder.h"
#include "arch/moe_decoder.h"

namespace ramq {

namespace {

constexpr std::string_view kModelTypes[] = {"qwen3_next"};

constexpr std::array<TensorName, 2> kLinearNames{{
    {"linear_attn.in_proj_qkvz.weight", "ssm_in.weight", Presence::LinearAttention},
    {"linear_attn.in_proj_ba.weight", "ssm_ba.weight", Presence::LinearAttention},
}};

constexpr std::array<TensorName, 4> kRoutedNames{{
    {"mlp.gate.weight", "ffn_gate_inp.weight"},
    {"mlp.experts.*.gate_proj.weight", "ffn_gate_exps.weight"},
    {"mlp.experts.*.up_proj.weight", "ffn_up_exps.weight"},
    {"mlp.experts.*.down_proj.weight", "ffn_down_exps.weight"},
}};

constexpr auto kLayerNames = concat_names(
    concat_names(concat_names(kHybridAttentionNames, kLinearNames), kLinearAttentionCommonNames),
    concat_names(kRoutedNames, kSharedExpertNames));

const TensorNames& names() {
  static const TensorNames n{"model.layers.", "blk.", decoder_global_names(), kLayerNames, decoder_unused_names()};
  return n;
}

constexpr MoeLayout kMoe{"num_experts", "moe_intermediate_size", "shared_expert_intermediate_size", std::nullopt, true,
                         true};

}  // namespace

ModelFamily qwen3_next_family() {
  ModelFamily f = hybrid_decoder_family("qwen3_next", kModelTypes, "qwen3next", "Qwen3NextForCausalLM", names(), &kMoe);
  f.expected_shape = [](const ModelConfig& c, std::string_view n) { return hybrid_decoder_shape(names(), &kMoe, c, n); };
  // mlx_lm models/qwen3_next.py sanitize(): routed experts stacked into mlp.switch_mlp.
  // mtp.* (which sanitize drops): "".
  f.mlx_path = [](std::string_view n) { return hybrid_left_out(n) ? "" : moe_mlx_path(n, {}); };
  return f;
}

}  // namespace ramq
