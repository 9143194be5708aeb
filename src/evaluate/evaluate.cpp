// evaluate stage: perplexity / KL divergence protocol of shared/data/stories260K/REFERENCE.md,
// model loading dispatch, token files and the JSON form of the result.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "evaluate/llama_forward.h"
#include "evaluate/weights.h"
#include "ramq/error.h"
#include "ramq/input_file.h"
#include "ramq/eval.h"

namespace fs = std::filesystem;

namespace ramq {

namespace {

// Median; mean of the two middle values for an even count. Empty -> 0.
double median(std::vector<double> v) {
  if (v.empty()) return 0;
  const std::size_t m = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(m), v.end());
  const double hi = v[m];
  if (v.size() % 2 == 1) return hi;
  const double lo = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(m));
  return 0.5 * (lo + hi);
}

// log(sum(exp(row))) in double with max subtraction.
double log_sum_exp(const float* row, std::size_t n) {
  double mx = row[0];
  for (std::size_t i = 1; i < n; ++i) mx = std::max(mx, static_cast<double>(row[i]));
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += std::exp(static_cast<double>(row[i]) - mx);
  return mx + std::log(s);
}

// Index of the largest value; ties go to the lowest index.
std::size_t argmax(const float* row, std::size_t n) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < n; ++i)
    if (row[i] > row[best]) best = i;
  return best;
}

std::vector<float> run_checked(LanguageModel& m, std::span<const std::uint32_t> in, const char* which) {
  std::vector<float> logits = m.forward(in);
  const std::size_t want = in.size() * static_cast<std::size_t>(m.vocab_size());
  if (logits.size() != want)
    throw Error("", "", std::string(which) + " model returned " + std::to_string(logits.size()) +
                            " logits for " + std::to_string(in.size()) + " tokens, expected " + std::to_string(want));
  return logits;
}

}  // namespace

namespace eval {

bool is_gguf_path(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".gguf";
}

std::unique_ptr<WeightSource> open_model_weights(const fs::path& path) {
  if (is_gguf_path(path)) return open_gguf_weights(path);  // GGUF hook (src/evaluate/gguf_weights.cpp)
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path.string(), "", "does not exist");
  if (!fs::is_directory(path, ec)) throw Error(path.string(), "", "is neither a model directory nor a .gguf file");
  return open_safetensors_weights(path);
}

}  // namespace eval

std::unique_ptr<LanguageModel> load_language_model(const fs::path& path, const EvalOptions& opt) {
  if (opt.ctx < 2) throw Error("", "", "the evaluation window (ctx) must be at least 2 tokens, got " + std::to_string(opt.ctx));
  return eval::make_llama_model(eval::open_model_weights(path), opt);
}

std::vector<std::uint32_t> read_token_file(const fs::path& path) {
  const std::string name = path.string();
  const std::string bytes = read_regular_file(path, kMaxTokenInputBytes);
  if (bytes.size() % 4 != 0)
    throw Error(name, "", "size " + std::to_string(bytes.size()) +
                              " bytes is not a multiple of 4 (expected raw little-endian uint32 token ids)");
  std::vector<std::uint32_t> out(bytes.size() / 4);
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::uint32_t v = 0;
    for (std::size_t b = 0; b < 4; ++b) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[4 * i + b])) << (8 * b);
    out[i] = v;
  }
  return out;
}

