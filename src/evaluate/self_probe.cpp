// --probe self (include/ramq/probe.h): per-tensor sensitivities from the model's own forward
// passes on sequences it generates itself.
#include "ramq/probe.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "evaluate/llama_forward.h"
#include "evaluate/weights.h"
#include "ramq/error.h"
#include "ramq/ggml_types.h"
#include "ramq/mlx_affine.h"
#include "ramq/plan.h"
#include "ramq/progress.h"
#include "ramq/rng.h"

namespace ramq {

namespace {

// A float32 tensor held in memory (the probed tensor's dequantized values).
class MemoryTensor final : public eval::WeightTensor {
 public:
  MemoryTensor(std::int64_t rows, std::int64_t cols, const std::vector<float>& data)
      : WeightTensor(rows, cols), data_(data) {}

 protected:
  const float* decode(std::int64_t first, std::int64_t, std::vector<float>&) const override {
    return data_.data() + first * cols();
  }

 private:
  const std::vector<float>& data_;
};

// The base model with at most one tensor replaced.
class OverlaySource final : public eval::WeightSource {
 public:
  OverlaySource(const eval::WeightSource& base, std::string name, const std::vector<float>* data)
      : base_(base), name_(std::move(name)), data_(data) {}
  const ModelConfig& config() const override { return base_.config(); }
  std::string config_file() const override { return base_.config_file(); }
  bool has(const std::string& n) const override { return base_.has(n); }
  std::vector<std::int64_t> shape(const std::string& n) const override { return base_.shape(n); }
  std::unique_ptr<eval::WeightTensor> tensor(const std::string& n) const override {
    if (data_ == nullptr || n != name_) return base_.tensor(n);
    const auto s = base_.shape(n);
    const std::int64_t cols = s.empty() ? 1 : s.back();
    return std::make_unique<MemoryTensor>(static_cast<std::int64_t>(data_->size()) / cols, cols, *data_);
  }
  std::string description() const override { return base_.description(); }

