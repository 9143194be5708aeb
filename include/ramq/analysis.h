// analyze stage: per-tensor SWAN metrics for a whole model, and analysis.json.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramq/metrics.h"
#include "ramq/progress.h"
#include "ramq/rate_distortion.h"
#include "ramq/safetensors.h"

namespace ramq {

// The four metrics' scores in [0, 1] and their composite S under some weights (computed by the
// plan stage's swan_scores; analysis.json carries them).
struct SwanScores {
  double s_svd = 0, s_kurt = 0, s_out = 0, s_err = 0;
  double composite = 0;  // S
};

// What analyze_model measures, and how.
struct AnalysisOptions {
  unsigned threads = 0;  // 0 = all hardware threads; results never depend on it
  std::uint64_t seed = 0x5241'4d51'5357'414eULL;  // "RAMQSWAN": randomized SVD and noise probes
  MetricOptions metrics;
  bool swan_metrics = true;  // the four SWAN metrics; the rate-distortion curves alone otherwise
  RdOptions rd;              // rate-distortion curves (the budget policy needs them)
  bool hash_inputs = true;   // sha256 of every input file, recorded in the analysis
  MlxEncoder mlx_encoder = MlxEncoder::Search;  // the MLX encoder the curves are measured with
  Progress* progress = nullptr;  // not owned; never changes the analysis
};

// What `--probe self` measured for one tensor (src/evaluate/self_probe.cpp): the mean KL
// divergence of the model's next-token distribution, on token sequences the model generated
// itself, when only this tensor is quantized with `encoding`, and that encoding's relative error.
struct ProbeMeasure {
  Encoding encoding;     // the probe's 4-bit encoding (MLX affine, or IQ4_NL / Q4_0)
  double rel_err = 0;    // ||W - Q(W)||^2 / ||W||^2 over the whole tensor
  double kld = 0;        // mean KL(original || probed), nats per token
  double kld_per_rel_err() const { return rel_err > 0 ? kld / rel_err : 0.0; }
};

struct TensorAnalysis {
  std::string name;
  std::vector<std::int64_t> shape;
  std::string dtype;  // source dtype name (block-scaled sources: the float dtype they are read as)
  std::string source_dtype;  // block-scaled sources only: "F8_E4M3" or "MXFP4" (else empty)
  std::int64_t numel = 0;
  bool scored = false;          // false: 1-D or < 1024 elements (stays 16-bit)
  std::string skip_reason;      // why not scored
  std::optional<RawMetrics> raw;
  std::optional<SwanScores> scores;
  std::optional<TensorRd> rd;   // rate-distortion curve (scored tensors, when measured)
  std::optional<ProbeMeasure> probe;  // --probe self (quantizable tensors)
};

struct ModelAnalysis {
  std::string model_dir;
  ModelConfig config;
  std::map<std::string, std::string> input_sha256;  // relative file name -> hex
  std::vector<TensorAnalysis> tensors;              // sorted by name
  std::int64_t total_params = 0;
  std::optional<MetricOptions> metric_options;      // settings the metrics were computed with
  std::optional<RdOptions> rd_options;              // settings of the rate-distortion curves (if measured)
  std::string rd_mlx_encoder;                       // the MLX encoder they were measured with
  // --probe self: {"kind": "self", "sequences", "length", "seed", "tokens": [[...], ...]} (null: none)
  nlohmann::json probe;
};

// True for tensors the SWAN metrics apply to (2-D or 3-D expert stacks with >= 1024 elements).
bool is_scoreable(const TensorInfo& t, std::string* why_not = nullptr);
// Rows used for scoring: the matrix itself, or 4 evenly spaced experts of an [E, r, c] tensor
// stacked to (4r, c) (indices round(linspace(0, E-1, 4))).
std::vector<std::int64_t> scored_expert_indices(std::int64_t experts);

// How analyze_model shares its workers among tensors. A tensor's values never depend on it (every
// metric cuts its work into pieces fixed by the shape); it decides speed and memory only.
// - small tensors (fewer than `large` elements) run side by side, one worker each;
// - large ones run one at a time, every worker inside each, except
// - very large ones (`side_by_side` elements or more: far beyond L3, so workers gain nothing from
//   sharing one), which also run side by side, one worker each, when `threads` of them hold no
//   more elements than the largest selected tensor: peak memory stays that of the largest tensor
//   alone, and no worker waits for another in a tensor's short serial steps.
struct ScheduleLimits {
  std::int64_t large = std::int64_t{1} << 22;
  std::int64_t side_by_side = std::int64_t{1} << 25;
};
struct TensorSchedule {
  std::vector<std::size_t> alone;         // in the given order
  std::vector<std::size_t> side_by_side;  // the very large ones in the given order, then the small
                                          // ones, largest first
  std::size_t very_large = 0;             // how many of side_by_side come first as very large
};
TensorSchedule schedule_tensors(const std::vector<std::int64_t>& numels, const std::vector<std::size_t>& selected,
                                unsigned threads, const ScheduleLimits& limits = {});

// Computes the analysis for every tensor of the model, or only for the tensors at the indices
// `only` of model.tensors() (the others stay default: empty names; used to split the work over
// MPI ranks). With opt.swan_metrics false the SWAN metrics are skipped (only the rate-distortion
// curves are measured: what the budget policy needs). Results do not depend on the thread count
// (nor on `limits`, which tests lower to reach every schedule on small models).
// Scores are not set: the plan stage's score_analysis computes them from the raw metrics.
ModelAnalysis analyze_model(const ModelReader& model, const AnalysisOptions& opt,
                            const std::vector<std::size_t>* only = nullptr, const ScheduleLimits& limits = {});

nlohmann::json analysis_to_json(const ModelAnalysis& a);
// The metric settings as recorded in analysis.json and the manifest (only the chosen randomized
// SVD method's own settings).
nlohmann::json metric_options_to_json(const MetricOptions& m);
// Reads analysis.json back, validated: no name twice, numel equal to the product of the shape
// and at most 2^44 (2^52 in all), finite metrics. (No tensors at all is valid here: one MPI
// rank's share may be empty; `ramq plan` refuses it.) Throws ramq::Error(file, tensor, problem).
ModelAnalysis analysis_from_json(const nlohmann::json& j, const std::string& file);
// Throws ramq::Error(file, tensor, ...) for the first tensor of `a` that `model` does not have, or
// has with another shape: a plan made from an analysis of another model (or a tampered one)
// would not fit the model it is applied to.
void check_analysis_matches_model(const ModelAnalysis& a, const ModelReader& model, const std::string& file);

}  // namespace ramq
