// plan stage: per-tensor precision decisions and plan.json.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramq/analysis.h"
#include "ramq/encoding.h"
#include "ramq/ggml_types.h"

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

// SWAN's threshold presets, {t8, t16}: "paper" (0.65 / 0.90, the defaults above) and those of
// the reference implementation's CLI (baa-ai/swan-quantization, GUIDE.md "Tuning Guide"):
// "compression" 0.55 / 0.90, "balanced" 0.45 / 0.85 (its smartquant/main.py defaults),
// "quality" 0.35 / 0.80, "conservative" 0.30 / 0.75. std::invalid_argument for another name.
std::pair<double, double> swan_preset_thresholds(std::string_view name);

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
  // Weight each tensor's error by its measured sensitivity (the analysis' self probe) instead of
  // the data-free model.
  bool probed = false;
};

// The llama-mix policy: llama.cpp's per-tensor rules for one of its mixes (GGUF only).
struct LlamaMixOptions {
  std::string mix = "Q4_K_M";  // Q3_K_M | Q4_K_M | Q5_K_M | Q6_K | Q8_0
};

// One policy with its own parameters.
using PolicyOptions = std::variant<SwanPolicyOptions, UniformPolicyOptions, BudgetPolicyOptions, LlamaMixOptions>;
PolicyKind policy_kind(const PolicyOptions& p);

// What make_plan needs: the format, the policy, and how float tensors and rows are kept.
struct PlanOptions {
  OutputFormat format = OutputFormat::Mlx;
  PolicyOptions policy;
  bool keep_dtype = false;  // F32 tensors kept F32 (else written as F16)
  // A row length not divisible by the chosen MLX group: false = use the largest smaller supported
  // group that divides it (16-bit if none does); true = keep the tensor 16-bit (SWAN's rule).
  bool strict_groups = false;
};

// SWAN's scores from the raw metrics (include/ramq/metrics.h's score_* normalisations) and the
// composite S with the policy's weights.
SwanScores swan_scores(const RawMetrics& raw, const SwanPolicyOptions& w);
double swan_composite(const SwanScores& s, const SwanPolicyOptions& w);
// Fills every scored tensor's scores from its raw metrics (tensors without metrics keep none).
void score_analysis(ModelAnalysis& analysis, const SwanPolicyOptions& w);

struct TensorDecision {
  std::string name;
  std::vector<std::int64_t> shape;
  std::int64_t numel = 0;
  // MLX plans: a float copy or MLX affine {bits, group}; GGUF plans: the ggml type of every tensor.
  Encoding encoding;
  std::uint64_t bytes = 0;  // bytes in the output (packed weights + scales + biases, or float data)
  std::string reason;
  bool quantized() const { return encoding.quantized(); }
  int bits() const { return encoding.bits(); }  // nominal bits (16: kept in float)
};

struct Plan {
  OutputFormat format = OutputFormat::Mlx;
  PolicyKind policy = PolicyKind::Swan;
  std::string mix;          // llama-mix: the llama.cpp mix it reproduces ("Q4_K_M")
  bool keep_dtype = false;  // F32 tensors kept F32 (else written as F16)
  std::vector<TensorDecision> tensors;  // sorted by name
  std::uint64_t total_bytes = 0;
  std::int64_t total_params = 0;
  double average_bits = 0;  // 8 * total_bytes / total_params
  nlohmann::json details;   // policy-specific facts (budget: target, solver, how errors were measured); may be null
  const TensorDecision* find(const std::string& name) const;
};

// Names kept in 16 bits by every policy unless asked otherwise: embeddings, head, norms, routers.
bool is_protected_tensor(const std::string& name);
bool is_embedding_or_head(const std::string& name);
// The tensors the budget policy chooses an encoding for: scored float module weights, norms and
// routers excluded (embeddings and head included).
bool budget_quantizable(const TensorAnalysis& t);

// Output bytes of one decision for a source tensor of dtype `source` (float copies: F32 sources
// are written as F16 unless keep_dtype): d.encoding.bytes(d.shape, ...).
std::uint64_t decision_bytes(const TensorDecision& d, DType source, bool keep_dtype);
// The plan's policy as plan.json and the summaries name it: "swan", ..., "llama-mix Q4_K_M".
std::string plan_policy_label(const Plan& p);

Plan make_plan(const ModelAnalysis& analysis, const PlanOptions& opt);

// GGUF terms (src/plan/gguf_policy.cpp).
// The K-quant or Q8_0 type of a bit class: 2 Q2_K, 3 Q3_K, 4 Q4_K, 5 Q5_K, 6 Q6_K, 8 Q8_0.
GgmlType gguf_type_for_bits(int bits);
// ramq's rule for rows that do not fit the type's block: the 32-element block type with the
// fewest bits per weight that is not below the wanted type's (IQ4_NL preferred at 4.5), else F16.
GgmlType gguf_fallback(GgmlType wanted, std::int64_t cols);
// Float type of a tensor kept unquantized in GGUF: 1-D tensors F32 (as llama.cpp's converter
// writes norms), others F16, or the source type with keep_dtype.
GgmlType gguf_float_type(const TensorAnalysis& t, bool keep_dtype);
// llama.cpp's own fallback table (tensor_type_fallback in llama-quant.cpp), used by llama-mix.
GgmlType llama_cpp_fallback(GgmlType wanted, std::int64_t cols);
// The mixes llama.cpp documents: Q3_K_M, Q4_K_M, Q5_K_M, Q6_K, Q8_0.
bool is_llama_mix(const std::string& mix);
// Converts a plan's bit classes into GGUF types (swan and uniform policies), in place.
void assign_gguf_types(Plan& p, const ModelAnalysis& analysis, bool keep_dtype);
// The llama-mix policy: llama.cpp's per-tensor rules for the mix.
Plan make_llama_mix_plan(const ModelAnalysis& analysis, const LlamaMixOptions& mix, bool keep_dtype);
// The budget policy (src/plan/budget_policy.cpp): the least sensitivity-weighted error within
// the budget's target. Needs the analysis' rate-distortion curves; throws ramq::Error when the
// target is below the smallest feasible size (named in the message).
Plan make_budget_plan(const ModelAnalysis& analysis, const BudgetPolicyOptions& budget, OutputFormat format,
                      bool keep_dtype);
// The budget in bytes: target_bytes, or target_bpw x params / 8 (whole output). Throws
// ramq::Error unless exactly one target is set.
std::uint64_t budget_target_bytes(const BudgetPolicyOptions& budget, std::int64_t params);
// Recomputes total_bytes, total_params and average_bits from the decisions.
void finalize_plan_totals(Plan& p);

// The plan in text (`--dry-run`): size, bits per weight, per-layer params/bytes/encodings.
std::string plan_summary_text(const Plan& p);

nlohmann::json plan_to_json(const Plan& p);
Plan plan_from_json(const nlohmann::json& j, const std::string& file);  // throws ramq::Error
// Checks that the plan fits the model: every tensor exists, shapes match, bits/group valid.
// Also recomputes every decision's bytes and the totals from the model's dtypes.
void validate_plan_against_model(Plan& p, const ModelReader& model, const std::string& plan_file);

}  // namespace ramq
