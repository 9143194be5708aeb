// evaluate stage: perplexity / KL divergence of a model (Hugging Face, ramq MLX output or ramq
// GGUF) on a token stream, optionally against a reference model. Float32 forward pass of
// Llama-family decoders.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramq/progress.h"

namespace ramq {

struct EvalOptions {
  int ctx = 256;                 // window length (tokens)
  std::int64_t max_tokens = 0;   // 0 = whole stream; else only the first max_tokens tokens
  unsigned threads = 0;          // 0 = all cores
  Progress* progress = nullptr;  // progress of the windows (not owned); never changes results
};

// A decoder-only language model that maps a window of tokens (positions 0..n-1) to logits.
class LanguageModel {
 public:
  virtual ~LanguageModel() = default;
  virtual std::int64_t vocab_size() const = 0;
  // Logits for every position: n x vocab, row-major.
  virtual std::vector<float> forward(std::span<const std::uint32_t> tokens) = 0;
  virtual std::string description() const = 0;
};

// Loads a Hugging Face directory (F32/F16/BF16 safetensors), a ramq MLX output directory, or a
// ramq GGUF file. The files are memory-mapped and every weight is checked once (layout, NaN/Inf);
// weights stay in their stored form and are dequantized to float32 a chunk of rows at a time
// during forward(), so memory is about the model's file size plus activations. Throws
// ramq::Error on bad input.
std::unique_ptr<LanguageModel> load_language_model(const std::filesystem::path& path, const EvalOptions& opt);

// Raw little-endian uint32 token ids (file size must be a multiple of 4).
std::vector<std::uint32_t> read_token_file(const std::filesystem::path& path);

struct EvalResult {
  std::int64_t tokens = 0;         // tokens in the stream used
  std::int64_t windows = 0;
  std::int64_t scored_tokens = 0;
  double mean_nll = 0;             // nats
  double ppl = 0;                  // exp(mean_nll)
  double median_window_ppl = 0;
  // With a reference model:
  std::optional<double> mean_kld, median_kld, top1_agreement, ppl_reference, ppl_ratio;
};

// The protocol of shared/data/stories260K/REFERENCE.md: consecutive non-overlapping windows of
// opt.ctx tokens; in each window of n tokens feed 0..n-2 from position 0, score 1..n-1; a last
// window shorter than 2 tokens is dropped. Log-softmax in double precision.
EvalResult evaluate(LanguageModel& model, LanguageModel* reference, std::span<const std::uint32_t> tokens,
                    const EvalOptions& opt);

nlohmann::json eval_result_to_json(const EvalResult& r);

// The longest window a loaded model was trained for: config.json's max_position_embeddings (a
// GGUF's <arch>.context_length), with the file and field that say so; nullopt when the model's
// configuration gives no positive value.
struct PositionLimit {
  std::int64_t positions = 0;
  std::string file, field;
};
std::optional<PositionLimit> position_limit(const LanguageModel& model);

}  // namespace ramq
