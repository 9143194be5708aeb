// Stacked routed experts as per-expert tensors (read/stacked_experts.h).
#include "read/stacked_experts.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string_view>

#include "ramq/error.h"

namespace ramq {

namespace {

struct StackName {
  std::string prefix;       // "model.layers.0.mlp.experts"
  std::string projection;   // "gate_up_proj", "gate_proj", "up_proj" or "down_proj"
};

std::optional<StackName> stack_name(std::string_view name) {
  if (name.ends_with(".weight")) name.remove_suffix(7);
  for (const std::string_view p : {"gate_up_proj", "gate_proj", "up_proj", "down_proj"}) {
    const std::string tail = ".experts." + std::string(p);
    if (name.size() > tail.size() && name.ends_with(tail))
      return StackName{std::string(name.substr(0, name.size() - tail.size() + 8)), std::string(p)};
  }
  return std::nullopt;
}

// Rows [first, first + rows) of expert e of a stack [E, stack_rows, cols], as a tensor of its own.
TensorInfo expert_view(const TensorInfo& t, const std::string& name, std::int64_t e, std::int64_t first,
                       std::int64_t rows) {
  const std::int64_t stack_rows = t.shape[1], cols = t.shape[2];
  const std::uint64_t row_bytes = static_cast<std::uint64_t>(cols) * dtype_size(t.dtype);
  TensorInfo v;
  v.name = name;
  v.dtype = t.dtype;
  v.shape = {rows, cols};
  v.file = t.file;
  v.offset = t.offset + static_cast<std::uint64_t>(e * stack_rows + first) * row_bytes;
  v.nbytes = static_cast<std::uint64_t>(rows) * row_bytes;
  v.stored_as = t.name + " " + shape_text(t.shape) + ", expert " + std::to_string(e) +
                (rows == stack_rows ? "" : ", rows " + std::to_string(first) + "-" + std::to_string(first + rows - 1));
  return v;
}

void add_views(const TensorInfo& t, const StackName& s, std::vector<TensorInfo>& out) {
  const std::int64_t experts = t.shape[0], rows = t.shape[1];
  const auto name = [&](std::int64_t e, const char* projection) {
    return s.prefix + "." + std::to_string(e) + "." + projection + ".weight";
  };
  if (s.projection != "gate_up_proj") {
    for (std::int64_t e = 0; e < experts; ++e) out.push_back(expert_view(t, name(e, s.projection.c_str()), e, 0, rows));
    return;
  }
  if (rows % 2 != 0)
    throw Error(t.file, t.name,
                "is a fused gate_up_proj stack " + shape_text(t.shape) + " with an odd row count: it cannot be split "
                "into gate and up halves");
  for (std::int64_t e = 0; e < experts; ++e) {
    out.push_back(expert_view(t, name(e, "gate_proj"), e, 0, rows / 2));
    out.push_back(expert_view(t, name(e, "up_proj"), e, rows / 2, rows / 2));
  }
}

}  // namespace

bool splits_stacked_experts(const std::string& model_type) {
  return model_type == "mixtral" || model_type == "qwen2_moe" || model_type == "qwen3_moe";
}

void split_stacked_experts(std::vector<TensorInfo>& tensors) {
  // Block-scaled stacks (FP8, MXFP4) stay whole: their scales are not split with them.
  const auto stack_of = [](const TensorInfo& t) {
    return t.shape.size() == 3 && t.shape[0] > 0 && !t.encoded() ? stack_name(t.name) : std::nullopt;
  };
  if (std::none_of(tensors.begin(), tensors.end(), [&](const TensorInfo& t) { return stack_of(t).has_value(); }))
    return;
  std::vector<TensorInfo> out;
  for (auto& t : tensors) {
    if (const auto s = stack_of(t))
      add_views(t, *s, out);
    else
      out.push_back(std::move(t));
  }
  std::sort(out.begin(), out.end(), [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
  for (std::size_t i = 1; i < out.size(); ++i)
    if (out[i].name == out[i - 1].name) {
      const TensorInfo& view = out[i].stored_as.empty() ? out[i - 1] : out[i];
      throw Error(view.file, view.name, "is stored both on its own and in the stack " + view.stored_as);
    }
  tensors = std::move(out);
}

}  // namespace ramq
