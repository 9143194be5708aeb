// One check of config.json against the tensors, run before any output is written, whatever the
// format (src/arch/config_check.cpp).
//
// For the model types of the families ramq knows (src/arch/: llama, mistral, qwen2, qwen3):
//  * every tensor of a known role (embed_tokens, lm_head, the norms, q/k/v/o projections and
//    their biases, q_norm/k_norm, gate/up/down and their biases) has the shape config.json
//    implies (hidden_size, intermediate_size, vocab_size, heads x head_dim);
//  * every "model.layers.N." tensor has N < num_hidden_layers, and every declared layer has all
//    the tensors its architecture needs (qwen2 q/k/v biases, qwen3 q_norm/k_norm, the biases
//    attention_bias / mlp_bias declare);
//  * lm_head.weight is present unless tie_word_embeddings is true;
//  * the config fields the writers and the evaluator read are well-formed: rope_scaling /
//    rope_parameters (an object or null, of a type ramq understands, with its numbers),
//    attention_bias / mlp_bias / use_sliding_window (booleans), hidden_act ("silu"),
//    sliding_window (an integer or null), partial_rotary_factor (1), expert counts (0), and
//    an even head_dim (rotary embeddings rotate pairs).
// The hybrid families (qwen3_next, qwen3_5, qwen3_5_moe) also: each layer's kind from layer_types
// (else full_attention_interval), the tensors of that kind present and none of the other kind,
// the linear-attention sizes (linear_num_*_heads, *_head_dim, linear_conv_kernel_dim), a partial
// rotary factor whose rotary width is even, no attention biases.
// For any other model_type the tensors are passed through as they are (MLX), so only what holds
// for every Hugging Face config is checked: rope_scaling / rope_parameters is an object or null
// and its type, if given, a string.
#pragma once

#include "ramq/safetensors.h"

namespace ramq {

// Throws ramq::Error naming config.json or the tensor's file, the tensor, and the disagreement.
void validate_config_against_tensors(const ModelReader& model);

}  // namespace ramq
