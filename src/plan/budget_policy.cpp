// The budget policy: every quantizable tensor's rate-distortion curve (from the analysis),
// weighted by its data-free sensitivity, goes into solve_budget; the plan is the optimum whose
// total bytes (computed by decision_bytes, as the writers write them) fit the target.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "ramq/budget.h"
#include "ramq/error.h"
#include "ramq/model_family.h"
#include "ramq/plan.h"
#include "ramq/sensitivity.h"

namespace ramq {

namespace {

struct Candidate {
  TensorDecision decision;  // encoding and bytes
  double rel_err = 0;
};

// The plan's format and float rule, what every candidate's bytes depend on.
struct Target {
  OutputFormat format;
  bool keep_dtype;
};

// A tensor the solver chooses for: its weight and candidate encodings.
struct Member {
  std::size_t tensor = 0;  // index in the plan's decisions
  Sensitivity sensitivity;
  const TensorRd* rd = nullptr;
  std::vector<Candidate> candidates;
};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string encoding_name(const TensorDecision& d) { return d.encoding.name(); }

// Separately stored experts of one projection must share one encoding: "...experts.7.w1.weight"
// and "...experts.0.w1.weight" share the key "...experts.*.w1.weight".
std::string share_key(const std::string& name) { return expert_stack_key(name); }


TensorDecision base_decision(const TensorAnalysis& t) {
  TensorDecision d;
  d.name = t.name;
  d.shape = t.shape;
  d.numel = t.numel;
  return d;
}

// The 16-bit decision of a tensor in the plan's format, with its bytes.
TensorDecision float_decision(const TensorAnalysis& t, const Target& opt, DType source) {
  TensorDecision d = base_decision(t);
  if (opt.format == OutputFormat::Gguf) d.encoding = Encoding::ggml(gguf_float_type(t, opt.keep_dtype));
  d.bytes = decision_bytes(d, source, opt.keep_dtype);
  return d;
}

std::vector<Candidate> candidates_of(const TensorAnalysis& t, const TensorRd& rd, const Target& opt, DType source) {
  std::vector<Candidate> out;
  const RdPoint* f16 = rd.find_float();
  if (!f16) throw Error("", t.name, "the rate-distortion curve has no 16-bit point");
  Candidate keep{float_decision(t, opt, source), f16->rel_err};
  const bool lossless = keep.decision.encoding.is_float_copy() ? source != DType::F32 || opt.keep_dtype
                                                                : keep.decision.encoding.name() == t.dtype;
  if (lossless) keep.rel_err = 0;
  out.push_back(keep);
  for (const RdPoint& p : rd.points) {
    // The candidates of the plan's format: MLX affine for MLX, ggml block types for GGUF.
    const bool mine = opt.format == OutputFormat::Mlx ? p.encoding.affine() != nullptr
                                                      : p.encoding.ggml_type().has_value();
    if (!mine) continue;
    TensorDecision d = base_decision(t);
    d.encoding = p.encoding;
    d.bytes = decision_bytes(d, source, opt.keep_dtype);
    out.push_back({d, p.rel_err});
  }
  return out;
}

std::string measured_on(const TensorRd& rd) {
  return rd.sampled_rows == rd.rows ? "all " + std::to_string(rd.rows) + " rows"
                                    : std::to_string(rd.sampled_rows) + " of " + std::to_string(rd.rows) + " rows";
}

}  // namespace

std::uint64_t budget_target_bytes(const BudgetPolicyOptions& b, std::int64_t params) {
  params = std::max<std::int64_t>(1, params);
  if ((b.target_bpw > 0) == (b.target_bytes > 0))
    throw Error("", "", "the budget policy needs exactly one target: bits per weight or total bytes");
  if (b.target_bytes > 0) return b.target_bytes;
  if (!(b.target_bpw <= 64)) throw Error("", "", "the budget's bits per weight must be at most 64");
  return static_cast<std::uint64_t>(std::floor(b.target_bpw * static_cast<double>(params) / 8.0));
}

namespace {

std::string size_text(std::uint64_t bytes, std::int64_t params) {
  return std::to_string(bytes) + " bytes (" + fmt("%.4f", 8.0 * static_cast<double>(bytes) / static_cast<double>(params)) +
         " bits per weight)";
}

}  // namespace

Plan make_budget_plan(const ModelAnalysis& analysis, const BudgetPolicyOptions& budget, OutputFormat format,
                      bool keep_dtype) {
  const Target opt{format, keep_dtype};
  Plan p;
  p.format = opt.format;
  p.policy = PolicyKind::Budget;
  const bool probed = budget.probed;
  if (probed && analysis.probe.is_null())
    throw Error("", "", "the budget policy was asked for probed sensitivities, but the analysis has no probe measurements (analyze with the self probe)");
  p.keep_dtype = opt.keep_dtype;
  const SensitivityContext sctx = sensitivity_context(analysis);

  // Decisions in name order; quantizable tensors become members of a solver item.
  std::vector<const TensorAnalysis*> sorted;
  for (const auto& t : analysis.tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](auto* x, auto* y) { return x->name < y->name; });
  std::vector<std::string> item_keys;
  std::map<std::string, std::vector<Member>> items_by_key;
  std::uint64_t fixed_bytes = 0;
  std::int64_t rows_total = 0, rows_sampled = 0;
  for (const TensorAnalysis* t : sorted) {
    const DType source = parse_dtype(t->dtype).value_or(DType::F16);
    if (!budget_quantizable(*t)) {
      TensorDecision d = float_decision(*t, opt, source);
      d.reason = t->scored ? "kept 16-bit: norm, router or not a module weight" : "not quantized: " + t->skip_reason;
      fixed_bytes += d.bytes;
      p.tensors.push_back(std::move(d));
      continue;
    }
    if (!t->rd)
      throw Error("", t->name,
                  "the analysis has no rate-distortion curve for this tensor (the budget policy needs the curves)");
    if (opt.format == OutputFormat::Mlx && analysis.rd_options && !analysis.rd_options->mlx)
      throw Error("", "", "the analysis measured no MLX candidates (analyze with the MLX curves)");
    if (opt.format == OutputFormat::Gguf && analysis.rd_options && !analysis.rd_options->gguf)
      throw Error("", "", "the analysis measured no GGUF candidates (analyze with the GGUF curves)");
    Member m;
    m.tensor = p.tensors.size();
    m.sensitivity = tensor_sensitivity(*t, sctx);
    m.rd = &*t->rd;
    m.candidates = candidates_of(*t, *t->rd, opt, source);
    if (probed && m.candidates.size() > 1) {  // (a tensor with only its 16-bit copy needs no weight)
      if (!t->probe) throw Error("", t->name, "the analysis has no probe measurement for this tensor");
      m.sensitivity.weight = t->probe->kld_per_rel_err();
      m.sensitivity.probed = true;
    }
    rows_total += t->rd->rows;
    rows_sampled += t->rd->sampled_rows;
    p.tensors.push_back(m.candidates.front().decision);
    const std::string key = share_key(t->name);
    if (!items_by_key.count(key)) item_keys.push_back(key);
    items_by_key[key].push_back(std::move(m));
  }

