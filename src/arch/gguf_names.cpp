// Hugging Face <-> llama.cpp tensor names (arch/gguf_names.h).
#include "ramq/gguf_names.h"

#include <algorithm>

#include "ramq/error.h"

namespace ramq {

std::string hf_to_gguf_tensor_name(const ModelFamily& family, const std::string& hf_name, const std::string& file) {
  const TensorNames& t = *family.names;
  if (family.left_out != nullptr && family.left_out(hf_name)) return "";
  for (const auto& g : t.global)
    if (hf_name == g.hf) return std::string(g.gguf);
  std::string_view s = hf_name;
  if (s.starts_with(t.hf_layer_prefix)) {
    s.remove_prefix(t.hf_layer_prefix.size());
    if (const auto n = take_layer_index(s)) {
      if (std::find(t.unused.begin(), t.unused.end(), s) != t.unused.end()) return "";
      const std::string key = expert_stack_key(s);  // a routed expert's row has "*" for its index
      for (const auto& b : t.layer)
        if (key == b.hf) return std::string(t.gguf_layer_prefix) + std::to_string(*n) + "." + std::string(b.gguf);
    }
  }
  throw Error(file, hf_name, "has no llama.cpp counterpart (not a tensor of a " + std::string(family.name) + " model)");
}

std::optional<std::string> gguf_to_hf_tensor_name(const ModelFamily& family, const std::string& gguf_name) {
  const TensorNames& t = *family.names;
  for (const auto& g : t.global)
    if (gguf_name == g.gguf) return std::string(g.hf);
  std::string_view s = gguf_name;
  if (!s.starts_with(t.gguf_layer_prefix)) return std::nullopt;
  s.remove_prefix(t.gguf_layer_prefix.size());
  const auto n = take_layer_index(s);
  if (!n) return std::nullopt;
  for (const auto& b : t.layer)
    if (s == b.gguf) return std::string(t.hf_layer_prefix) + std::to_string(*n) + "." + std::string(b.hf);
  return std::nullopt;
}

std::optional<std::string> gguf_to_hf_tensor_name(const std::string& gguf_name) {
  for (const ModelFamily& f : model_families())
    if (!f.hybrid_attention)
      if (auto hf = gguf_to_hf_tensor_name(f, gguf_name)) return hf;
  return std::nullopt;
}

std::vector<std::string> required_gguf_tensors(const ModelFamily& family, std::int64_t layers) {
  const TensorNames& t = *family.names;
  std::vector<std::string> out;
  for (const auto& g : t.global)
    if (g.presence == Presence::Always) out.emplace_back(g.gguf);
  const auto needed = [&](Presence p) {
    return p == Presence::Always || (p == Presence::QkvBias && family.qkv_bias) || (p == Presence::QkNorm && family.qk_norm);
  };
  for (std::int64_t b = 0; b < layers; ++b) {
    const std::string prefix = std::string(t.gguf_layer_prefix) + std::to_string(b) + ".";
    for (const Presence p : {Presence::Always, Presence::QkvBias, Presence::QkNorm})
      for (const auto& l : t.layer)
        if (l.presence == p && needed(p)) out.push_back(prefix + std::string(l.gguf));
  }
  return out;
}

std::int64_t gguf_block_rank(const ModelFamily& family, std::string_view local) {
  const std::span<const TensorName> layer = family.names->layer;
  const std::string_view module = local.substr(0, local.find('.') + 1);  // "attn_q."
  for (std::size_t i = 0; i < layer.size(); ++i)
    if (layer[i].gguf.starts_with(module)) return static_cast<std::int64_t>(i);
  return static_cast<std::int64_t>(layer.size());
}

std::vector<std::int64_t> gguf_ne_from_shape(const std::vector<std::int64_t>& shape) {
  return {shape.rbegin(), shape.rend()};
}
std::vector<std::int64_t> shape_from_gguf_ne(const std::vector<std::int64_t>& ne) { return {ne.rbegin(), ne.rend()}; }

}  // namespace ramq
