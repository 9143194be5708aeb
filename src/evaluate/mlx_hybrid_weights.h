// evaluate stage, internal: a hybrid family's MLX output (mlx_lm's layout after sanitize(), as
// ramq and mlx_lm write it) seen in the Hugging Face form the hybrid forward pass reads:
// Hugging Face names (through the family's mlx_path: Qwen3.5's "language_model.model." ->
// "model.language_model.", routed experts in switch_mlp stacks), the zero-centred RMSNorms
// (input_layernorm, post_attention_layernorm, the final norm, q_norm, k_norm) stored + 1 read
// back - 1, and linear_attn.conv1d.weight stored [C, K, 1] read as [C, 1, K] (the same values).
#pragma once

#include <memory>

#include "evaluate/weights.h"
#include "ramq/model_family.h"

namespace ramq::eval {

// Whether `weights` holds the MLX layout of hybrid family `family`: mlx_lm's own test
// (models/qwen3_5.py sanitize(): a conv1d weight whose last dimension is 1 is already
// sanitized) on the first linear-attention layer's conv1d, or the embedding only under its
// mlx_lm name.
bool is_mlx_hybrid_layout(const WeightSource& weights, const ModelFamily& family);

std::unique_ptr<WeightSource> mlx_hybrid_weights(std::unique_ptr<WeightSource> mlx, const ModelFamily& family);

}  // namespace ramq::eval
