// The phi3 family: Hugging Face model_type "phi3" (Phi-3, Phi-3.5, Phi-4, Phi-4-mini), llama.cpp
// architecture "phi3". The llama decoder with two fused projections, kept fused in every output
// as llama.cpp and mlx_lm keep them:
//  * self_attn.qkv_proj.weight [(num_attention_heads + 2 num_key_value_heads) x head_dim,
//    hidden_size]: q rows, then k rows, then v rows (transformers modeling_phi3.py
//    Phi3Attention.forward slices qkv at query_pos = heads x head_dim and + kv x head_dim);
//    llama.cpp's attn_qkv.weight (gguf-py tensor_mapping.py MODEL_TENSOR.ATTN_QKV).
//  * mlp.gate_up_proj.weight [2 x intermediate_size, hidden_size]: gate rows, then up rows
//    (Phi3MLP.forward: gate, up = chunk(2)); llama.cpp's ffn_up.weight with 2 x n_ff rows, whose
//    graph (LLM_FFN_SWIGLU on ffn_up alone) applies silu to the first half.
// Rotary embeddings in the NeoX (half-split) layout: no q/k permutation (llama-model.cpp
// LLAMA_ROPE_TYPE_NEOX for LLM_ARCH_PHI3).
#include "arch/dense_decoder.h"

namespace ramq {

namespace {

constexpr std::string_view kModelTypes[] = {"phi3"};

constexpr TensorName kLayerNames[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.qkv_proj.weight", "attn_qkv.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
};

const TensorNames& phi3_names() {
  static const TensorNames names{"model.layers.", "blk.", decoder_global_names(), kLayerNames,
                                 decoder_unused_names()};
  return names;
}

std::optional<ExpectedShape> phi3_shape(const ModelConfig& c, std::string_view hf_name) {
  std::string_view local = hf_name;
  if (!local.starts_with("model.layers.")) return dense_decoder_shape(c, hf_name);
  local.remove_prefix(std::string_view("model.layers.").size());
  if (!take_layer_index(local)) return std::nullopt;
  const std::int64_t h = c.hidden_size;
  if (local == "self_attn.qkv_proj.weight")
    return ExpectedShape{{(c.num_attention_heads + 2 * c.num_key_value_heads) * c.head_dim, h},
                         "[(num_attention_heads + 2 num_key_value_heads) x head_dim, hidden_size]"};
  if (local == "mlp.gate_up_proj.weight")
    return ExpectedShape{{2 * c.intermediate_size, h}, "[2 intermediate_size, hidden_size]"};
  if (local == "self_attn.q_proj.weight" || local == "self_attn.k_proj.weight" || local == "self_attn.v_proj.weight" ||
      local == "mlp.gate_proj.weight" || local == "mlp.up_proj.weight")
    return std::nullopt;  // not phi3 tensors: the check reports them as unknown
  return dense_layer_shape(local, c);
}

}  // namespace

ModelFamily phi3_family() {
  ModelFamily f = dense_decoder_family("phi3", kModelTypes, "phi3", "Phi3ForCausalLM");
  f.names = &phi3_names();
  f.expected_shape = phi3_shape;
  // mlx_lm models/phi3.py keeps qkv_proj and gate_up_proj fused under their Hugging Face names
  // (Attention.qkv_proj, MLP.gate_up_proj; no sanitize()): the paths are the names.
  f.phi3_rope = true;
  return f;
}

}  // namespace ramq
