// The mixture-of-experts decoder layout (arch/moe_decoder.h).
#include "arch/moe_decoder.h"

#include "arch/dense_decoder.h"
#include "ramq/config_fields.h"
#include "ramq/family_config.h"

namespace ramq {

namespace {

ExpectedShape matrix(std::int64_t rows, std::int64_t cols, const std::string& rows_formula, const char* cols_formula) {
  return {{rows, cols}, "[" + rows_formula + ", " + cols_formula + "]"};
}

// The llama.cpp name of a per-layer Hugging Face name (after "model.layers.N."), expert index
// replaced by "*"; "" when the table has none.
std::string_view gguf_local_name(const TensorNames& names, std::string_view local) {
  const std::string key = expert_stack_key(local);
  for (const auto& n : names.layer)
    if (n.hf == key) return n.gguf;
  return {};
}

}  // namespace

std::optional<ExpectedShape> moe_decoder_shape(const TensorNames& names, const MoeLayout& moe, const ModelConfig& c,
                                               std::string_view hf_name) {
  if (!hf_name.starts_with(names.hf_layer_prefix)) return dense_decoder_shape(c, hf_name);
  std::string_view local = hf_name.substr(names.hf_layer_prefix.size());
  if (!take_layer_index(local)) return std::nullopt;
  const std::string_view gguf = gguf_local_name(names, local);
  if (!gguf.starts_with("ffn_")) return dense_layer_shape(local, c);
  const MoeFields m = read_moe_fields(ConfigFields(c.raw, "config.json"), moe);
  const std::int64_t h = c.hidden_size;
  const char* H = "hidden_size";
  const std::string E(moe.experts_field), F(moe.expert_ff_field), S(moe.shared_ff_field);
  if (gguf == "ffn_gate_inp.weight") return matrix(m.experts, h, E, H);
  if (gguf == "ffn_gate_exps.weight" || gguf == "ffn_up_exps.weight") return matrix(m.expert_ff, h, F, H);
  if (gguf == "ffn_down_exps.weight") return ExpectedShape{{h, m.expert_ff}, "[hidden_size, " + F + "]"};
  if (gguf == "ffn_gate_shexp.weight" || gguf == "ffn_up_shexp.weight") return matrix(m.shared_ff, h, S, H);
  if (gguf == "ffn_down_shexp.weight") return ExpectedShape{{h, m.shared_ff}, "[hidden_size, " + S + "]"};
  if (gguf == "ffn_gate_inp_shexp.weight") return matrix(1, h, "1", H);
  return std::nullopt;
}

std::string moe_mlx_path(std::string_view hf_name, std::span<const ProjectionRename> renames) {
  std::int64_t expert = -1;
  std::string key = expert_stack_key(hf_name, &expert);
  if (expert < 0) return std::string(hf_name);
  const std::size_t star = key.find("experts.*.");
  key.replace(star, 10, "switch_mlp.");
  const std::size_t module = star + 11;  // "<projection>.weight" follows
  const std::size_t dot = key.find('.', module);
  const std::string_view projection = std::string_view(key).substr(module, dot - module);
  for (const auto& [from, to] : renames)
    if (projection == from) return key.replace(module, dot - module, to);
  return key;
}

ModelFamily moe_decoder_family(std::string_view name, std::span<const std::string_view> model_types,
                               std::string_view gguf_architecture, std::string_view hf_architecture,
                               const TensorNames& names, const MoeLayout& moe) {
  ModelFamily f = dense_decoder_family(name, model_types, gguf_architecture, hf_architecture);
  f.names = &names;
  f.moe = &moe;
  return f;
}

}  // namespace ramq
