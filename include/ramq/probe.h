// `--probe self`: each quantizable tensor's sensitivity measured with the model's own forward
// passes, on inputs the model generates itself from a fixed seed (no external text, so still
// data-free and deterministic). Optional: it costs about (number of quantizable tensors + 1)
// forward passes over sequences x length tokens, plus the generation, so it is meant for models
// the CPU evaluator runs comfortably (dense Llama-family decoders).
//
// Procedure (src/evaluate/self_probe.cpp):
//  1. Generate `sequences` sequences of `length` tokens from the original float model: start
//     from the BOS token (config bos_token_id, else token 0), then sample each next token from
//     the softmax of the logits (temperature 1) with ramq::Rng(seed + sequence index), drawing
//     one uniform number per token and walking the distribution in token-id order. Each new
//     token's pass attends over the keys and values cached from the earlier ones (incremental
//     decoding), so generating costs O(length^2), not O(length^3). The length is at most the
//     model's max_position_embeddings (check_probe_length).
//  2. Reference next-token distributions of the original model on those sequences.
//  3. For every quantizable tensor (budget_quantizable): quantize it alone with a 4-bit probe
//     encoding (MLX 4-bit with the largest group of 128/64/32 that divides its rows, else GGUF
//     IQ4_NL / Q4_0 if 32 divides them), with the encoders that write the files, and measure the
//     mean KL divergence of the probed model's distribution from the reference over every
//     position; record it with the encoding's relative squared error.
// The budget policy with --probe self then weights a tensor's relative error by kld / rel_err
// (KL divergence grows linearly with a small relative weight error), instead of the data-free
// sensitivity model.
#pragma once

#include <filesystem>
#include <string>

#include "ramq/analysis.h"
#include <optional>
#include <string_view>

namespace ramq {

// The self probe (src/evaluate/self_probe.cpp): sensitivities measured with the model's own
// forward passes on token sequences it generates itself from a fixed seed (no external data).
enum class ProbeMode { None, Self };
std::string_view probe_mode_name(ProbeMode m);  // "none", "self"
std::optional<ProbeMode> parse_probe_mode(std::string_view name);

struct ProbeOptions {
  ProbeMode mode = ProbeMode::None;
  int sequences = 4;          // generated sequences
  int length = 128;           // tokens per sequence (the first is the BOS token)
};


// Fills analysis.probe and every quantizable tensor's probe measure for the Hugging Face model in
// `model_dir` (the analysis must be of that model). Uses `probe`, opt.seed, opt.threads and
// opt.mlx_encoder; results do not depend on the thread count. Throws ramq::Error when the
// evaluator cannot run the model.
void probe_self(const std::filesystem::path& model_dir, ModelAnalysis& analysis, const AnalysisOptions& opt,
                const ProbeOptions& probe);

// Throws ramq::Error(config_file, "", ...) unless `probe` asks for at least 1 sequence of 2 to
// max_position_embeddings tokens: the model was not trained on longer windows, and the cost
// grows with the square of the length. probe_self checks it; callers can check it before
// their own long work (the analysis that precedes the probe).
void check_probe_length(const ModelConfig& config, const std::string& config_file, const ProbeOptions& probe);

}  // namespace ramq
