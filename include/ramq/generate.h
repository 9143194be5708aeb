// evaluate stage: text generation with the float32 forward pass of `ramq eval` and its KV cache
// (`ramq generate`): sampling, a model's generation defaults and end-of-sequence ids, and chat
// prompts rendered by Jinja2 the way Hugging Face transformers renders them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ramq/rng.h"

namespace ramq {

struct SamplingOptions {
  double temperature = 0.8;  // 0 = greedy: the largest logit, ties to the lowest id
  int top_k = 40;            // sample among the k largest logits; 0 = the whole vocabulary
  std::uint64_t seed = 0;    // ramq::Rng seed: same seed, same tokens (whatever the thread count)
};

// One token from one row of logits. Greedy at temperature 0; else the top_k largest logits
// (ties in favour of the lower id), softmax of logit / temperature in double precision, and one
// rng.uniform() draw over their cumulative probabilities in that order.
std::uint32_t choose_token(std::span<const float> logits, const SamplingOptions& sampling, Rng& rng);

// What a model says about generating from it. A Hugging Face or MLX directory:
// generation_config.json's eos_token_id (a number or a list), temperature and top_k, config.json's
// eos_token_id, tokenizer_config.json's bos_token / eos_token text and the chat template
// (read_chat_templates). A GGUF file: tokenizer.ggml.eos/eot/eom_token_id,
// general.sampling.temp / top_k, the BOS/EOS token texts and tokenizer.chat_template.
struct GenerationDefaults {
  std::vector<std::uint32_t> stop_ids;  // sorted, unique
  std::optional<double> temperature;
  std::optional<int> top_k;
  std::string bos_token, eos_token;     // for chat templates; empty when unknown
  std::optional<std::string> chat_template;
  std::string chat_template_file;       // where the template was read (for errors)
};
GenerationDefaults read_generation_defaults(const std::filesystem::path& model);

struct GenerateOptions {
  // Tokens to generate; nullopt = 128 or as many as the model's positions leave after the prompt.
  std::optional<std::int64_t> max_new_tokens;
  SamplingOptions sampling;
  std::vector<std::uint32_t> stop_ids;  // generation ends after one of these (not passed to on_token)
  unsigned threads = 0;                 // 0 = all cores; never changes the tokens
};

struct GenerateResult {
  std::vector<std::uint32_t> tokens;  // generated ids, the stop id included when there was one
  bool stopped = false;               // ended at a stop id (else at max_new_tokens)
};

inline constexpr std::int64_t kDefaultNewTokens = 128;

// Loads `model` (any path load_language_model reads) for the prompt plus the new tokens, feeds
// the prompt through the KV cache in one pass, then generates one token at a time, calling
// on_token with each one that is not a stop id as soon as it is chosen. Throws ramq::Error for an
// empty prompt, an id outside the vocabulary, max_new_tokens < 1, or more positions than the
// model has (config.json's max_position_embeddings, a GGUF's context_length).
GenerateResult generate(const std::filesystem::path& model, std::span<const std::uint32_t> prompt,
                        const GenerateOptions& opt, const std::function<void(std::uint32_t)>& on_token);

// The chat template rendered for one user message with add_generation_prompt, by Python's Jinja2
// (python3 -I, run without a shell) in the environment of transformers' apply_chat_template:
// ImmutableSandboxedEnvironment(trim_blocks, lstrip_blocks, loopcontrols), a tojson filter
// without ASCII escapes, raise_exception and strftime_now; variables messages,
// add_generation_prompt, bos_token, eos_token. Throws ramq::Error(template_file, "", ...) when
// python3 or Jinja2 is missing (naming the Debian package) or the template fails.
std::string render_chat_prompt(const std::string& chat_template, const std::string& template_file,
                               const std::string& user_message, const std::string& bos_token,
                               const std::string& eos_token);

}  // namespace ramq
