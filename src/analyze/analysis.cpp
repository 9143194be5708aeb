// analyze stage: runs the SWAN metrics over every tensor of a model.
#include "ramq/analysis.h"
#include "ramq/module_weight.h"

#include <cblas.h>

#include <algorithm>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <cmath>

#include "ramq/error.h"
#include "ramq/hash.h"
#include "ramq/model_family.h"
#include "ramq/parallel.h"
#include "ramq/progress.h"
#include "ramq/rng.h"

namespace ramq {

namespace {
constexpr std::int64_t kMinScoredElements = 1024;
}  // namespace

bool is_scoreable(const TensorInfo& t, std::string* why_not) {
  auto no = [&](const char* why) {
    if (why_not) *why_not = why;
    return false;
  };
  if (!is_float_weight_dtype(t.dtype)) return no("not a float tensor");
  if (t.shape.size() < 2) return no("1-D tensor");
  if (t.shape.size() > 3) return no("tensor with more than 3 dimensions");
  if (t.numel() < kMinScoredElements) return no("fewer than 1024 elements");
  return true;
}

std::vector<std::int64_t> scored_expert_indices(std::int64_t experts) {
  std::vector<std::int64_t> idx;
  if (experts <= 0) return idx;
  for (int i = 0; i < 4; ++i) {
    const double v = static_cast<double>(experts - 1) * i / 3.0;
    idx.push_back(static_cast<std::int64_t>(std::llround(v)));
  }
  idx.erase(std::unique(idx.begin(), idx.end()), idx.end());
  return idx;
}

namespace {

// The matrix the metrics see: the tensor itself (`all`, returned empty), or selected experts
// stacked row-wise.
std::vector<float> scoring_matrix(std::span<const float> all, const TensorInfo& t, std::int64_t& rows,
                                  std::int64_t& cols) {
  if (t.shape.size() == 2) {
    rows = t.shape[0];
    cols = t.shape[1];
    return {};
  }
  const std::int64_t e = t.shape[0], r = t.shape[1], c = t.shape[2];
  const auto picks = scored_expert_indices(e);
  std::vector<float> stacked;
  stacked.reserve(static_cast<std::size_t>(static_cast<std::int64_t>(picks.size()) * r * c));
  for (std::int64_t k : picks) {
    const auto begin = all.begin() + static_cast<std::ptrdiff_t>(k * r * c);
    stacked.insert(stacked.end(), begin, begin + static_cast<std::ptrdiff_t>(r * c));
  }
  rows = static_cast<std::int64_t>(picks.size()) * r;
  cols = c;
  return stacked;
}

}  // namespace

namespace {

// Float32 buffers of the tensors run side by side: at most one per worker, reused from tensor to
// tensor, freed with the pool.
class BufferPool {
 public:
  std::vector<float> take() {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.empty()) return {};
    std::vector<float> b = std::move(free_.back());
    free_.pop_back();
    return b;
  }
  void give(std::vector<float> b) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(std::move(b));
  }

 private:
  std::mutex mu_;
  std::vector<std::vector<float>> free_;
};