EvalResult evaluate(LanguageModel& model, LanguageModel* reference, std::span<const std::uint32_t> tokens,
                    const EvalOptions& opt) {
  if (opt.ctx < 2) throw Error("", "", "the evaluation window (ctx) must be at least 2 tokens, got " + std::to_string(opt.ctx));
  if (opt.max_tokens < 0) throw Error("", "", "max_tokens must not be negative");
  if (opt.max_tokens > 0 && static_cast<std::uint64_t>(opt.max_tokens) < tokens.size())
    tokens = tokens.first(static_cast<std::size_t>(opt.max_tokens));
  const std::size_t V = static_cast<std::size_t>(model.vocab_size());
  if (reference != nullptr && reference->vocab_size() != model.vocab_size())
    throw Error("", "", "the reference model's vocabulary (" + std::to_string(reference->vocab_size()) +
                            ") differs from the model's (" + std::to_string(model.vocab_size()) + ")");
  const std::size_t N = tokens.size(), ctx = static_cast<std::size_t>(opt.ctx);
  std::size_t windows = N / ctx + (N % ctx >= 2 ? 1 : 0);
  if (windows == 0)
    throw Error("", "", "the token stream has " + std::to_string(N) + " token(s): at least 2 are needed to score one");
  for (std::size_t i = 0; i < N; ++i)
    if (tokens[i] >= V)
      throw Error("", "", "token id " + std::to_string(tokens[i]) + " at position " + std::to_string(i) +
                              " is outside the vocabulary (vocab_size " + std::to_string(V) + ")");

  EvalResult r;
  r.tokens = static_cast<std::int64_t>(N);
  r.windows = static_cast<std::int64_t>(windows);
  double total_nll = 0, total_ref_nll = 0;
  std::int64_t agree = 0;
  std::vector<double> window_ppl, kl;
  std::int64_t to_score = 0;
  for (std::size_t w = 0; w < windows; ++w) to_score += static_cast<std::int64_t>(std::min(ctx, N - w * ctx) - 1);
  ProgressScope progress(opt.progress, {"eval", "windows", windows, static_cast<std::uint64_t>(to_score), "tokens"});
  std::vector<double> logp_ref(V);
  for (std::size_t w = 0; w < windows; ++w) {
    const std::size_t start = w * ctx, n = std::min(ctx, N - start);
    const auto input = tokens.subspan(start, n - 1);
    const std::vector<float> logits = run_checked(model, input, "the");
    std::vector<float> ref_logits;
    if (reference != nullptr) ref_logits = run_checked(*reference, input, "the reference");
    double window_nll = 0, window_ref_nll = 0;
    for (std::size_t i = 0; i + 1 < n; ++i) {
      const std::size_t target = tokens[start + i + 1];
      const float* row = logits.data() + i * V;
      const double lse = log_sum_exp(row, V);
      window_nll += lse - static_cast<double>(row[target]);
      if (reference == nullptr) continue;
      const float* rrow = ref_logits.data() + i * V;
      const double rlse = log_sum_exp(rrow, V);
      window_ref_nll += rlse - static_cast<double>(rrow[target]);
      double k = 0;
      for (std::size_t t = 0; t < V; ++t) {
        const double lr = static_cast<double>(rrow[t]) - rlse;
        const double lm = static_cast<double>(row[t]) - lse;
        k += std::exp(lr) * (lr - lm);
      }
      kl.push_back(k);
      if (argmax(row, V) == argmax(rrow, V)) ++agree;
    }
    total_nll += window_nll;  // per-window sums first, for both models alike
    total_ref_nll += window_ref_nll;
    r.scored_tokens += static_cast<std::int64_t>(n - 1);
    window_ppl.push_back(std::exp(window_nll / static_cast<double>(n - 1)));
    progress.advance(1, n - 1);
  }
  progress.done();
  const double scored = static_cast<double>(r.scored_tokens);
  r.mean_nll = total_nll / scored;
  r.ppl = std::exp(r.mean_nll);
  r.median_window_ppl = median(window_ppl);
  if (reference != nullptr) {
    double sum = 0;
    for (const double k : kl) sum += k;
    r.mean_kld = sum / scored;
    r.median_kld = median(kl);
    r.top1_agreement = static_cast<double>(agree) / scored;
    r.ppl_reference = std::exp(total_ref_nll / scored);
    r.ppl_ratio = r.ppl / *r.ppl_reference;
  }
  return r;
}

nlohmann::json eval_result_to_json(const EvalResult& r) {
  nlohmann::json j = nlohmann::json::object();
  j["tokens"] = r.tokens;
  j["windows"] = r.windows;
  j["scored_tokens"] = r.scored_tokens;
  j["mean_nll"] = r.mean_nll;
  j["ppl"] = r.ppl;
  j["median_window_ppl"] = r.median_window_ppl;
  auto opt = [&](const char* key, const std::optional<double>& v) {
    if (v) j[key] = *v;
  };
  opt("mean_kld", r.mean_kld);
  opt("median_kld", r.median_kld);
  opt("top1_agreement", r.top1_agreement);
  opt("ppl_reference", r.ppl_reference);
  opt("ppl_ratio", r.ppl_ratio);
  return j;
}

}  // namespace ramq