  // Solver items: a tensor, or the experts of one projection sharing one encoding (costs averaged).
  std::vector<BudgetItem> items;
  for (const auto& key : item_keys) {
    const auto& members = items_by_key.at(key);
    BudgetItem item;
    for (std::size_t j = 0; j < members.front().candidates.size(); ++j) {
      BudgetOption o;
      for (const Member& m : members) {
        if (m.candidates.size() != members.front().candidates.size() ||
            encoding_name(m.candidates[j].decision) != encoding_name(members.front().candidates[j].decision))
          throw Error("", p.tensors[m.tensor].name, "experts of one projection have different candidate encodings");
        o.bytes += m.candidates[j].decision.bytes;
        o.cost += m.sensitivity.weight * m.candidates[j].rel_err / static_cast<double>(members.size());
      }
      item.options.push_back(o);
    }
    items.push_back(std::move(item));
  }

  const std::int64_t params = std::max<std::int64_t>(1, analysis.total_params);
  std::uint64_t target = budget_target_bytes(budget, params);
  std::uint64_t min_bytes = fixed_bytes, max_bytes = fixed_bytes;
  for (const auto& it : items) {
    std::uint64_t lo = it.options.front().bytes, hi = lo;
    for (const auto& o : it.options) {
      lo = std::min(lo, o.bytes);
      hi = std::max(hi, o.bytes);
    }
    min_bytes += lo;
    max_bytes += hi;
  }
  const std::uint64_t container = budget.container_bytes;
  if (budget.smallest) target = min_bytes + container;
  if (target < min_bytes + container)
    throw Error("", "",
                "the budget " + size_text(target, params) + " is below the smallest feasible size, " +
                    size_text(min_bytes + container, params) +
                    " (every quantizable tensor at its smallest encoding, the rest kept 16-bit" +
                    (container > 0 ? ", plus " + std::to_string(container) + " bytes of headers and metadata" : "") +
                    ")");
  const BudgetSolution sol = solve_budget(items, target - container - fixed_bytes);

