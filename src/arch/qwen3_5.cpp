// The qwen3_5 and qwen3_5_moe families: Hugging Face model_type "qwen3_5" (Qwen3.5 dense, e.g.
// 9B, 27B) and "qwen3_5_moe" (Qwen3.5-35B-A3B, 397B-A17B), llama.cpp architectures "qwen35" and
// "qwen35moe". Released checkpoints are Qwen3_5(Moe)ForConditionalGeneration: config.json wraps
// the text model's fields in "text_config" (read there, read/config_fields.h) and the text
// model's tensors sit under "model.language_model."; the vision tower ("model.visual.*") and the
// multi-token-prediction block ("mtp.*") have no role here and are not shape-checked. Layers are
// hybrid as qwen3_next's, with the linear-attention projections unfused (in_proj_qkv rows
// [q; k; v], in_proj_z, in_proj_b, in_proj_a). qwen3_5: a dense MLP in every layer; qwen3_5_moe:
// router, routed experts (stored fused as 3-D "mlp.experts.gate_up_proj" [experts, 2 x
// moe_intermediate_size, hidden] (rows [gate; up]) and "mlp.experts.down_proj", which the reader
// presents per expert, read/stacked_experts.h), and a gated shared expert in every layer; its
// router always renormalises the top-k weights (transformers' Qwen3_5MoeTopKRouter, llama.cpp's
// graph).
#include "arch/hybrid_decoder.h"

namespace ramq {

namespace {

constexpr std::string_view kDenseTypes[] = {"qwen3_5"};
constexpr std::string_view kMoeTypes[] = {"qwen3_5_moe"};

constexpr TensorName kGlobalNames[] = {
    {"model.language_model.embed_tokens.weight", "token_embd.weight"},
    {"model.language_model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight", Presence::Untied},
};

constexpr std::array<TensorName, 4> kLinearNames{{
    {"linear_attn.in_proj_qkv.weight", "attn_qkv.weight", Presence::LinearAttention},
    {"linear_attn.in_proj_z.weight", "attn_gate.weight", Presence::LinearAttention},
    {"linear_attn.in_proj_b.weight", "ssm_beta.weight", Presence::LinearAttention},
    {"linear_attn.in_proj_a.weight", "ssm_alpha.weight", Presence::LinearAttention},
}};

constexpr auto kAttentionNames =
    concat_names(concat_names(kHybridAttentionNames, kLinearNames), kLinearAttentionCommonNames);

constexpr std::array<TensorName, 3> kDenseMlpNames{{
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
}};

// The reader presents the fused 3-D stacks as per-expert tensors (read/stacked_experts.h), so
// every stage streams one expert at a time; GGUF stacks them as the converter does
// (ffn_gate_exps + ffn_up_exps, not llama.cpp's alternative fused ffn_gate_up_exps).
constexpr std::array<TensorName, 4> kRoutedNames{{
    {"mlp.gate.weight", "ffn_gate_inp.weight"},
    {"mlp.experts.*.gate_proj.weight", "ffn_gate_exps.weight"},
    {"mlp.experts.*.up_proj.weight", "ffn_up_exps.weight"},
    {"mlp.experts.*.down_proj.weight", "ffn_down_exps.weight"},
}};

constexpr auto kDenseLayerNames = concat_names(kAttentionNames, kDenseMlpNames);
constexpr auto kMoeLayerNames = concat_names(kAttentionNames, concat_names(kRoutedNames, kSharedExpertNames));

constexpr std::string_view kPrefix = "model.language_model.layers.";

const TensorNames& dense_names() {
  static const TensorNames n{kPrefix, "blk.", kGlobalNames, kDenseLayerNames, decoder_unused_names()};
  return n;
}
const TensorNames& moe_names() {
  static const TensorNames n{kPrefix, "blk.", kGlobalNames, kMoeLayerNames, decoder_unused_names()};
  return n;
}

constexpr MoeLayout kMoe{"num_experts", "moe_intermediate_size", "shared_expert_intermediate_size", true, true, true};

}  // namespace

ModelFamily qwen3_5_family() {
  ModelFamily f = hybrid_decoder_family("qwen3_5", kDenseTypes, "qwen35", "Qwen3_5ForConditionalGeneration",
                                        dense_names(), nullptr);
  f.expected_shape = [](const ModelConfig& c, std::string_view n) {
    return hybrid_decoder_shape(dense_names(), nullptr, c, n);
  };
  f.mlx_path = qwen3_5_mlx_path;
  return f;
}

ModelFamily qwen3_5_moe_family() {
  ModelFamily f = hybrid_decoder_family("qwen3_5_moe", kMoeTypes, "qwen35moe", "Qwen3_5MoeForConditionalGeneration",
                                        moe_names(), &kMoe);
  f.expected_shape = [](const ModelConfig& c, std::string_view n) { return hybrid_decoder_shape(moe_names(), &kMoe, c, n); };
  f.mlx_path = qwen3_5_mlx_path;
  return f;
}

}  // namespace ramq
