// plan stage: the SWAN threshold policy and the uniform baseline policy.
#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "ramq/module_weight.h"
#include "ramq/model_family.h"
#include "ramq/tensor_role.h"
#include "ramq/error.h"
#include "ramq/plan.h"

namespace ramq {

bool is_embedding_or_head(const std::string& name) {
  const TensorRole r = classify_tensor(name).role;
  return r == TensorRole::Embedding || r == TensorRole::Head;
}

bool budget_quantizable(const TensorAnalysis& t) {
  const bool float_dtype = t.dtype == "F32" || t.dtype == "F16" || t.dtype == "BF16";
  const bool norm_or_router = is_protected_tensor(t.name) && !is_embedding_or_head(t.name);
  return t.scored && float_dtype && is_module_weight(t.name) && !norm_or_router;
}

bool is_protected_tensor(const std::string& name) {
  return is_embedding_or_head(name) || is_never_quantized(classify_tensor(name).role);
}

std::string_view policy_name(PolicyKind p) {
  switch (p) {
    case PolicyKind::Uniform: return "uniform";
    case PolicyKind::Budget: return "budget";
    case PolicyKind::LlamaMix: return "llama-mix";
    default: return "swan";
  }
}

std::optional<PolicyKind> parse_policy(std::string_view name) {
  for (const PolicyKind p : {PolicyKind::Swan, PolicyKind::Uniform, PolicyKind::Budget, PolicyKind::LlamaMix})
    if (policy_name(p) == name) return p;
  return std::nullopt;
}

PolicyKind policy_kind(const PolicyOptions& p) {
  if (std::holds_alternative<UniformPolicyOptions>(p)) return PolicyKind::Uniform;
  if (std::holds_alternative<BudgetPolicyOptions>(p)) return PolicyKind::Budget;
  if (std::holds_alternative<LlamaMixOptions>(p)) return PolicyKind::LlamaMix;
  return PolicyKind::Swan;
}

std::pair<double, double> swan_preset_thresholds(std::string_view name) {
  if (name == "paper") return {0.65, 0.90};
  if (name == "compression") return {0.55, 0.90};
  if (name == "balanced") return {0.45, 0.85};
  if (name == "quality") return {0.35, 0.80};
  if (name == "conservative") return {0.30, 0.75};
  throw std::invalid_argument("unknown SWAN preset '" + std::string(name) + "'");
}

double swan_composite(const SwanScores& s, const SwanPolicyOptions& w) {
  return w.w_svd * s.s_svd + w.w_kurt * s.s_kurt + w.w_out * s.s_out + w.w_err * s.s_err;
}

SwanScores swan_scores(const RawMetrics& raw, const SwanPolicyOptions& w) {
  const auto clip01 = [](double v) { return std::clamp(v, 0.0, 1.0); };
  SwanScores s;
  s.s_svd = clip01(score_svd(raw.concentration));
  s.s_kurt = clip01(score_kurtosis(raw.kurtosis));
  s.s_out = clip01(score_output(raw.noise_amp));
  s.s_err = clip01(score_error(raw.nrmse));
  s.composite = swan_composite(s, w);
  return s;
}

void score_analysis(ModelAnalysis& analysis, const SwanPolicyOptions& w) {
  for (auto& t : analysis.tensors)
    if (t.raw) t.scores = swan_scores(*t.raw, w);
}

std::string plan_policy_label(const Plan& p) {
  const std::string name(policy_name(p.policy));
  return p.mix.empty() ? name : name + " " + p.mix;
}

const TensorDecision* Plan::find(const std::string& name) const {
  auto it = std::lower_bound(tensors.begin(), tensors.end(), name,
                             [](const TensorDecision& d, const std::string& n) { return d.name < n; });
  return it != tensors.end() && it->name == name ? &*it : nullptr;
}

namespace {

struct Choice {
  int bits = 16;
  int group = 0;
  std::string reason;
};

// SWAN's thresholds on a composite score.
Choice swan_threshold_choice(double s, const SwanPolicyOptions& o) {
  char buf[96];
  if (s >= o.t16) {
    std::snprintf(buf, sizeof buf, "S=%.4f >= %.2f", s, o.t16);
    return {16, 0, buf};
  }
  if (s >= o.t8) {
    std::snprintf(buf, sizeof buf, "S=%.4f >= %.2f", s, o.t8);
    return {8, o.group8, buf};
  }
  if (s <= o.t2) {
    std::snprintf(buf, sizeof buf, "S=%.4f <= %.2f", s, o.t2);
    return {2, o.group2, buf};
  }
  std::snprintf(buf, sizeof buf, "%.2f < S=%.4f < %.2f", o.t2, s, o.t8);
  return {4, o.group4, buf};
}

// The SWAN score of the routed experts of one projection stored one tensor each, by stack key
// (model_family.h's expert_stack_key): the mean composite of the experts SWAN's own sampling of
// a stacked [E, out, in] tensor scores (scored_expert_indices: 4 evenly spaced), so that all of
// them get one encoding, as mlx_lm's stacking and llama.cpp's *_exps tensors need.
struct GroupScore {
  double score = 0;
  std::string experts;  // "0, 3, 5, 7"
};
std::map<std::string, GroupScore> expert_group_scores(const ModelAnalysis& a, const SwanPolicyOptions& o) {
  std::map<std::string, std::map<std::int64_t, const TensorAnalysis*>> groups;
  for (const auto& t : a.tensors) {
    std::int64_t expert = -1;
    std::string key = expert_stack_key(t.name, &expert);
    if (expert >= 0) groups[key][expert] = &t;  // all members: their count sets the sample
  }
  std::map<std::string, GroupScore> out;
  for (const auto& [key, members] : groups) {
    const std::int64_t count = members.rbegin()->first + 1;
    GroupScore g;
    int n = 0;
    for (const std::int64_t e : scored_expert_indices(count)) {
      const auto it = members.find(e);
      if (it == members.end() || !it->second->scores) continue;
      g.score += swan_composite(*it->second->scores, o);
      g.experts += (n++ ? ", " : "") + std::to_string(e);
    }
    if (n == 0) continue;
    g.score /= n;
    out[key] = g;
  }
  return out;
}

// The SWAN reference code's protected patterns beyond the roles ramq protects (smartquant/config.py
// protected_patterns): vision components and positional embeddings, matched as substrings.
bool is_reference_protected_component(const std::string& name) {
  for (const char* p : {"vision_model", "multi_modal_projector", "positional_embedding", "class_embedding",
                        "patch_embedding"})
    if (name.find(p) != std::string::npos) return true;
  return false;
}

Choice swan_choice(const TensorAnalysis& t, const SwanPolicyOptions& o, const std::map<std::string, GroupScore>& groups) {
  if (is_protected_tensor(t.name)) return {16, 0, "protected (embedding, head, norm or router)"};
  if (is_reference_protected_component(t.name))
    return {16, 0, "protected (vision component or positional embedding, as SWAN's reference code)"};
  // A routed expert takes its stack's score; the analysis measures only the sampled experts.
  if (const auto g = groups.find(expert_stack_key(t.name)); g != groups.end()) {
    const Choice c = swan_threshold_choice(g->second.score, o);
    return {c.bits, c.group, c.reason + " (mean of experts " + g->second.experts + ")"};
  }
  if (!t.scores) throw Error("", t.name, "the analysis has no SWAN scores (it was made without the metrics)");
  return swan_threshold_choice(swan_composite(*t.scores, o), o);
}

// The chosen group does not divide the row: take the largest smaller supported group that does
// (unless strict), else keep the tensor in 16 bits. The reason records what happened.
void fit_group_to_row(Choice& c, std::int64_t cols, bool strict) {
  const std::string wanted = std::to_string(c.bits) + "-bit group " + std::to_string(c.group);
  if (!strict) {
    for (int g : {128, 64, 32}) {
      if (g < c.group && cols % g == 0) {
        c.reason += "; group " + std::to_string(c.group) + " does not divide row length " + std::to_string(cols) +
                    ", using group " + std::to_string(g);
        c.group = g;
        return;
      }
    }
  }
  c.reason = "kept 16-bit: row length " + std::to_string(cols) + " is not divisible by " +
             (strict ? "group " + std::to_string(c.group) : std::string("any supported group")) + " (wanted " + wanted +
             "; " + c.reason + ")";
  c.bits = 16;
  c.group = 0;
}

Choice uniform_choice(const TensorAnalysis& t, const UniformPolicyOptions& o) {
  if (o.bits >= 16) return {16, 0, "uniform 16-bit: kept in float"};
  if (is_embedding_or_head(t.name) && !o.quantize_embeddings) return {16, 0, "embedding/head kept (no --quantize-embeddings)"};
  if (!is_embedding_or_head(t.name) && is_protected_tensor(t.name)) return {16, 0, "protected (norm or router)"};
  return {o.bits, o.group, "uniform " + std::to_string(o.bits) + "-bit"};
}

}  // namespace

std::uint64_t decision_bytes(const TensorDecision& d, DType source, bool keep_dtype) {
  // The MLX writer keeps linear attention's A_log / dt_bias in their dtype (F32 stays F32).
  const bool keep = keep_dtype || (d.encoding.is_float_copy() && classify_tensor(d.name).role == TensorRole::SsmParam);
  return d.encoding.bytes(d.shape, source, keep);
}

namespace {

// The analysis without the tensors no output carries (ModelFamily::left_out), or nullopt when
// there are none: they get no decision and take no part in a budget.
std::optional<ModelAnalysis> without_left_out(const ModelAnalysis& analysis) {
  const auto left_out = [&](const TensorAnalysis& t) { return is_left_out(analysis.config.model_type, t.name); };
  if (std::none_of(analysis.tensors.begin(), analysis.tensors.end(), left_out)) return std::nullopt;
  ModelAnalysis kept = analysis;
  std::erase_if(kept.tensors, left_out);
  return kept;
}

Plan make_plan_of_kept(const ModelAnalysis& analysis, const PlanOptions& opt);

}  // namespace

Plan make_plan(const ModelAnalysis& analysis, const PlanOptions& opt) {
  if (const auto kept = without_left_out(analysis)) return make_plan_of_kept(*kept, opt);
  return make_plan_of_kept(analysis, opt);
}

namespace {

Plan make_plan_of_kept(const ModelAnalysis& analysis, const PlanOptions& opt) {
  if (const auto* mix = std::get_if<LlamaMixOptions>(&opt.policy)) {
    if (opt.format != OutputFormat::Gguf)
      throw Error("", "", "the llama-mix policy writes GGUF types: it needs the GGUF format");
    return make_llama_mix_plan(analysis, *mix, opt.keep_dtype);
  }
  if (const auto* budget = std::get_if<BudgetPolicyOptions>(&opt.policy))
    return make_budget_plan(analysis, *budget, opt.format, opt.keep_dtype);
  const bool gguf = opt.format == OutputFormat::Gguf;
  const auto* swan = std::get_if<SwanPolicyOptions>(&opt.policy);
  const auto* uniform = std::get_if<UniformPolicyOptions>(&opt.policy);
  Plan p;
  p.format = opt.format;
  p.policy = policy_kind(opt.policy);
  p.keep_dtype = opt.keep_dtype;
  const auto expert_groups = swan ? expert_group_scores(analysis, *swan) : std::map<std::string, GroupScore>{};
  for (const auto& t : analysis.tensors) {
    TensorDecision d;
    d.name = t.name;
    d.shape = t.shape;
    d.numel = t.numel;
    Choice c;
    if (!t.scored) {
      c = {16, 0, "not quantized: " + t.skip_reason};
    } else if (!is_module_weight(t.name)) {
      c = {16, 0, "not a module weight"};
    } else {
      c = swan ? swan_choice(t, *swan, expert_groups) : uniform_choice(t, *uniform);
    }
    const std::int64_t cols = t.shape.empty() ? 0 : t.shape.back();
    if (!gguf && c.bits < 16 && cols % c.group != 0) fit_group_to_row(c, cols, opt.strict_groups);
    d.encoding = c.bits < 16 ? Encoding::mlx_affine(c.bits, c.group) : Encoding::float_copy();
    d.reason = c.reason;
    d.bytes = decision_bytes(d, parse_dtype(t.dtype).value_or(DType::F16), opt.keep_dtype);
    p.tensors.push_back(std::move(d));
  }
  std::sort(p.tensors.begin(), p.tensors.end(), [](const auto& x, const auto& y) { return x.name < y.name; });
  if (gguf) {
    assign_gguf_types(p, analysis, opt.keep_dtype);  // bit classes -> ggml types (and byte counts)
  } else {
    finalize_plan_totals(p);
  }
  return p;
}

}  // namespace

void finalize_plan_totals(Plan& p) {
  p.total_bytes = 0;
  p.total_params = 0;
  for (const auto& d : p.tensors) {
    p.total_bytes += d.bytes;
    p.total_params += d.numel;
  }
  p.average_bits = p.total_params > 0 ? 8.0 * static_cast<double>(p.total_bytes) / static_cast<double>(p.total_params) : 0.0;
}

}  // namespace ramq
