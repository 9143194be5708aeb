// The settings of one run as the command line gives them: every stage's options and every
// policy's parameters (the audit manifest records them all). The stages never see this struct:
// each takes its own part (analysis_options, plan_options, write_options, and probe).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ramq/analysis.h"
#include "ramq/encoding.h"
#include "ramq/mlx_writer.h"
#include "ramq/plan.h"
#include "ramq/probe.h"

namespace ramq {

struct Options {
  unsigned threads = 0;          // 0 = all hardware threads
  std::uint64_t seed = 0x5241'4d51'5357'414eULL;  // "RAMQSWAN"
  MetricOptions metrics;
  bool swan_metrics = true;      // compute the four SWAN metrics (analyze); policies other than swan do not need them
  RdOptions rd;                  // rate-distortion curves (analyze; the budget policy needs them)
  bool hash_inputs = true;       // analyze: sha256 of every input file (quantize hashes them itself, alongside the whole run)
  MlxEncoder mlx_encoder = MlxEncoder::Search;  // MLX affine encoder: error-minimising search, or plain RTN
  PolicyKind policy = PolicyKind::Swan;  // llama-mix: GGUF only
  std::string mix = "Q4_K_M";    // llama-mix: Q3_K_M | Q4_K_M | Q5_K_M | Q6_K | Q8_0
  SwanPolicyOptions swan;
  UniformPolicyOptions uniform;
  BudgetPolicyOptions budget;
  ProbeOptions probe;            // mode self: measured sensitivities (analysis) used by the budget policy
  OutputFormat format = OutputFormat::Mlx;
  bool keep_dtype = false;       // keep F32 tensors F32 in MLX output (default: F16)
  // A row length not divisible by the chosen group: false = use the largest smaller supported
  // group that divides it (16-bit if none does); true = keep the tensor 16-bit (SWAN's rule).
  bool strict_groups = false;
  std::uint64_t max_shard_bytes = 5'000'000'000ULL;
  std::string gguf_pre;  // --gguf-pre: GGUF tokenizer.ggml.pre ("" = identified as llama.cpp's converter does)
  Progress* progress = nullptr;  // progress of long stages (not owned); never changes outputs

  AnalysisOptions analysis_options() const;
  PlanOptions plan_options() const;  // the policy's own parameters
  WriteOptions write_options() const;
};

// The stages with a whole run's settings.
// The analysis, scored with the run's SWAN weights.
inline ModelAnalysis analyze_model(const ModelReader& model, const Options& opt,
                                   const std::vector<std::size_t>* only = nullptr, const ScheduleLimits& limits = {}) {
  ModelAnalysis a = analyze_model(model, opt.analysis_options(), only, limits);
  score_analysis(a, opt.swan);
  return a;
}
inline Plan make_plan(const ModelAnalysis& analysis, const Options& opt) { return make_plan(analysis, opt.plan_options()); }

}  // namespace ramq
