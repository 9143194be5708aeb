// The hybrid families' GGUF metadata read back (arch/gguf_hybrid_config.h).
#include "arch/gguf_hybrid_config.h"

#include <cmath>
#include <variant>

#include "ramq/error.h"

namespace ramq {

namespace {

// attention.recurrent_layers: an array of BOOL, INT32 or UINT32 (llama.cpp accepts the three),
// one per block; true (non-zero) for a linear-attention layer.
nlohmann::json layer_types(const GgufValue& v, const std::string& key, std::int64_t layers, const std::string& file) {
  const auto* arr = std::get_if<std::shared_ptr<GgufArray>>(&v.v);
  if (arr == nullptr || static_cast<std::int64_t>((*arr)->items.size()) != layers)
    throw Error(file, "", "metadata key '" + key + "' must be an array of block_count (" + std::to_string(layers) +
                              ") entries");
  nlohmann::json types = nlohmann::json::array();
  for (const GgufValue& item : (*arr)->items) {
    bool linear = false;
    if (const auto* b = std::get_if<bool>(&item.v)) linear = *b;
    else if (const auto* u = std::get_if<std::uint64_t>(&item.v)) linear = *u != 0;
    else if (const auto* i = std::get_if<std::int64_t>(&item.v)) linear = *i != 0;
    else throw Error(file, "", "metadata key '" + key + "' must hold booleans or integers");
    types.push_back(linear ? "linear_attention" : "full_attention");
  }
  return types;
}

}  // namespace

void read_hybrid_gguf_fields(const GgufReader& gguf, const std::string& a,
                             const std::function<std::int64_t(const std::string&)>& uint, const std::string& file,
                             ModelConfig& c) {
  const std::int64_t nv = uint(a + "ssm.time_step_rank"), inner = uint(a + "ssm.inner_size");
  if (inner % nv != 0)
    throw Error(file, "", "metadata key '" + a + "ssm.inner_size' (" + std::to_string(inner) +
                              ") is not a multiple of ssm.time_step_rank (" + std::to_string(nv) + ")");
  c.raw["linear_conv_kernel_dim"] = uint(a + "ssm.conv_kernel");
  c.raw["linear_key_head_dim"] = uint(a + "ssm.state_size");
  c.raw["linear_num_key_heads"] = uint(a + "ssm.group_count");
  c.raw["linear_num_value_heads"] = nv;
  c.raw["linear_value_head_dim"] = inner / nv;
  if (const GgufValue* rl = gguf.find(a + "attention.recurrent_layers"))
    c.raw["layer_types"] = layer_types(*rl, a + "attention.recurrent_layers", c.num_hidden_layers, file);
  else
    c.raw["full_attention_interval"] = uint(a + "full_attention_interval");
  const std::int64_t rot = gguf.find(a + "rope.dimension_count") ? uint(a + "rope.dimension_count") : c.head_dim;
  const double factor = static_cast<double>(rot) / static_cast<double>(c.head_dim);
  if (rot > c.head_dim || static_cast<std::int64_t>(static_cast<double>(c.head_dim) * factor) != rot)
    throw Error(file, "", "metadata key '" + a + "rope.dimension_count' (" + std::to_string(rot) +
                              ") is not a fraction of the head size " + std::to_string(c.head_dim) +
                              " that config.json's partial_rotary_factor can express");
  c.raw["partial_rotary_factor"] = factor;
}

}  // namespace ramq
