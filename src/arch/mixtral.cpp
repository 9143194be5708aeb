// The mixtral family: Hugging Face model_type "mixtral" (Mixtral 8x7B, 8x22B), llama.cpp
// architecture "llama" with experts: llama's attention (q/k rows permuted) with a router
// "block_sparse_moe.gate" and routed experts "block_sparse_moe.experts.E.w{1,2,3}" (w1 gate,
// w2 down, w3 up). Its router takes the softmax of the top-k logits, i.e. always renormalised
// (transformers' MixtralSparseMoeBlock; llama.cpp's llama graph, build_moe_ffn with norm_w true).
// mlx_lm (models/mixtral.py, sanitize) stacks the experts into block_sparse_moe.switch_mlp with
// w1/w2/w3 renamed gate_proj/down_proj/up_proj.
#include "arch/dense_decoder.h"
#include "arch/moe_decoder.h"

namespace ramq {

namespace {

constexpr std::string_view kModelTypes[] = {"mixtral"};

constexpr std::array<TensorName, 4> kMoeNames{{
    {"block_sparse_moe.gate.weight", "ffn_gate_inp.weight"},
    {"block_sparse_moe.experts.*.w1.weight", "ffn_gate_exps.weight"},
    {"block_sparse_moe.experts.*.w3.weight", "ffn_up_exps.weight"},
    {"block_sparse_moe.experts.*.w2.weight", "ffn_down_exps.weight"},
}};
constexpr auto kLayerNames = concat_names(kDecoderAttentionNames, kMoeNames);

const TensorNames& names() {
  static const TensorNames n{"model.layers.", "blk.", decoder_global_names(), kLayerNames, decoder_unused_names()};
  return n;
}

constexpr MoeLayout kMoe{"num_local_experts", "intermediate_size", "", true, true, true};

constexpr ProjectionRename kMlxRenames[] = {{"w1", "gate_proj"}, {"w2", "down_proj"}, {"w3", "up_proj"}};

}  // namespace

ModelFamily mixtral_family() {
  ModelFamily f = moe_decoder_family("mixtral", kModelTypes, "llama", "MixtralForCausalLM", names(), kMoe);
  f.permute_qk = true;
  f.gguf_vocab_and_rope_keys = true;
  f.expected_shape = [](const ModelConfig& c, std::string_view n) { return moe_decoder_shape(names(), kMoe, c, n); };
  f.mlx_path = [](std::string_view n) { return moe_mlx_path(n, kMlxRenames); };
  return f;
}

}  // namespace ramq