// `buffer`: where the tensor is converted to float32. The tensors that run alone share one, those
// side by side one per worker (grown when needed, never shrunk), so only the first of each size
// is allocated and paged in.
// `swan_metrics`: compute the SWAN statistics (opt.swan_metrics, unless an expert SWAN does not sample).
void analyze_one(const ModelReader& model, const TensorInfo& t, TensorAnalysis& ta, const AnalysisOptions& opt,
                 bool swan_metrics, MlxEncoder encoder, unsigned threads, std::vector<float>& buffer) {
  ta.name = t.name;
  ta.shape = t.shape;
  ta.dtype = std::string(dtype_name(t.dtype));
  if (t.source_dtype() != ta.dtype) ta.source_dtype = t.source_dtype();  // F8_E4M3, MXFP4
  ta.numel = t.numel();
  std::string why;
  ta.scored = is_scoreable(t, &why);
  if (ta.scored && is_left_out(model.config().model_type, t.name)) {
    ta.scored = false;
    why = "left out of every output (no runtime runs it for text)";
  }
  if (!ta.scored) {
    ta.skip_reason = why;
    return;
  }
  const bool rd = opt.rd.enabled && is_module_weight(t.name);
  if (!swan_metrics && !rd) return;
  // Curve errors (NaN/Inf, a range an encoding cannot hold) name the tensor.
  const auto measure_rd = [&](const auto& measure) {
    try {
      ta.rd = measure();
    } catch (const Error& e) {
      throw Error(t.file, t.name, e.problem());
    }
  };
  const std::int64_t cols = t.shape.back(), rows = t.numel() / cols;
  if (!swan_metrics) {
    // Only the rate-distortion rows are needed: convert those, and scan the rest for NaN/Inf in
    // place (the same error load_f32 gives) instead of converting the whole tensor.
    model.check_finite(t, threads);
    std::vector<float> sampled = model.load_rows_f32(t, rd_sample_rows(rows, rd_rows_for(opt.rd, cols)), cols);
    model.release(t);
    measure_rd([&] {
      return measure_rate_distortion_sampled(std::move(sampled), rows, cols, t.dtype, opt.rd, encoder, threads);
    });
    return;
  }
  const auto numel = static_cast<std::size_t>(t.numel());
  if (buffer.size() < numel) {  // freed first: growing in place would copy the old contents
    std::vector<float>().swap(buffer);
    buffer.resize(numel);
  }
  const std::span<float> all(buffer.data(), numel);
  model.load_f32_into(t, all, threads);
  model.release(t);
  std::int64_t scored_rows = 0, scored_cols = 0;
  const std::vector<float> stacked = scoring_matrix(all, t, scored_rows, scored_cols);
  const float* w = stacked.empty() ? all.data() : stacked.data();
  const RawMetrics raw = compute_raw_metrics(MatrixView{w, scored_rows, scored_cols}, opt.metrics,
                                             opt.seed ^ fnv1a64(t.name), threads);
  ta.raw = raw;
  if (rd) measure_rd([&] { return measure_rate_distortion(all.data(), rows, cols, t.dtype, opt.rd, encoder, threads); });
}

// For each tensor: whether it is a routed expert stored on its own that SWAN's sampling of its
// stack (scored_expert_indices over the stack's experts, counted in the whole model) leaves out.
// The plan scores a stack by its sampled experts alone (policy.cpp), so the others need no metrics.
std::vector<char> unsampled_experts(const std::vector<TensorInfo>& tensors) {
  std::vector<std::string> keys(tensors.size());
  std::vector<std::int64_t> experts(tensors.size(), -1);
  std::map<std::string, std::int64_t> count;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    keys[i] = expert_stack_key(tensors[i].name, &experts[i]);
    if (experts[i] >= 0) count[keys[i]] = std::max(count[keys[i]], experts[i] + 1);
  }
  std::map<std::string, std::vector<std::int64_t>> sampled;
  for (const auto& [key, n] : count) sampled[key] = scored_expert_indices(n);
  std::vector<char> out(tensors.size(), 0);
  for (std::size_t i = 0; i < tensors.size(); ++i)
    if (experts[i] >= 0) {
      const auto& s = sampled[keys[i]];
      out[i] = std::find(s.begin(), s.end(), experts[i]) == s.end();
    }
  return out;
}

}  // namespace

TensorSchedule schedule_tensors(const std::vector<std::int64_t>& numels, const std::vector<std::size_t>& selected,
                                unsigned threads, const ScheduleLimits& limits) {
  std::int64_t largest = 0;
  for (const std::size_t i : selected) largest = std::max(largest, numels.at(i));
  TensorSchedule plan;
  std::vector<std::size_t> small;
  for (const std::size_t i : selected) {
    const std::int64_t n = numels[i];
    if (n < limits.large) small.push_back(i);
    else if (threads > 1 && n >= limits.side_by_side && n * static_cast<std::int64_t>(threads) <= largest)
      plan.side_by_side.push_back(i);
    else plan.alone.push_back(i);
  }
  plan.very_large = plan.side_by_side.size();
  std::stable_sort(small.begin(), small.end(), [&](std::size_t x, std::size_t y) { return numels[x] > numels[y]; });
  plan.side_by_side.insert(plan.side_by_side.end(), small.begin(), small.end());
  return plan;
}

