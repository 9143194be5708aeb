// arch, internal: what the dense decoder families (llama, qwen2, qwen3) share: Hugging Face's
// LlamaForCausalLM tensor layout, its llama.cpp names and the shapes config.json implies.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ramq/model_family.h"

namespace ramq {

// model.embed_tokens / model.layers.N.{input_layernorm, self_attn.{q,k,v,o}_proj (+ biases),
// self_attn.{q,k}_norm, post_attention_layernorm, mlp.{gate,up,down}_proj (+ biases)} /
// model.norm / lm_head, and llama.cpp's token_embd / blk.N.* / output_norm / output.
const TensorNames& dense_decoder_names();

// [vocab_size, hidden_size] embeddings and head, [hidden_size] norms, [heads x head_dim,
// hidden_size] projections, ... (ExpectedShape's formula in config.json's field names).
std::optional<ExpectedShape> dense_decoder_shape(const ModelConfig& c, std::string_view hf_name);

// A family of the dense decoder layout: its names, shapes, never-quantized roles and mlx_lm
// paths (the Hugging Face names), for the family's file to complete with its own facts.
ModelFamily dense_decoder_family(std::string_view name, std::span<const std::string_view> model_types,
                                 std::string_view gguf_architecture, std::string_view hf_architecture);

}  // namespace ramq
