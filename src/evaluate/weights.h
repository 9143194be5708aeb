// evaluate stage, internal: where the forward pass gets its float32 weights from. Tensors are
// addressed by their Hugging Face names ("model.layers.0.self_attn.q_proj.weight"), whatever
// the storage (Hugging Face safetensors, ramq MLX output, GGUF).
//
// Weights stay in their stored form (mapped from the file) and are decoded on demand, a range
// of rows at a time, into a caller's scratch buffer: the forward pass never holds more than a
// few row chunks of float32 weights, so memory is the mapped file plus activations.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ramq/safetensors.h"

namespace ramq::eval {

// One tensor seen as a row-major float32 matrix of rows() x cols(): cols is the last dimension
// of the logical shape (1 for a scalar), rows the product of the others.
class WeightTensor {
 public:
  WeightTensor(std::int64_t rows, std::int64_t cols) : rows_(rows), cols_(cols) {}
  virtual ~WeightTensor() = default;
  WeightTensor(const WeightTensor&) = delete;
  WeightTensor& operator=(const WeightTensor&) = delete;

  std::int64_t rows() const { return rows_; }
  std::int64_t cols() const { return cols_; }

  // Rows [first, first + count) as count x cols() float32 values, row-major. Returns a pointer
  // into the mapped file when the tensor is stored as aligned little-endian float32 (scratch is
  // then left alone), else decodes into `scratch` (grown to at least count * cols() elements)
  // and returns scratch.data(). The values are the tensor's exact dequantization, the same for
  // any row range. Concurrent calls with distinct scratch buffers are safe. The pointer is valid
  // while the source lives and scratch is not modified. Requires 0 <= first, count >= 1,
  // first + count <= rows() (throws std::out_of_range otherwise).
  const float* read_rows(std::int64_t first, std::int64_t count, std::vector<float>& scratch) const;

 protected:
  // read_rows after the range check. Implementations that decode get their output space with
  // room(scratch, count).
  virtual const float* decode(std::int64_t first, std::int64_t count, std::vector<float>& scratch) const = 0;
  // scratch grown to at least count * cols() elements; returns scratch.data().
  float* room(std::vector<float>& scratch, std::int64_t count) const;

 private:
  std::int64_t rows_, cols_;
};

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // Architecture facts (config.raw holds the whole config.json, or an equivalent built from
  // GGUF metadata with the same Hugging Face field names).
  virtual const ModelConfig& config() const = 0;
  // The file that config() came from, for error messages ("<dir>/config.json", "<x>.gguf").
  virtual std::string config_file() const = 0;
  virtual bool has(const std::string& hf_name) const = 0;
  // Logical (dequantized) shape, e.g. [out, in] for a linear weight. Throws ramq::Error if absent.
  virtual std::vector<std::int64_t> shape(const std::string& hf_name) const = 0;
  // The tensor, validated once in full: its layout, and every value decoded (a bounded chunk at
  // a time, nothing kept). Throws ramq::Error naming the file and tensor if it is absent,
  // malformed, or holds NaN/Inf. The view refers to the source, which must outlive it.
  virtual std::unique_ptr<WeightTensor> tensor(const std::string& hf_name) const = 0;
  // One line, e.g. "MLX (4-bit g64, 2 overrides) /path/to/dir".
  virtual std::string description() const = 0;

  // The whole tensor as row-major float32 with shape(hf_name) (a copy: for small tensors such
  // as norms and biases, and for tests). Throws like tensor().
  std::vector<float> load(const std::string& hf_name) const;

  // The routed experts 0..count-1 of one projection, each [out, in], by the stack key of their
  // Hugging Face names ("model.layers.0.mlp.experts.*.up_proj.weight"): the tensors with "*"
  // replaced by the index, or, in a source that stores them stacked ([count, out, in] under the
  // key itself: GGUF, mlx_lm's switch_mlp), row slices of that one tensor, validated once.
  // Throws like tensor(); Error when neither form is there or the shapes disagree.
  virtual std::vector<std::unique_ptr<WeightTensor>> experts(const std::string& stack_key, std::int64_t count,
                                                             std::int64_t out, std::int64_t in) const;
};