ModelAnalysis analyze_model(const ModelReader& model, const AnalysisOptions& opt, const std::vector<std::size_t>* only,
                            const ScheduleLimits& limits) {
  // Work is split into pieces inside and across tensors; BLAS stays single-threaded inside each
  // piece so that every product is computed in the same order whatever the thread count.
  openblas_set_num_threads(1);

  ModelAnalysis a;
  a.model_dir = model.dir().string();
  a.config = model.config();
  if (opt.swan_metrics) a.metric_options = opt.metrics;
  model.require_float_weights();
  const MlxEncoder encoder = opt.mlx_encoder;
  if (opt.rd.enabled) {
    a.rd_options = opt.rd;
    a.rd_mlx_encoder = mlx_encoder_name(opt.mlx_encoder);
  }

  // The inputs are hashed (for the audit manifest) on one more thread while the tensors are
  // analysed: reading each file once more from the page cache overlaps the metrics.
  const auto files = opt.hash_inputs ? model.input_files() : std::vector<std::string>{};
  std::vector<std::string> hashes(files.size());
  std::exception_ptr hash_error;
  std::jthread hasher([&](std::stop_token stop) {  // stopped (between files) if the analysis throws
    try {
      for (std::size_t i = 0; i < files.size() && !stop.stop_requested(); ++i)
        hashes[i] = sha256_file_hex(model.dir() / files[i]);
    } catch (...) {
      hash_error = std::current_exception();
    }
  });

  const auto& tensors = model.tensors();
  a.tensors.resize(tensors.size());
  std::vector<std::size_t> selected;
  if (only) {
    selected = *only;
  } else {
    for (std::size_t i = 0; i < tensors.size(); ++i) selected.push_back(i);
  }
  for (const std::size_t i : selected)
    if (i >= tensors.size()) throw std::out_of_range("analyze_model: tensor index out of range");
  const unsigned threads = resolve_threads(opt.threads);
  std::vector<std::int64_t> numels;
  for (const auto& t : tensors) numels.push_back(t.numel());
  const TensorSchedule plan = schedule_tensors(numels, selected, threads, limits);
  const std::vector<char> unsampled = unsampled_experts(tensors);
  const auto swan_metrics = [&](std::size_t i) { return opt.swan_metrics && !unsampled[i]; };

  std::uint64_t total_bytes = 0;
  for (const std::size_t i : selected) total_bytes += tensors[i].nbytes;
  ProgressScope progress(opt.progress, {"analyze", "tensors", selected.size(), total_bytes, ""});
  // The tensors that run alone, the next one read ahead while the current one is computed.
  {
    std::vector<float> buffer;
    for (std::size_t k = 0; k < plan.alone.size(); ++k) {
      if (k + 1 < plan.alone.size()) model.prefetch(tensors[plan.alone[k + 1]]);
      else if (plan.very_large > 0) model.prefetch(tensors[plan.side_by_side[0]]);
      const std::size_t i = plan.alone[k];
      analyze_one(model, tensors[i], a.tensors[i], opt, swan_metrics(i), encoder, threads, buffer);
      progress.advance(1, tensors[plan.alone[k]].nbytes);
    }
  }
  // Then the rest side by side, one worker each; a worker starting a very large tensor reads the
  // next one ahead.
  BufferPool pool;
  parallel_for(plan.side_by_side.size(), threads, [&](std::size_t k) {
    const std::size_t i = plan.side_by_side[k];
    const bool very_large = k < plan.very_large;
    if (k + 1 < plan.very_large) model.prefetch(tensors[plan.side_by_side[k + 1]]);
    std::vector<float> buffer = very_large ? pool.take() : std::vector<float>{};
    analyze_one(model, tensors[i], a.tensors[i], opt, swan_metrics(i), encoder, 1, buffer);
    if (very_large) pool.give(std::move(buffer));
    progress.advance(1, tensors[i].nbytes);
  });
  progress.done();
  hasher.join();
  if (hash_error) std::rethrow_exception(hash_error);
  for (std::size_t i = 0; i < files.size(); ++i) a.input_sha256[files[i]] = hashes[i];
  for (const auto& t : tensors) a.total_params += t.numel();
  return a;
}

}  // namespace ramq
