// arch, internal: the hybrid linear-attention families' GGUF metadata (llama.cpp's qwen3next,
// qwen35, qwen35moe: ssm.*, attention.recurrent_layers / full_attention_interval,
// rope.dimension_count) read back into the config.json fields transformers names
// (facts: /work/notes/qwen35_facts.md §5.1).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "ramq/gguf.h"
#include "ramq/model_family.h"
#include "ramq/safetensors.h"

namespace ramq {

// Adds to c.raw: linear_conv_kernel_dim (ssm.conv_kernel), linear_key_head_dim (ssm.state_size),
// linear_num_key_heads (ssm.group_count), linear_num_value_heads (ssm.time_step_rank),
// linear_value_head_dim (ssm.inner_size / time_step_rank), layer_types (from
// attention.recurrent_layers) or full_attention_interval, partial_rotary_factor
// (rope.dimension_count / head_dim; 1 when absent, as llama.cpp's n_rot). `a` is "<arch>.",
// `uint` reads a positive integer key. Throws Error(file, "", ...) naming the key.
void read_hybrid_gguf_fields(const GgufReader& gguf, const std::string& a,
                             const std::function<std::int64_t(const std::string&)>& uint, const std::string& file,
                             ModelConfig& c);

}  // namespace ramq
