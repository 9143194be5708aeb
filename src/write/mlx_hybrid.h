// write, internal: what the MLX writer does for the hybrid linear-attention families
// (qwen3_next, qwen3_5, qwen3_5_moe) so that its output is what mlx_lm's sanitize() returns and
// sanitize() leaves it as it is (mlx_lm models/qwen3_next.py, qwen3_5.py, qwen3_5_moe.py at
// d78bf58e):
//  * names: the family's mlx_path ("model.language_model." -> "language_model.model.", routed
//    experts stacked into switch_mlp); the vision tower and mtp.* are left out;
//  * values: the zero-centred RMSNorms (input_layernorm, post_attention_layernorm, the final
//    norm, q_norm, k_norm) stored + 1 (sanitize adds 1 only to checkpoints whose conv1d is still
//    [C, 1, K]); conv1d [C, 1, K] written [C, K, 1] (the same bytes); A_log and dt_bias kept F32
//    when they are (qwen3_5.py cast_predicate keeps A_log);
//  * Qwen3.5-MoE's experts.gate_up_proj [E, 2I, H] split into switch_mlp.gate_proj (rows [0, I)
//    of each expert) and switch_mlp.up_proj (rows [I, 2I)), experts.down_proj written as
//    switch_mlp.down_proj;
//  * config.json: the fields mlx_lm's ModelArgs reads written out with transformers' defaults
//    (mlx_lm's own defaults differ), tie_word_embeddings inside text_config, and layer_types
//    refused when it disagrees with full_attention_interval (mlx_lm reads only the interval).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramq/model_family.h"
#include "ramq/safetensors.h"

namespace ramq {

// How one source tensor becomes output tensors.
struct MlxSourceLayout {
  bool plus_one = false;            // a zero-centred norm: written w + 1
  bool keep_f32 = false;            // an F32 source stays F32 without --keep-dtype (A_log, dt_bias:
                                    // set by the writer from the tensor's role, for every family)
  std::vector<std::int64_t> shape;  // the output shape: the source's unless reshaped (conv1d)
};

// The layout of `info` (a tensor of a hybrid family, mlx path `mlx_path`) in an MLX output.
MlxSourceLayout mlx_hybrid_layout(const TensorInfo& info, const std::string& mlx_path);

// config.json for mlx_lm (see above). Throws Error(file, "", ...) for layer_types that disagree
// with full_attention_interval.
nlohmann::json mlx_hybrid_config(const ModelConfig& c, const ModelFamily& family, const std::string& file);

}  // namespace ramq