// Rows [first, first + count) of a tensor that `whole` shares, as a tensor of its own (one expert
// of a stacked tensor).
std::unique_ptr<WeightTensor> row_slice(std::shared_ptr<const WeightTensor> whole, std::int64_t first,
                                        std::int64_t count);

// `weights` with fused projections (Phi-3's self_attn.qkv_proj, mlp.gate_up_proj; GGUF attn_qkv
// and its 2 x n_ff-row ffn_up) also readable under the split names the forward pass uses
// (self_attn.q_proj/k_proj/v_proj, mlp.gate_proj/up_proj) as row slices; other names as they are
// (src/evaluate/fused_split_weights.cpp).
std::unique_ptr<WeightSource> split_fused_weights(std::unique_ptr<WeightSource> weights);

// Elements per validation chunk (the bounded scratch that tensor() decodes into).
inline constexpr std::int64_t kValidateChunkElements = std::int64_t{1} << 16;

// Throws ramq::Error(file, tensor, "contains NaN at element i") (or Inf) for the first
// non-finite value of v; `offset` is the element index of v[0] within the tensor.
void require_finite(const float* v, std::size_t n, std::uint64_t offset, const std::string& file,
                    const std::string& tensor);

// A Hugging Face directory (F32/F16/BF16 safetensors) or a ramq/mlx_lm MLX output directory
// (U32 "<module>.weight" + "<module>.scales" + "<module>.biases", config.json "quantization"
// block). Quantized tensors are dequantized with the MLX affine rule.
std::unique_ptr<WeightSource> open_safetensors_weights(const std::filesystem::path& dir);

// A GGUF file (src/evaluate/gguf_weights.cpp):
//  * config(): a ModelConfig with the Hugging Face meanings (model_type "llama"/"qwen2"/"qwen3"/
//    "mistral", hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
//    num_key_value_heads, head_dim, vocab_size, rms_norm_eps, rope_theta, tie_word_embeddings)
//    and config.raw a JSON object holding at least "model_type" plus any of "rope_scaling",
//    "attention_bias" the model needs (the forward pass reads extras from raw).
//  * Tensor names are the Hugging Face names: token_embd.weight -> model.embed_tokens.weight,
//    blk.N.attn_q.weight -> model.layers.N.self_attn.q_proj.weight, attn_k/attn_v/attn_output
//    -> k_proj/v_proj/o_proj, attn_q_norm/attn_k_norm -> self_attn.q_norm/k_norm,
//    ffn_gate/ffn_up/ffn_down -> mlp.gate_proj/up_proj/down_proj, attn_norm ->
//    input_layernorm, ffn_norm -> post_attention_layernorm, output_norm -> model.norm,
//    output -> lm_head (absent when tied). Biases: ".bias" likewise.
//  * Shapes are Hugging Face shapes ([out, in], row-major), i.e. GGUF ne reversed.
//  * Rotary convention: the forward pass uses Hugging Face rotate_half (pairs i, i + head_dim/2);
//    the q_proj/k_proj rows of "llama" files (permuted to llama.cpp's interleaved pairs by the
//    writer) are read back in Hugging Face order (llama_unpermute_qk).
//  * Quantized GGUF types are decoded block by block with gguf_decode_rows.
std::unique_ptr<WeightSource> open_gguf_weights(const std::filesystem::path& gguf_file);

// `path` as load_language_model reads it: a .gguf file (any case of the extension), else a model
// directory (open_safetensors_weights). Error when it does not exist or is neither
// (src/evaluate/evaluate.cpp).
bool is_gguf_path(const std::filesystem::path& path);
std::unique_ptr<WeightSource> open_model_weights(const std::filesystem::path& path);

}  // namespace ramq::eval
