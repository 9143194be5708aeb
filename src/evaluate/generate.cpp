// evaluate stage: token generation with the KV cache of the float32 forward pass, and the
// sampling rule (include/ramq/generate.h).
#include "ramq/generate.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "evaluate/llama_forward.h"
#include "evaluate/weights.h"
#include "ramq/error.h"
#include "ramq/eval.h"

namespace ramq {

namespace {

// Index of the largest value; ties go to the lowest index.
std::uint32_t argmax(std::span<const float> row) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < row.size(); ++i)
    if (row[i] > row[best]) best = i;
  return static_cast<std::uint32_t>(best);
}

// The k largest logits' ids, largest first, equal logits by increasing id.
std::vector<std::uint32_t> top_ids(std::span<const float> logits, std::size_t k) {
  std::vector<std::uint32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0u);
  const auto before = [&](std::uint32_t a, std::uint32_t b) {
    return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
  };
  k = std::min(k, ids.size());
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(), before);
  ids.resize(k);
  return ids;
}

std::string count_text(std::int64_t n, const char* what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

// The new tokens to generate: the requested count, checked against the model's positions, or
// the default bounded by them.
std::int64_t new_token_count(const LanguageModel& model, std::size_t prompt, const GenerateOptions& opt) {
  const auto limit = position_limit(model);
  const auto p = static_cast<std::int64_t>(prompt);
  if (limit && p >= limit->positions)
    throw Error(limit->file, "", "the prompt has " + count_text(p, "token") + ", which leaves no room in the model's " +
                                     std::to_string(limit->positions) + " positions (" + limit->field + ")");
  if (!opt.max_new_tokens) return limit ? std::min(kDefaultNewTokens, limit->positions - p) : kDefaultNewTokens;
  const std::int64_t n = *opt.max_new_tokens;
  if (limit && p + n > limit->positions)
    throw Error(limit->file, "", "the prompt (" + count_text(p, "token") + ") and " + count_text(n, "new token") +
                                     " need " + std::to_string(p + n) + " positions, more than the model's " +
                                     std::to_string(limit->positions) + " (" + limit->field +
                                     "): ask for at most " + std::to_string(limit->positions - p));
  return n;
}

}  // namespace

std::uint32_t choose_token(std::span<const float> logits, const SamplingOptions& sampling, Rng& rng) {
  if (logits.empty()) throw Error("", "", "no logits to choose a token from");
  if (!(sampling.temperature >= 0) || !std::isfinite(sampling.temperature))
    throw Error("", "", "the temperature must be a finite number >= 0");
  if (sampling.top_k < 0) throw Error("", "", "top-k must not be negative");
  if (sampling.temperature == 0 || sampling.top_k == 1) return argmax(logits);
  const std::size_t k = sampling.top_k == 0 ? logits.size() : static_cast<std::size_t>(sampling.top_k);
  const std::vector<std::uint32_t> ids = top_ids(logits, k);
  const double top = logits[ids.front()];
  std::vector<double> weight(ids.size());
  double total = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    weight[i] = std::exp((static_cast<double>(logits[ids[i]]) - top) / sampling.temperature);
    total += weight[i];
  }
  const double draw = rng.uniform() * total;
  double cumulative = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    cumulative += weight[i];
    if (draw < cumulative) return ids[i];
  }
  return ids.back();  // rounding at the very top of the range
}

GenerateResult generate(const std::filesystem::path& model_path, std::span<const std::uint32_t> prompt,
                        const GenerateOptions& opt, const std::function<void(std::uint32_t)>& on_token) {
  if (prompt.empty()) throw Error("", "", "the prompt has no tokens");
  if (opt.max_new_tokens && *opt.max_new_tokens < 1)
    throw Error("", "", "the number of tokens to generate must be at least 1, got " +
                            std::to_string(*opt.max_new_tokens));
  EvalOptions eo;
  eo.threads = opt.threads;
  const std::int64_t wanted = opt.max_new_tokens.value_or(kDefaultNewTokens);
  eo.ctx = static_cast<int>(std::min<std::int64_t>(static_cast<std::int64_t>(prompt.size()) + wanted, 1 << 30));
  auto weights = eval::open_model_weights(model_path);
  const std::string file = weights->config_file();
  auto model = eval::make_incremental_llama_model(std::move(weights), eo);
  const std::int64_t n = new_token_count(*model, prompt.size(), opt);
  const auto vocab = static_cast<std::uint64_t>(model->vocab_size());
  for (std::size_t i = 0; i < prompt.size(); ++i)
    if (prompt[i] >= vocab)
      throw Error(file, "", "prompt token " + std::to_string(prompt[i]) + " at position " + std::to_string(i) +
                                " is outside the vocabulary (vocab_size " + std::to_string(vocab) + ")");
  Rng rng(opt.sampling.seed);
  GenerateResult result;
  std::vector<float> logits = model->append(prompt);
  std::span<const float> last(logits.data() + (prompt.size() - 1) * vocab, vocab);
  while (true) {
    const std::uint32_t next = choose_token(last, opt.sampling, rng);
    result.tokens.push_back(next);
    if (std::binary_search(opt.stop_ids.begin(), opt.stop_ids.end(), next)) {
      result.stopped = true;
      break;
    }
    on_token(next);
    if (static_cast<std::int64_t>(result.tokens.size()) >= n) break;
    logits = model->append(std::span<const std::uint32_t>(&next, 1));
    last = std::span<const float>(logits.data(), vocab);
  }
  return result;
}

}  // namespace ramq
