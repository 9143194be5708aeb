// evaluate stage, internal: where the forward pass gets its float32 weights from. Tensors are
// addressed by their Hugging Face names ("model.layers.0.self_attn.q_proj.weight"), whatever
// the storage (Hugging Face safetensors, ramq MLX output, GGUF).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ramq/safetensors.h"

namespace ramq::eval {

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
  // The tensor as row-major float32 with shape(hf_name). Throws ramq::Error naming the file and
  // tensor if it is absent, malformed, or holds NaN/Inf.
  virtual std::vector<float> load(const std::string& hf_name) const = 0;
  // One line, e.g. "MLX (4-bit g64, 2 overrides) /path/to/dir".
  virtual std::string description() const = 0;
};

// A Hugging Face directory (F32/F16/BF16 safetensors) or a ramq/mlx_lm MLX output directory
// (U32 "<module>.weight" + "<module>.scales" + "<module>.biases", config.json "quantization"
// block). Quantized tensors are dequantized with the MLX affine rule.
std::unique_ptr<WeightSource> open_safetensors_weights(const std::filesystem::path& dir);

// ---------------------------------------------------------------------------------------------
// GGUF HOOK (to be implemented by the GGUF reader's owner, in src/evaluate/gguf_weights.cpp,
// which currently holds a stub that throws ramq::Error(path, "", "GGUF evaluation not available yet")).
//
// Contract for the implementation:
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
//  * Rotary convention: the forward pass uses Hugging Face rotate_half (pairs i, i + head_dim/2).
//    llama.cpp's converter permutes the rows of q_proj/k_proj of "llama" models to the
//    interleaved convention; if ramq's GGUF writer does that too, load() must undo it
//    (inverse of the permutation) so that the returned q/k weights are in HF order.
//  * Quantized GGUF types are dequantized to float32.
std::unique_ptr<WeightSource> open_gguf_weights(const std::filesystem::path& gguf_file);
// ---------------------------------------------------------------------------------------------

}  // namespace ramq::eval
