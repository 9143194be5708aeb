// evaluate stage, internal: how a GGUF file of a hybrid linear-attention family (llama.cpp's
// qwen3next, qwen35, qwen35moe) is read back in the Hugging Face form the forward pass uses
// (facts: /work/notes/qwen35_facts.md §5.2-5.4, the inverse of llama.cpp's converter):
//  * names: the family's table, plus what the converter writes instead of the fused tensors:
//    qwen3next attn_qkv / attn_gate -> linear_attn.in_proj_qkv / in_proj_z (rows [q | k | v],
//    value heads grouped, as transformers' in_proj_qkvz after its regrouping), the expert stacks
//    ffn_{gate,up,down}_exps -> "mlp.experts.*.{gate,up,down}_proj.weight", and llama.cpp's
//    fused alternative ffn_gate_up_exps -> "mlp.experts.gate_up_proj" ([E, 2I, H]);
//  * values: the zero-centred norms stored as 1 + w are read as w; ssm_a (-exp(A_log)) as A_log;
//  * qwen35 / qwen35moe value heads, stored tiled (head j * nk + g), are read grouped (head
//    g * r + j): rows of in_proj_qkv's V part, in_proj_z, in_proj_b, in_proj_a, conv1d's V
//    channels; the entries of A_log and dt_bias; the columns of out_proj;
//  * ssm_conv1d {K, C} has the Hugging Face shape [C, 1, K].
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ramq/model_family.h"
#include "ramq/safetensors.h"

namespace ramq::eval {

enum class StoredValues { Same, PlusOne, NegatedExp };  // stored = w, 1 + w, -exp(w)

// A GGUF tensor seen as its Hugging Face counterpart of rows x cols (WeightTensor's view).
struct HybridTensorView {
  std::vector<std::int64_t> row_perm, col_perm;  // Hugging Face index -> stored index; empty: identity
  StoredValues values = StoredValues::Same;
  std::vector<std::int64_t> shape;  // the Hugging Face shape when it is not ne reversed; else empty
};

// The Hugging Face name of a hybrid family's GGUF tensor the family table does not map; nullopt
// if none.
std::optional<std::string> hybrid_gguf_alias(const ModelFamily& family, const std::string& gguf_name);

// The view of the tensor with Hugging Face name hf_name (rows x cols as stored).
HybridTensorView hybrid_tensor_view(const ModelFamily& family, const ModelConfig& config, const std::string& hf_name,
                                    std::int64_t rows, std::int64_t cols);

}  // namespace ramq::eval
