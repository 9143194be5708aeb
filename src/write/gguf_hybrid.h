// write, internal: what the GGUF writer does for the hybrid linear-attention families
// (qwen3_next, qwen3_5, qwen3_5_moe), as llama.cpp's qwen3next / qwen35 / qwen35moe read them
// (llama.cpp src/models/qwen3next.cpp, qwen35.cpp, qwen35moe.cpp; its converter
// conversion/qwen.py, Qwen3NextModel and _LinearAttentionVReorderBase):
//  * zero-centred RMSNorm weights (attn_norm, post_attention_norm, output_norm, attn_q_norm,
//    attn_k_norm) are stored as 1 + w; the gated norm ssm_norm as is;
//  * ssm_a holds -exp(A_log); ssm_dt.bias holds dt_bias;
//  * ssm_conv1d is stored F32 with ne {kernel, channels} (ggml's ssm_conv reads float rows);
//  * qwen35 / qwen35moe: llama.cpp pairs value head h with key head h % key_heads ("tiled"),
//    Hugging Face with h / (value_heads / key_heads) ("grouped"), so every per-value-head axis is
//    re-tiled: the value rows of attn_qkv, the rows of attn_gate, ssm_beta, ssm_alpha, ssm_a,
//    ssm_dt.bias, the value channels of ssm_conv1d, and the columns of ssm_out. qwen3next keeps
//    the grouped order (its graph repeats each key head).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ramq/family_config.h"
#include "ramq/model_family.h"
#include "ramq/safetensors.h"

namespace ramq {

// How one source tensor becomes its GGUF tensor. The default is "as is".
struct GgufSourceLayout {
  enum class Values { AsIs, PlusOne, NegExp };
  Values values = Values::AsIs;
  bool force_f32 = false;               // stored F32 whatever the plan says
  std::vector<std::int64_t> ne;         // the GGUF ne when not the reversed source shape; else empty
  std::vector<std::int64_t> row_from;   // output row r is source row row_from[r]; empty: same order
  std::vector<std::int64_t> col_from;   // output column c is source column col_from[c]; empty: same

  bool changes_values() const {
    return values != Values::AsIs || !row_from.empty() || !col_from.empty();
  }
};

// The layout of tensor `t` of a hybrid family (linear-attention fields `la`, read once per
// model), written as `gguf_local` ("ssm_a", "attn_qkv.weight",
// "output_norm.weight", ...; the part after "blk.N." for a layer's tensor).
GgufSourceLayout gguf_hybrid_layout(const ModelFamily& family, const LinearAttentionFields& la, const TensorInfo& t,
                                    const std::string& gguf_local);

// `values` (a row-major source tensor of `cols` columns) as the layout stores it.
void apply_gguf_layout(const GgufSourceLayout& layout, std::vector<float>& values, std::int64_t cols);

// The value-head order llama.cpp's qwen35 graph expects, as a permutation of `heads` x `head_dim`
// rows: entry (j * key_heads + g) * head_dim + x is Hugging Face row (g * r + j) * head_dim + x,
// r = heads / key_heads. Identity when heads == key_heads.
std::vector<std::int64_t> tiled_value_heads(std::int64_t key_heads, std::int64_t heads, std::int64_t head_dim);

}  // namespace ramq
