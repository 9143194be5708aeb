// arch: which tensors are module weights, the only tensors a policy may quantize (read by the
// analysis, the policies, plan.json and the MLX writer).
#pragma once

#include <string_view>

namespace ramq {

// "*.weight" (a module's weight), or a fused expert stack "*.experts.gate_up_proj" /
// "*.experts.down_proj": transformers' fused mixture-of-experts parameters, [experts, out, in],
// as Qwen3.5-MoE checkpoints store them (modeling_qwen3_5_moe.py Qwen3_5MoeExperts).
inline bool is_module_weight(std::string_view name) {
  if (name.ends_with(".weight")) return name.size() > 7;
  return name.ends_with(".experts.gate_up_proj") || name.ends_with(".experts.down_proj");
}

}  // namespace ramq
