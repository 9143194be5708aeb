// Stacked routed experts as per-expert tensors (read/stacked_experts.h).
#include "read/stacked_experts.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string_view>

#include "ramq/error.h"

namespace ramq {

namespace {

// What a model type's stacks become: transformers 5's module and projection names, inverted.
struct StackNaming {
  std::string_view model_type;
  std::string_view stack_module, expert_module;  // "mlp.experts" -> "block_sparse_moe.experts"
  std::string_view gate, up, down;               // per-expert projection names
  std::string_view router_from, router_to;       // the router renamed with them ("" if it is not)
};

constexpr StackNaming kNamings[] = {
    {"mixtral", "mlp.experts", "block_sparse_moe.experts", "w1", "w3", "w2", "mlp.gate.weight",
     "block_sparse_moe.gate.weight"},
    {"qwen2_moe", "mlp.experts", "mlp.experts", "gate_proj", "up_proj", "down_proj", "", ""},
    {"qwen3_moe", "mlp.experts", "mlp.experts", "gate_proj", "up_proj", "down_proj", "", ""},
    {"qwen3_5_moe", "mlp.experts", "mlp.experts", "gate_proj", "up_proj", "down_proj", "", ""},
};

const StackNaming* naming_for(const std::string& model_type) {
  for (const auto& n : kNamings)
    if (n.model_type == model_type) return &n;
  return nullptr;
}

struct StackName {
  std::string prefix;       // "model.layers.0.block_sparse_moe.experts": the per-expert module
  std::string projection;   // "gate_up_proj", "gate_proj", "up_proj" or "down_proj"
};

std::optional<StackName> stack_name(std::string_view name, const StackNaming& naming) {
  if (name.ends_with(".weight")) name.remove_suffix(7);
  for (const std::string_view p : {"gate_up_proj", "gate_proj", "up_proj", "down_proj"}) {
    const std::string tail = ".experts." + std::string(p);
    if (name.size() <= tail.size() || !name.ends_with(tail)) continue;
    std::string prefix(name.substr(0, name.size() - tail.size() + 8));
    const std::string from = "." + std::string(naming.stack_module);
    if (prefix.ends_with(from)) prefix = prefix.substr(0, prefix.size() - from.size()) + "." + std::string(naming.expert_module);
    return StackName{prefix, std::string(p)};
  }
  return std::nullopt;
}

// Bytes of one stored row of a [rows, cols] matrix of t (codes for an encoded tensor).
std::uint64_t row_bytes(const TensorInfo& t, std::int64_t cols) {
  const auto c = static_cast<std::uint64_t>(cols);
  if (t.encoding == SourceEncoding::F8Block) return c;
  if (t.encoding == SourceEncoding::Mxfp4) return c / 2;
  return c * dtype_size(t.dtype);
}

// The scales of rows [row, row + rows) of the [E x stack_rows, cols] matrix of codes of t.
std::shared_ptr<const TensorInfo> scale_view(const TensorInfo& t, std::int64_t row, std::int64_t rows,
                                             std::int64_t* phase) {
  const TensorInfo& s = *t.scales;
  TensorInfo v = s;
  const std::int64_t per_row = s.shape.back();  // scales per stored scale row
  std::int64_t first = row;  // MXFP4: one scale row per code row
  v.shape = {rows, per_row};
  if (t.encoding == SourceEncoding::F8Block) {
    const std::int64_t stack_rows = t.shape[1], expert = row / stack_rows, in_expert = row % stack_rows;
    *phase = in_expert % t.block_rows;
    first = expert * s.shape[1] + in_expert / t.block_rows;
    v.shape = {(*phase + rows + t.block_rows - 1) / t.block_rows, per_row};
  }
  const std::uint64_t bytes = static_cast<std::uint64_t>(per_row) * dtype_size(s.dtype);
  v.offset = s.offset + static_cast<std::uint64_t>(first) * bytes;
  v.nbytes = static_cast<std::uint64_t>(v.shape[0]) * bytes;
  return std::make_shared<const TensorInfo>(std::move(v));
}

// Where one expert's tensor sits in the stack t [E, a, b].
struct Slice {
  std::int64_t expert, first, rows;  // [E, out, in]: rows [first, first + rows) of expert's [a, b]
  bool transposed = false;           // [E, in, out]: columns [first, first + rows) of expert's [a, b]
};

TensorInfo expert_view(const TensorInfo& t, const std::string& name, const Slice& s) {
  const std::int64_t a = t.shape[1], b = t.shape[2];
  TensorInfo v = t;
  v.name = name;
  v.stored_as = t.name + " " + shape_text(t.shape) + ", expert " + std::to_string(s.expert);
  const bool part = s.rows != (s.transposed ? b : a);
  if (part)
    v.stored_as += std::string(s.transposed ? ", columns " : ", rows ") + std::to_string(s.first) + "-" +
                   std::to_string(s.first + s.rows - 1);
  if (s.transposed) {  // element (r, c) of the view is stored element (c, first + r) of the expert
    const std::uint64_t esize = dtype_size(t.dtype);
    v.shape = {s.rows, a};
    v.encoding = SourceEncoding::Transposed;
    v.column_stride = b;
    v.offset = t.offset + static_cast<std::uint64_t>(s.expert * a * b + s.first) * esize;
    v.nbytes = static_cast<std::uint64_t>((a - 1) * b + s.rows) * esize;
    return v;
  }
  const std::int64_t row = s.expert * a + s.first;
  v.shape = {s.rows, b};
  v.offset = t.offset + static_cast<std::uint64_t>(row) * row_bytes(t, b);
  v.nbytes = static_cast<std::uint64_t>(s.rows) * row_bytes(t, b);
  if (t.encoded()) v.scales = scale_view(t, row, s.rows, &v.block_row_phase);
  return v;
}

// Whether the stack t of `projection` is stored [E, in, out] (see the header).
bool stored_transposed(const TensorInfo& t, const std::string& projection, std::int64_t hidden) {
  const std::int64_t a = t.shape[1], b = t.shape[2];
  const bool transposed = projection == "down_proj" ? b == hidden && a != hidden : a == hidden && b != hidden;
  if (transposed && t.encoded())
    throw Error(t.file, t.name,
                "is a block-scaled (" + t.source_dtype() + ") expert stack stored [experts, in, out] " +
                    shape_text(t.shape) + ": ramq reads block-scaled stacks only as [experts, out, in]");
  return transposed;
}

void add_views(const TensorInfo& t, const StackName& s, const StackNaming& naming, std::int64_t hidden,
               std::vector<TensorInfo>& out) {
  const std::int64_t experts = t.shape[0];
  const bool transposed = stored_transposed(t, s.projection, hidden);
  const std::int64_t outputs = transposed ? t.shape[2] : t.shape[1];
  const auto name = [&](std::int64_t e, std::string_view projection) {
    return s.prefix + "." + std::to_string(e) + "." + std::string(projection) + ".weight";
  };
  if (s.projection != "gate_up_proj") {
    const std::string_view p = s.projection == "gate_proj" ? naming.gate : s.projection == "up_proj" ? naming.up : naming.down;
    for (std::int64_t e = 0; e < experts; ++e) out.push_back(expert_view(t, name(e, p), {e, 0, outputs, transposed}));
    return;
  }
  if (outputs % 2 != 0)
    throw Error(t.file, t.name,
                "is a fused gate_up_proj stack " + shape_text(t.shape) + " with an odd " +
                    (transposed ? "column" : "row") + " count: it cannot be split into gate and up halves");
  const std::int64_t half = outputs / 2;
  for (std::int64_t e = 0; e < experts; ++e) {
    out.push_back(expert_view(t, name(e, naming.gate), {e, 0, half, transposed}));
    out.push_back(expert_view(t, name(e, naming.up), {e, half, half, transposed}));
  }
}

// Mixtral's router, stored beside the stacks under transformers 5's name.
void rename_router(TensorInfo& t, const StackNaming& naming) {
  if (naming.router_from.empty() || !t.name.ends_with("." + std::string(naming.router_from))) return;
  t.stored_as = t.name;
  t.name = t.name.substr(0, t.name.size() - naming.router_from.size()) + std::string(naming.router_to);
}

}  // namespace

void split_stacked_experts(std::vector<TensorInfo>& tensors, const ModelConfig& config) {
  const StackNaming* naming = naming_for(config.model_type);
  if (naming == nullptr) return;
  const auto stack_of = [&](const TensorInfo& t) {
    return t.shape.size() == 3 && t.shape[0] > 0 ? stack_name(t.name, *naming) : std::nullopt;
  };
  if (std::none_of(tensors.begin(), tensors.end(), [&](const TensorInfo& t) { return stack_of(t).has_value(); }))
    return;
  std::vector<TensorInfo> out;
  for (auto& t : tensors) {
    if (const auto s = stack_of(t)) {
      add_views(t, *s, *naming, config.hidden_size, out);
      continue;
    }
    rename_router(t, *naming);
    out.push_back(std::move(t));
  }
  std::sort(out.begin(), out.end(), [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
  for (std::size_t i = 1; i < out.size(); ++i)
    if (out[i].name == out[i - 1].name) {
      const TensorInfo& view = out[i].stored_as.empty() ? out[i - 1] : out[i];
      throw Error(view.file, view.name, "is stored both on its own and as " + view.stored_as);
    }
  tensors = std::move(out);
}

}  // namespace ramq
