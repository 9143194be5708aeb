// The qwen2_moe family: Hugging Face model_type "qwen2_moe" (Qwen1.5-MoE-A2.7B, Qwen2-57B-A14B),
// llama.cpp architecture "qwen2moe": qwen2's attention (q/k/v biases) with a router, routed
// experts and a shared expert whose output is scaled by sigmoid(shared_expert_gate x).
// llama.cpp's graph (src/models/qwen2moe.cpp, build_moe_ffn with norm_w false) never
// renormalises the top-k weights; transformers' Qwen2MoeConfig reads norm_topk_prob, default
// false.
#include "arch/dense_decoder.h"
#include "arch/moe_decoder.h"

namespace ramq {

namespace {

constexpr std::string_view kModelTypes[] = {"qwen2_moe"};

constexpr std::array<TensorName, 8> kMoeNames{{
    {"mlp.gate.weight", "ffn_gate_inp.weight"},
    {"mlp.experts.*.gate_proj.weight", "ffn_gate_exps.weight"},
    {"mlp.experts.*.up_proj.weight", "ffn_up_exps.weight"},
    {"mlp.experts.*.down_proj.weight", "ffn_down_exps.weight"},
    {"mlp.shared_expert_gate.weight", "ffn_gate_inp_shexp.weight"},
    {"mlp.shared_expert.gate_proj.weight", "ffn_gate_shexp.weight"},
    {"mlp.shared_expert.up_proj.weight", "ffn_up_shexp.weight"},
    {"mlp.shared_expert.down_proj.weight", "ffn_down_shexp.weight"},
}};
constexpr auto kLayerNames = concat_names(kDecoderAttentionNames, kMoeNames);

const TensorNames& names() {
  static const TensorNames n{"model.layers.", "blk.", decoder_global_names(), kLayerNames, decoder_unused_names()};
  return n;
}

constexpr MoeLayout kMoe{"num_experts", "moe_intermediate_size", "shared_expert_intermediate_size", std::nullopt, false,
                         false};

}  // namespace

ModelFamily qwen2_moe_family() {
  ModelFamily f = moe_decoder_family("qwen2_moe", kModelTypes, "qwen2moe", "Qwen2MoeForCausalLM", names(), kMoe);
  f.qkv_bias = true;
  f.sliding_window_flag = true;
  f.expected_shape = [](const ModelConfig& c, std::string_view n) { return moe_decoder_shape(names(), kMoe, c, n); };
  f.mlx_path = [](std::string_view n) { return moe_mlx_path(n, {}); };
  return f;
}

}  // namespace ramq
