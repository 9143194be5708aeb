// arch: the q/k row permutation of families whose llama.cpp architecture pairs rotary dimensions
// differently from Hugging Face (ModelFamily::permute_qk: llama and mistral).
#pragma once

#include <cstdint>
#include <string>

#include "ramq/model_family.h"

namespace ramq {

// convert_hf_to_gguf.py LlamaModel.permute: the rows of a [rows, cols] row-major matrix are
// viewed as (n_head, 2, head_dim/2) and the two inner axes swapped, turning Hugging Face's
// rotate_half layout (pairs i, i + head_dim/2) into llama.cpp's interleaved pairs (2i, 2i+1):
//   out row h*head_dim + 2*i + j = in row h*head_dim + j*head_dim/2 + i.
// q_proj uses num_attention_heads, k_proj num_key_value_heads; biases are [rows, 1].
// Requires rows % (2 * n_head) == 0 (throws std::invalid_argument otherwise); src != dst.
void llama_permute_qk(const float* src, float* dst, std::int64_t rows, std::int64_t cols, std::int64_t n_head);
// The inverse (GGUF -> Hugging Face), for the evaluator.
void llama_unpermute_qk(const float* src, float* dst, std::int64_t rows, std::int64_t cols, std::int64_t n_head);
// Heads to permute a Hugging Face tensor with for this family: num_attention_heads for the q
// projection's weight and bias, num_key_value_heads for k's, 0 when the tensor is not permuted.
std::int64_t qk_permute_heads(const ModelFamily& family, const ModelConfig& cfg, const std::string& hf_name);

}  // namespace ramq
