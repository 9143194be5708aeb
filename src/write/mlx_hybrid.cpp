// The MLX layout of the hybrid linear-attention families (write/mlx_hybrid.h).
#include "write/mlx_hybrid.h"

#include "ramq/config_fields.h"
#include "ramq/error.h"
#include "ramq/family_config.h"
#include "ramq/module_weight.h"

namespace ramq {

namespace {

using json = nlohmann::json;

// mlx_lm's sanitize() norm suffixes (qwen3_next.py lines 469-475, qwen3_5.py lines 357-363).
bool zero_centred_norm(const std::string& name) {
  for (const char* s : {".input_layernorm.weight", ".post_attention_layernorm.weight", "model.norm.weight",
                        ".q_norm.weight", ".k_norm.weight"})
    if (name.ends_with(s)) return true;
  return false;
}

// The text model's fields (text_config when the config wraps one).
json& text_fields(json& config) {
  const auto it = config.find("text_config");
  return it != config.end() && it->is_object() ? *it : config;
}

void set_default(json& j, const char* key, const json& value) {
  if (!j.contains(key) || j[key].is_null()) j[key] = value;
}

// mlx_lm builds layer i with linear attention iff (i + 1) % full_attention_interval != 0
// (qwen3_next.py line 360, qwen3_5.py line 213) and never reads layer_types.
void check_layer_types(const LinearAttentionFields& la, const ModelConfig& c, const std::string& file) {
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i)
    if (la.linear_layer[static_cast<std::size_t>(i)] != ((i + 1) % la.full_attention_interval != 0))
      throw Error(file, "",
                  "field 'layer_types' makes layer " + std::to_string(i) + " a " +
                      (la.linear_layer[static_cast<std::size_t>(i)] ? "linear" : "full") +
                      "_attention layer, but mlx_lm reads only full_attention_interval (" +
                      std::to_string(la.full_attention_interval) + "), which makes it the other kind");
}

}  // namespace

MlxSourceLayout mlx_hybrid_layout(const TensorInfo& info, const std::string& mlx_path) {
  MlxSourceLayout l;
  l.shape = info.shape;
  l.plus_one = zero_centred_norm(mlx_path) && info.shape.size() == 1;
  if (mlx_path.ends_with(".conv1d.weight") && info.shape.size() == 3 && info.shape[1] == 1)
    l.shape = {info.shape[0], info.shape[2], 1};
  return l;
}

json mlx_hybrid_config(const ModelConfig& c, const ModelFamily& family, const std::string& file) {
  json config = c.raw;
  const ConfigFields f(c.raw, file);
  const LinearAttentionFields la = read_linear_attention_fields(f, c);
  check_layer_types(la, c, file);
  json& t = text_fields(config);
  // transformers' values (read or defaulted by ramq) for what mlx_lm's ModelArgs reads.
  set_default(t, "num_key_value_heads", c.num_key_value_heads);
  set_default(t, "head_dim", c.head_dim);
  set_default(t, "rms_norm_eps", c.rms_norm_eps);
  set_default(t, "linear_num_key_heads", la.key_heads);
  set_default(t, "linear_num_value_heads", la.value_heads);
  set_default(t, "linear_key_head_dim", la.key_head_dim);
  set_default(t, "linear_value_head_dim", la.value_head_dim);
  set_default(t, "linear_conv_kernel_dim", la.conv_kernel);
  set_default(t, "full_attention_interval", la.full_attention_interval);
  set_default(t, "tie_word_embeddings", c.tie_word_embeddings);
  if (family.moe != nullptr) set_default(t, "norm_topk_prob", true);  // mlx_lm qwen3_next default: false
  if (family.name == "qwen3_next") {
    // qwen3_next.py ModelArgs (lines 26-55): no defaults for these.
    set_default(t, "decoder_sparse_step", 1);
    set_default(t, "mlp_only_layers", json::array());
    set_default(t, "rope_theta", c.rope_theta);
    set_default(t, "partial_rotary_factor", 0.25);
  } else {
    // qwen3_5.py TextModelArgs reads rope_theta and partial_rotary_factor from rope_parameters
    // (defaults 100000 and 0.25; transformers': rope_theta 10000).
    set_default(t, "rope_parameters", json{{"rope_type", "default"}, {"rope_theta", c.rope_theta}});
    set_default(t["rope_parameters"], "rope_theta", c.rope_theta);
    if (const json* prf = f.find("partial_rotary_factor"))
      set_default(t["rope_parameters"], "partial_rotary_factor", *prf);
  }
  return config;
}

}  // namespace ramq
