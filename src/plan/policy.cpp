// plan stage: the SWAN threshold policy and the uniform baseline policy.
#include <algorithm>
#include <cstdio>

#include "arch/tensor_role.h"
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
  return t.scored && float_dtype && t.name.ends_with(".weight") && !norm_or_router;
}

bool is_protected_tensor(const std::string& name) {
  return is_embedding_or_head(name) || is_never_quantized(classify_tensor(name).role);
}

std::uint64_t quantized_tensor_bytes(std::int64_t rows, std::int64_t cols, std::int64_t batch, int bits, int group) {
  const auto r = static_cast<std::uint64_t>(rows), c = static_cast<std::uint64_t>(cols), b = static_cast<std::uint64_t>(batch);
  const std::uint64_t packed = r * (c * static_cast<std::uint64_t>(bits) / 32) * 4;
  const std::uint64_t groups = r * (c / static_cast<std::uint64_t>(group));
  return b * (packed + groups * 2 /*scale*/ * 2 /*bytes*/);
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

Choice swan_choice(const TensorAnalysis& t, const SwanPolicyOptions& o) {
  if (is_protected_tensor(t.name)) return {16, 0, "protected (embedding, head, norm or router)"};
  if (!t.scores) throw Error("", t.name, "the analysis has no SWAN scores (it was made without the metrics)");
  const double s = swan_composite(*t.scores, o);
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
  if (d.gguf_type) {
    const std::int64_t cols = d.shape.empty() ? 1 : d.shape.back();
    return static_cast<std::uint64_t>(d.numel / std::max<std::int64_t>(1, cols)) * ggml_row_bytes(*d.gguf_type, cols);
  }
  if (d.quantized()) {
    const std::size_t nd = d.shape.size();
    const std::int64_t batch = nd == 3 ? d.shape[0] : 1;
    return quantized_tensor_bytes(d.shape[nd - 2], d.shape[nd - 1], batch, d.bits, d.group);
  }
  const std::uint64_t n = static_cast<std::uint64_t>(d.numel);
  if (source == DType::F32 && !keep_dtype) return n * 2;  // F32 sources are written as F16
  return n * dtype_size(source);
}

Plan make_plan(const ModelAnalysis& analysis, const Options& opt) {
  if (opt.format != "mlx" && opt.format != "gguf")
    throw Error("", "", "unknown format '" + opt.format + "' (expected mlx or gguf)");
  if (opt.policy == "llama-mix") {
    if (opt.format != "gguf") throw Error("", "", "--policy llama-mix writes GGUF types: use it with --format gguf");
    return make_llama_mix_plan(analysis, opt);
  }
  if (opt.policy == "budget") return make_budget_plan(analysis, opt);
  if (opt.policy != "swan" && opt.policy != "uniform")
    throw Error("", "", "unknown policy '" + opt.policy + "' (expected swan, uniform, budget or llama-mix)");
  const bool gguf = opt.format == "gguf";
  Plan p;
  p.policy = opt.policy;
  p.keep_dtype = opt.keep_dtype;
  for (const auto& t : analysis.tensors) {
    TensorDecision d;
    d.name = t.name;
    d.shape = t.shape;
    d.numel = t.numel;
    Choice c;
    if (!t.scored) {
      c = {16, 0, "not quantized: " + t.skip_reason};
    } else if (!t.name.ends_with(".weight")) {
      c = {16, 0, "not a module weight"};
    } else {
      c = opt.policy == "swan" ? swan_choice(t, opt.swan) : uniform_choice(t, opt.uniform);
    }
    const std::int64_t cols = t.shape.empty() ? 0 : t.shape.back();
    if (!gguf && c.bits < 16 && cols % c.group != 0) fit_group_to_row(c, cols, opt.strict_groups);
    d.bits = c.bits;
    d.group = c.group;
    d.reason = c.reason;
    d.bytes = decision_bytes(d, parse_dtype(t.dtype).value_or(DType::F16), opt.keep_dtype);
    p.tensors.push_back(std::move(d));
  }
  std::sort(p.tensors.begin(), p.tensors.end(), [](const auto& x, const auto& y) { return x.name < y.name; });
  if (gguf) {
    assign_gguf_types(p, analysis, opt);  // bit classes -> ggml types (and byte counts)
  } else {
    finalize_plan_totals(p);
  }
  return p;
}

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