 private:
  const eval::WeightSource& base_;
  std::string name_;
  const std::vector<float>* data_;
};

// log-softmax of one row of logits, in double precision.
std::vector<double> log_softmax(const float* z, std::int64_t n) {
  double mx = z[0];
  for (std::int64_t i = 1; i < n; ++i) mx = std::max(mx, static_cast<double>(z[i]));
  double sum = 0;
  for (std::int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(z[i]) - mx);
  const double lse = mx + std::log(sum);
  std::vector<double> out(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = static_cast<double>(z[i]) - lse;
  return out;
}

// Token sampled from the softmax of `z` with one uniform number, walking token ids in order.
std::uint32_t sample(const float* z, std::int64_t n, Rng& rng) {
  const auto lp = log_softmax(z, n);
  const double u = rng.uniform();
  double acc = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    acc += std::exp(lp[static_cast<std::size_t>(i)]);
    if (u < acc) return static_cast<std::uint32_t>(i);
  }
  return static_cast<std::uint32_t>(n - 1);
}

std::uint32_t bos_token(const ModelConfig& cfg, std::int64_t vocab) {
  const auto it = cfg.raw.find("bos_token_id");
  if (it != cfg.raw.end() && it->is_number_integer()) {
    const auto v = it->get<std::int64_t>();
    if (v >= 0 && v < vocab) return static_cast<std::uint32_t>(v);
  }
  return 0;
}

struct ProbeInputs {
  std::vector<std::vector<std::uint32_t>> sequences;
  std::vector<std::vector<float>> ref_logp;  // per sequence: (length - 1) x vocab log-probabilities
};

double mean_kld(LanguageModel& model, const ProbeInputs& in, std::int64_t vocab) {
  double total = 0;
  std::int64_t positions = 0;
  for (std::size_t s = 0; s < in.sequences.size(); ++s) {
    const auto& seq = in.sequences[s];
    const std::span<const std::uint32_t> feed(seq.data(), seq.size() - 1);
    const std::vector<float> logits = model.forward(feed);
    for (std::size_t p = 0; p < feed.size(); ++p) {
      const auto lq = log_softmax(logits.data() + p * static_cast<std::size_t>(vocab), vocab);
      const float* lr = in.ref_logp[s].data() + p * static_cast<std::size_t>(vocab);
      double kl = 0;
      for (std::int64_t v = 0; v < vocab; ++v) {
        const double a = lr[v];
        kl += std::exp(a) * (a - lq[static_cast<std::size_t>(v)]);
      }
      total += std::max(0.0, kl);
      ++positions;
    }
  }
  return positions > 0 ? total / static_cast<double>(positions) : 0.0;
}

// The probe encoding of a tensor with `cols` columns, and its dequantized values: MLX 4-bit with
// the largest group that divides the rows, else IQ4_NL or Q4_0.
struct Probed {
  Encoding encoding;
  std::vector<float> values;
};

std::optional<Probed> probe_encoding(const std::vector<float>& w, std::int64_t cols, DType source, const AnalysisOptions& opt) {
  const std::int64_t rows = static_cast<std::int64_t>(w.size()) / cols;
  std::vector<Encoding> candidates;
  for (const int group : {128, 64, 32}) candidates.push_back(Encoding::mlx_affine(4, group));
  for (const GgmlType t : {GgmlType::IQ4_NL, GgmlType::Q4_0}) candidates.push_back(Encoding::ggml(t));
  const EncodeContext ctx{source, opt.mlx_encoder, false};
  for (const Encoding& e : candidates)
    if (e.fits_rows(cols)) return Probed{e, e.round_trip(w.data(), rows, cols, ctx)};
  return std::nullopt;
}

}  // namespace

std::string_view probe_mode_name(ProbeMode m) { return m == ProbeMode::Self ? "self" : "none"; }

std::optional<ProbeMode> parse_probe_mode(std::string_view name) {
  if (name == "none") return ProbeMode::None;
  if (name == "self") return ProbeMode::Self;
  return std::nullopt;
}

void check_probe_length(const ModelConfig& config, const std::string& config_file, const ProbeOptions& probe) {
  if (probe.sequences < 1 || probe.length < 2)
    throw Error("", "", "the self probe needs at least 1 sequence of at least 2 tokens");
  if (config.max_position_embeddings > 0 && probe.length > config.max_position_embeddings)
    throw Error(config_file, "",
                "--probe-length " + std::to_string(probe.length) + " is longer than the model's " +
                    std::to_string(config.max_position_embeddings) +
                    " positions (max_position_embeddings): give --probe-length at most that");
}

void probe_self(const std::filesystem::path& model_dir, ModelAnalysis& analysis, const AnalysisOptions& opt,
                const ProbeOptions& probe) {
  EvalOptions eo;
  eo.ctx = probe.length;
  eo.threads = opt.threads;
  const std::unique_ptr<eval::WeightSource> base = eval::open_safetensors_weights(model_dir);
  check_probe_length(base->config(), base->config_file(), probe);
  auto model_with = [&](const std::string& name, const std::vector<float>* data) {
    return eval::make_llama_model(std::make_unique<OverlaySource>(*base, name, data), eo);
  };
  // The reference also generates the sequences: incrementally, over its cached keys and values.
  const auto reference = eval::make_incremental_llama_model(std::make_unique<OverlaySource>(*base, "", nullptr), eo);
  const std::int64_t vocab = reference->vocab_size();

  std::vector<const TensorAnalysis*> targets;
  for (const auto& t : analysis.tensors)
    if (budget_quantizable(t) && t.shape.size() == 2) targets.push_back(&t);
  ProgressScope progress(opt.progress, {"probe self", "passes", static_cast<std::size_t>(probe.sequences) + targets.size(), 0, ""});

  // 1-2. Generated sequences and the reference distributions on them.
  ProbeInputs in;
  const std::uint32_t bos = bos_token(base->config(), vocab);
  nlohmann::json tokens = nlohmann::json::array();
  for (int s = 0; s < probe.sequences; ++s) {
    Rng rng(opt.seed + static_cast<std::uint64_t>(s));
    std::vector<std::uint32_t> seq{bos};
    reference->clear_cache();
    std::vector<float> next = reference->append(seq);  // logits after the last token so far
    while (static_cast<int>(seq.size()) < probe.length) {
      seq.push_back(sample(next.data(), vocab, rng));
      if (static_cast<int>(seq.size()) < probe.length) next = reference->append({&seq.back(), 1});
    }
    const std::vector<float> logits = reference->forward(std::span<const std::uint32_t>(seq.data(), seq.size() - 1));
    std::vector<float> logp(logits.size());
    for (std::size_t p = 0; p + 1 < seq.size(); ++p) {
      const auto lp = log_softmax(logits.data() + p * static_cast<std::size_t>(vocab), vocab);
      std::transform(lp.begin(), lp.end(), logp.begin() + static_cast<std::ptrdiff_t>(p * static_cast<std::size_t>(vocab)),
                     [](double v) { return static_cast<float>(v); });
    }
    in.ref_logp.push_back(std::move(logp));
    tokens.push_back(seq);
    in.sequences.push_back(std::move(seq));
    progress.advance(1, 0);
  }

  // 3. One tensor at a time.
  for (const TensorAnalysis* t : targets) {
    const std::vector<float> w = base->load(t->name);
    const DType source = parse_dtype(t->dtype).value_or(DType::F16);
    auto probed = probe_encoding(w, t->shape.back(), source, opt);
    if (!probed) continue;  // fits no 4-bit encoding: never quantized, so never weighted
    ProbeMeasure m;
    m.encoding = probed->encoding;
    m.rel_err = relative_squared_error(w.data(), probed->values.data(), w.size());
    const auto model = model_with(t->name, &probed->values);
    m.kld = mean_kld(*model, in, vocab);
    for (auto& ta : analysis.tensors)
      if (ta.name == t->name) ta.probe = m;
    progress.advance(1, 0);
  }
  progress.done();
  analysis.probe = {{"kind", "self"},
                    {"sequences", probe.sequences},
                    {"length", probe.length},
                    {"seed", opt.seed},
                    {"bos_token", bos},
                    {"tokens", tokens}};
}

}  // namespace ramq
