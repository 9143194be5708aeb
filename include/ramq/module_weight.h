// arch: which tensors are module weights, the only tensors a policy may quantize (read by the
// analysis, the policies, plan.json and the MLX writer), and the MLX outputs of a fused stack.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ramq {

// "*.weight" (a module's weight), or a fused expert stack "*.experts.gate_up_proj" /
// "*.experts.down_proj": transformers' fused mixture-of-experts parameters, [experts, out, in],
// as Qwen3.5-MoE checkpoints store them (modeling_qwen3_5_moe.py Qwen3_5MoeExperts).
inline bool is_module_weight(std::string_view name) {
  if (name.ends_with(".weight")) return name.size() > 7;
  return name.ends_with(".experts.gate_up_proj") || name.ends_with(".experts.down_proj");
}

// The MLX output weights of a tensor of mlx_lm path `mlx_path` (ModelFamily::mlx_path): a fused
// "<mlp>.experts.gate_up_proj" [E, 2I, H] is written as "<mlp>.switch_mlp.gate_proj.weight" (rows
// [0, I) of each expert) and "<mlp>.switch_mlp.up_proj.weight" (rows [I, 2I)), as mlx_lm's
// qwen3_5_moe.py sanitize() splits it; any other: itself.
inline std::vector<std::string> mlx_output_weights(const std::string& mlx_path) {
  const std::string gate_up = "experts.gate_up_proj";
  if (!mlx_path.ends_with("." + gate_up)) return {mlx_path};
  const std::string mlp = mlx_path.substr(0, mlx_path.size() - gate_up.size());
  return {mlp + "switch_mlp.gate_proj.weight", mlp + "switch_mlp.up_proj.weight"};
}

}  // namespace ramq
