// arch: which tensors are module weights, the only tensors a policy may quantize (read by the
// analysis, the policies, plan.json and the MLX writer).
#pragma once

#include <string_view>

namespace ramq {

// "*.weight": a module's weight. (Stacked expert tensors are read per expert,
// read/stacked_experts.h, so every later stage sees "*.weight" names.)
inline bool is_module_weight(std::string_view name) { return name.ends_with(".weight") && name.size() > 7; }

}  // namespace ramq
