// arch, internal: what the dense decoder families (llama, qwen2, qwen3) share: Hugging Face's
// LlamaForCausalLM tensor layout, its llama.cpp names and the shapes config.json implies.
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ramq/model_family.h"

namespace ramq {

// The per-layer rows every decoder family here shares, in llama.cpp's file order: the attention
// norm, q/k/v/o projections with their biases, q/k norms and the MLP norm.
inline constexpr std::array<TensorName, 12> kDecoderAttentionNames{{
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias", Presence::QkvBias},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.k_proj.bias", "attn_k.bias", Presence::QkvBias},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.v_proj.bias", "attn_v.bias", Presence::QkvBias},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.o_proj.bias", "attn_output.bias", Presence::AttentionBias},
    {"self_attn.q_norm.weight", "attn_q_norm.weight", Presence::QkNorm},
    {"self_attn.k_norm.weight", "attn_k_norm.weight", Presence::QkNorm},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
}};

// The rows of a and then b: a family's per-layer table from shared parts.
template <std::size_t A, std::size_t B>
constexpr std::array<TensorName, A + B> concat_names(const std::array<TensorName, A>& a,
                                                     const std::array<TensorName, B>& b) {
  std::array<TensorName, A + B> out{};
  for (std::size_t i = 0; i < A; ++i) out[i] = a[i];
  for (std::size_t i = 0; i < B; ++i) out[A + i] = b[i];
  return out;
}

// The global names (embedding, final norm, untied head) and the per-layer buffers llama.cpp has
// no use for, of every decoder family here.
std::span<const TensorName> decoder_global_names();
std::span<const std::string_view> decoder_unused_names();

// model.embed_tokens / model.layers.N.{input_layernorm, self_attn.{q,k,v,o}_proj (+ biases),
// self_attn.{q,k}_norm, post_attention_layernorm, mlp.{gate,up,down}_proj (+ biases)} /
// model.norm / lm_head, and llama.cpp's token_embd / blk.N.* / output_norm / output.
const TensorNames& dense_decoder_names();
// Its per-layer rows alone (attention, norms and the dense MLP), for families that wrap the same
// layers under other global names (mistral3).
std::span<const TensorName> dense_decoder_layer_names();

// [vocab_size, hidden_size] embeddings and head, [hidden_size] norms, [heads x head_dim,
// hidden_size] projections, ... (ExpectedShape's formula in config.json's field names).
std::optional<ExpectedShape> dense_decoder_shape(const ModelConfig& c, std::string_view hf_name);

// The shape of a per-layer tensor from its name after "model.layers.N." (attention, norms and
// the dense MLP); nullopt for other names.
std::optional<ExpectedShape> dense_layer_shape(std::string_view local, const ModelConfig& c);

// A family of the dense decoder layout: its names, shapes, never-quantized roles and mlx_lm
// paths (the Hugging Face names), for the family's file to complete with its own facts.
ModelFamily dense_decoder_family(std::string_view name, std::span<const std::string_view> model_types,
                                 std::string_view gguf_architecture, std::string_view hf_architecture);

}  // namespace ramq
