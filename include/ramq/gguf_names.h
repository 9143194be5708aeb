// arch: Hugging Face <-> llama.cpp (GGUF) tensor names and dimension order, from a family's
// name table (ModelFamily::names).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ramq/model_family.h"

namespace ramq {

// llama.cpp name of a Hugging Face tensor: "model.layers.3.self_attn.q_proj.weight" ->
// "blk.3.attn_q.weight". Returns "" for tensors llama.cpp does not use and that are skipped
// (rotary_emb.inv_freq buffers, and the tensors a family leaves out: ModelFamily::left_out). Every routed expert of one projection maps to the same stacked
// tensor ("...experts.3.up_proj.weight" -> "blk.N.ffn_up_exps.weight"; expert_stack_key gives
// its place). Throws Error(file, hf_name, ...) for unknown names.
std::string hf_to_gguf_tensor_name(const ModelFamily& family, const std::string& hf_name, const std::string& file);
// Inverse map; nullopt for names with no Hugging Face counterpart (e.g. "rope_freqs.weight").
// A stacked expert tensor maps to its stack key ("model.layers.N.mlp.experts.*.up_proj.weight").
std::optional<std::string> gguf_to_hf_tensor_name(const ModelFamily& family, const std::string& gguf_name);
// The same for a GGUF file of any architecture (the report): the first family that knows the name.
std::optional<std::string> gguf_to_hf_tensor_name(const std::string& gguf_name);

// The GGUF tensors llama.cpp's architecture needs in a file of `layers` layers: the family's
// tensors present in every checkpoint, plus its q/k/v biases (qkv_bias) and q/k norms (qk_norm);
// the global ones first, then each layer's.
std::vector<std::string> required_gguf_tensors(const ModelFamily& family, std::int64_t layers);
// Where a per-layer GGUF tensor (the name after "blk.N.") goes within its block in llama.cpp's
// file order: the family table's first row of its module ("attn_q.bias" with "attn_q.weight");
// after all of them for a module not in the table.
std::int64_t gguf_block_rank(const ModelFamily& family, std::string_view local);

// ggml ne order is the reverse of the row-major shape: HF [out, in] -> ne [in, out]. The bytes of
// a row-major matrix are already in ggml order.
std::vector<std::int64_t> gguf_ne_from_shape(const std::vector<std::int64_t>& shape);
std::vector<std::int64_t> shape_from_gguf_ne(const std::vector<std::int64_t>& ne);

}  // namespace ramq