  for (std::size_t i = 0; i < items.size(); ++i) {
    for (const Member& m : items_by_key.at(item_keys[i])) {
      const Candidate& c = m.candidates[sol.choice[i]];
      TensorDecision& d = p.tensors[m.tensor];
      d = c.decision;
      d.reason = "budget: " + encoding_name(d) + ", relative error " + fmt("%.3e", c.rel_err) + " (measured on " +
                 measured_on(*m.rd) + "); " + m.sensitivity.describe();
    }
  }
  finalize_plan_totals(p);

  nlohmann::json details = {
      {"target_bytes", target},
      {"target_average_bits", 8.0 * static_cast<double>(target) / static_cast<double>(params)},
      {"container_bytes", container},
      {"achieved_bytes", p.total_bytes + container},
      {"achieved_fraction_of_target", static_cast<double>(p.total_bytes + container) / static_cast<double>(target)},
      {"smallest_feasible_bytes", min_bytes + container},
      {"largest_plan_bytes", max_bytes + container},
      {"fixed_bytes", fixed_bytes},
      {"weighted_error", sol.cost},
      {"objective", "sum over quantizable tensors of sensitivity weight x ||W - Q(W)||^2 / ||W||^2"},
      {"sensitivity", probed ? "probe self: measured KL divergence per unit relative error (see the analysis' probe)"
                             : "data-free model (include/ramq/sensitivity.h)"},
      {"solver", sol.exact ? "dynamic programme over bytes, exact (cells of " + std::to_string(sol.cell_bytes) + " bytes)"
                           : "dynamic programme over cells of " + std::to_string(sol.cell_bytes) +
                                 " bytes (costs rounded up) + greedy fill"},
      {"rd_rows_measured", rows_sampled},
      {"rd_rows_total", rows_total},
      {"rd_measured_on", std::to_string(rows_sampled) + " of " + std::to_string(rows_total) +
                             " rows of the quantizable tensors (evenly spaced; per tensor at most " +
                             std::to_string(analysis.rd_options ? analysis.rd_options->max_rows : 0) +
                             " rows and, above 8 rows, about " +
                             std::to_string(analysis.rd_options ? analysis.rd_options->max_elements : 0) +
                             " elements), errors extrapolated per row"},
      {"items", items.size()}};
  if (budget.target_bpw > 0) details["target_bpw"] = budget.target_bpw;
  if (probed) details["probe"] = {{"kind", "self"}, {"sequences", analysis.probe.value("sequences", 0)},
                                  {"length", analysis.probe.value("length", 0)}, {"seed", analysis.probe.value("seed", 0ull)}};
  if (!analysis.rd_mlx_encoder.empty()) details["mlx_encoder"] = analysis.rd_mlx_encoder;
  if (target > max_bytes + container) details["note"] = "the budget exceeds the largest plan: every quantizable tensor is kept 16-bit";
  p.details = std::move(details);
  return p;
}

}  // namespace ramq
