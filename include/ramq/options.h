// The one options struct that flows through analyze -> plan -> encode -> write.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ramq/encoding.h"
#include "ramq/metrics.h"
#include "ramq/progress.h"
#include "ramq/rate_distortion.h"

namespace ramq {

// The plan policies. Names ("swan", "uniform", "budget", "llama-mix") are parsed and printed only
// at the command line and in JSON.
enum class PolicyKind { Swan, Uniform, Budget, LlamaMix };
std::string_view policy_name(PolicyKind p);
std::optional<PolicyKind> parse_policy(std::string_view name);

struct SwanPolicyOptions {
  // Composite score S = w_svd s_svd + w_kurt s_kurt + w_out s_out + w_err s_err.
  double w_svd = 0.20, w_kurt = 0.45, w_out = 0.15, w_err = 0.20;
  double t16 = 0.90;  // S >= t16: 16-bit
  double t8 = 0.65;   // S >= t8: 8-bit
  double t2 = 0.10;   // S <= t2: 2-bit
  int group8 = 64, group4 = 128, group2 = 32;
};

struct UniformPolicyOptions {
  int bits = 4;
  int group = 64;
  bool quantize_embeddings = false;  // also quantize embed_tokens / lm_head
};

// The budget policy (src/plan/budget_policy.cpp): the least sensitivity-weighted error whose
// total bytes (plan.json's totals.bytes) fit the budget. Exactly one target is set (> 0).
struct BudgetPolicyOptions {
  double target_bpw = 0;          // bits per weight over all parameters (8 x file bytes / params)
  std::uint64_t target_bytes = 0; // total output bytes
  // Bytes of the output beyond the plan's tensor data (GGUF header, metadata, tokenizer, padding;
  // safetensors headers), counted against the target. Set by the pipeline (plan_for_model), which
  // knows the container; 0 when only the analysis is known.
  std::uint64_t container_bytes = 0;
  bool smallest = false;  // ignore the target: the smallest plan (every item at its fewest bytes)
};

// --probe self (src/evaluate/self_probe.cpp): sensitivities measured with the model's own
// forward passes on token sequences it generates itself from a fixed seed (no external data).
enum class ProbeMode { None, Self };
std::string_view probe_mode_name(ProbeMode m);  // "none", "self"
std::optional<ProbeMode> parse_probe_mode(std::string_view name);

struct ProbeOptions {
  ProbeMode mode = ProbeMode::None;
  int sequences = 4;          // generated sequences
  int length = 128;           // tokens per sequence (the first is the BOS token)
};

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
  ProbeOptions probe;
  OutputFormat format = OutputFormat::Mlx;
  bool keep_dtype = false;       // keep F32 tensors F32 in MLX output (default: F16)
  // A row length not divisible by the chosen group: false = use the largest smaller supported
  // group that divides it (16-bit if none does); true = keep the tensor 16-bit (SWAN's rule).
  bool strict_groups = false;
  std::uint64_t max_shard_bytes = 5'000'000'000ULL;
  Progress* progress = nullptr;  // progress of long stages (not owned); never changes outputs
};

}  // namespace ramq
