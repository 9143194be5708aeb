// The qwen3_moe family: Hugging Face model_type "qwen3_moe" (Qwen3-30B-A3B, Qwen3-235B-A22B),
// llama.cpp architecture "qwen3moe": qwen3's attention (q/k norms) with a router "mlp.gate" and
// routed experts "mlp.experts.E.{gate,up,down}_proj" in every layer. llama.cpp's graph
// (src/models/qwen3moe.cpp, build_moe_ffn with norm_w true) always renormalises the top-k
// weights; transformers' Qwen3MoeConfig reads norm_topk_prob, default false.
#include "arch/dense_decoder.h"
#include "arch/moe_decoder.h"

namespace ramq {

namespace {

constexpr std::string_view kModelTypes[] = {"qwen3_moe"};

constexpr std::array<TensorName, 4> kMoeNames{{
    {"mlp.gate.weight", "ffn_gate_inp.weight"},
    {"mlp.experts.*.gate_proj.weight", "ffn_gate_exps.weight"},
    {"mlp.experts.*.up_proj.weight", "ffn_up_exps.weight"},
    {"mlp.experts.*.down_proj.weight", "ffn_down_exps.weight"},
}};
constexpr auto kLayerNames = concat_names(kDecoderAttentionNames, kMoeNames);

const TensorNames& names() {
  static const TensorNames n{"model.layers.", "blk.", decoder_global_names(), kLayerNames, decoder_unused_names()};
  return n;
}

constexpr MoeLayout kMoe{"num_experts", "moe_intermediate_size", "", std::nullopt, false, true};

}  // namespace

ModelFamily qwen3_moe_family() {
  ModelFamily f = moe_decoder_family("qwen3_moe", kModelTypes, "qwen3moe", "Qwen3MoeForCausalLM", names(), kMoe);
  f.qk_norm = true;
  f.sliding_window_flag = true;
  f.expected_shape = [](const ModelConfig& c, std::string_view n) { return moe_decoder_shape(names(), kMoe, c, n); };
  f.mlx_path = [](std::string_view n) { return moe_mlx_path(n, {}); };
  return f;
}

}  // namespace ramq
