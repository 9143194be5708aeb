// arch, internal: what the mixture-of-experts decoder families (mixtral, qwen2_moe, qwen3_moe)
// share: the dense decoder's attention with an MLP of routed experts (and a gated shared expert),
// their shapes from config.json, and mlx_lm's stacked parameter paths.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "ramq/model_family.h"

namespace ramq {

// The shape config.json implies for a Hugging Face tensor of a MoE family: the router
// [experts, hidden_size], routed experts [expert_ff, hidden_size] / [hidden_size, expert_ff],
// the shared expert and its gate [1, hidden_size], and the dense decoder's attention and norms.
std::optional<ExpectedShape> moe_decoder_shape(const TensorNames& names, const MoeLayout& moe, const ModelConfig& c,
                                               std::string_view hf_name);

// mlx_lm's path of a Hugging Face tensor after sanitize(), which stacks the routed experts of one
// projection into "<mlp>.switch_mlp.<projection>": "model.layers.0.mlp.experts.3.up_proj.weight"
// -> "model.layers.0.mlp.switch_mlp.up_proj.weight"; other names unchanged. `renames` maps the
// checkpoint's projection names to mlx_lm's (Mixtral: w1 -> gate_proj, w2 -> down_proj,
// w3 -> up_proj); empty: kept.
using ProjectionRename = std::pair<std::string_view, std::string_view>;
std::string moe_mlx_path(std::string_view hf_name, std::span<const ProjectionRename> renames);

// A family of the MoE decoder layout with its names and experts; the family's file gives its
// shape and mlx_lm path functions (which call the two above with its tables) and its own facts.
ModelFamily moe_decoder_family(std::string_view name, std::span<const std::string_view> model_types,
                               std::string_view gguf_architecture, std::string_view hf_architecture,
                               const TensorNames& names, const MoeLayout& moe);

}  // namespace ramq
