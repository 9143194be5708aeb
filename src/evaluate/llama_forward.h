// evaluate stage, internal: float32 forward pass of Llama-family decoders (llama, mistral,
// qwen2, qwen3, the mixtures of experts mixtral, qwen2_moe, qwen3_moe, and Gemma 3: gemma3_text,
// gemma3) in the Hugging Face conventions. make_llama_model / make_incremental_llama_model hand the hybrid linear-attention
// families (qwen3_next, qwen3_5, qwen3_5_moe) to evaluate/hybrid_forward.h.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "evaluate/weights.h"
#include "ramq/eval.h"
#include "ramq/family_config.h"
#include "ramq/gemma3_config.h"
#include "ramq/safetensors.h"

namespace ramq::eval {

// The sizes every decoder's forward pass reads from config.json (ModelConfig).
struct DecoderDims {
  std::string model_type;
  std::int64_t hidden = 0, intermediate = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0, vocab = 0;
  double rms_eps = 1e-6;
  bool tie_word_embeddings = false;
};
DecoderDims decoder_dims(const ModelConfig& config);

// What the forward pass needs from config.json, validated.
struct LlamaSpec : DecoderDims {
  bool attention_bias = false;  // q, k, v, o biases required (config "attention_bias")
  bool qkv_bias = false;        // q, k, v biases required (qwen2)
  bool mlp_bias = false;        // gate, up, down biases required (config "mlp_bias")
  bool qk_norm = false;         // per-head RMSNorm of q and k (qwen3)
  std::optional<MoeFields> moe;  // every layer's MLP is a mixture of experts (mixtral, qwen*_moe)
  std::vector<double> inv_freq; // head_dim / 2 rotary frequencies, rope scaling applied
  std::string rope;             // "default", "linear x8", "llama3 x8", ...
  double rope_attention_factor = 1.0;  // cos and sin multiplied by it (longrope)
  // Gemma 3 (ModelFamily::gemma): (1 + w) norms before and after attention and the MLP, GeGLU,
  // embeddings times sqrt(hidden), sliding-window layers rotated with local_inv_freq.
  std::optional<Gemma3Fields> gemma;
  std::vector<double> local_inv_freq;  // rope_local_base_freq, unscaled (gemma)
};

// Validates the configuration for a forward pass over windows of up to `ctx` tokens. Throws
// ramq::Error(config_file, "", "field '...' ...") for unsupported architectures and features
// (model types other than llama/mistral/qwen2/qwen3 and their mixtures of experts (the hybrid
// families have hybrid_spec), non-SiLU activations,
// a sliding window shorter than ctx, rope scaling other than default/linear/llama3/dynamic
// within the original context, partial rotary embeddings).
LlamaSpec llama_spec(const ModelConfig& config, const std::string& config_file, int ctx);

// Validates every weight of `weights` and returns the model, which keeps the source: norms and
// biases are held as float32, weight matrices (embedding and head included) are decoded from
// their stored form a chunk of at most 128 rows at a time into per-task scratch buffers right
// before each product (embedding rows one token at a time), so memory is the mapped model plus
// activations and a few row chunks. forward() uses resolve_threads(opt.threads) threads
// (parallel_for over output chunks and attention tasks, single-threaded OpenBLAS inside); its
// logits do not depend on the thread count.
std::unique_ptr<LanguageModel> make_llama_model(std::unique_ptr<WeightSource> weights, const EvalOptions& opt);

// A model that also decodes incrementally, for generation: append() places its tokens right
// after the ones appended before (positions continue), caching each layer's keys and values, so
// a new token's pass attends over the cached ones instead of recomputing the whole prefix
// (generating n tokens costs O(n^2) instead of O(n^3)). Its logits equal forward()'s over the
// whole prefix up to floating-point reassociation. forward() stays stateless and leaves the
// cache alone.
class IncrementalModel : public LanguageModel {
 public:
  // Logits (n x vocab) of `tokens` at the next positions. Throws ramq::Error beyond opt.ctx
  // positions in all.
  virtual std::vector<float> append(std::span<const std::uint32_t> tokens) = 0;
  // Back to position 0 (the memory is kept for the next sequence).
  virtual void clear_cache() = 0;
};

std::unique_ptr<IncrementalModel> make_incremental_llama_model(std::unique_ptr<WeightSource> weights,
                                                               const EvalOptions& opt);


}  // namespace ramq::eval
