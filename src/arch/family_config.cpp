// config.json's family-dependent fields (arch/family_config.h).
#include "ramq/family_config.h"

#include <cmath>

namespace ramq {

namespace {

using json = nlohmann::json;

std::string show(const json& j) { return show_json_value(j); }

// "rope_type" (or the older "type"), "default" when neither is given.
std::string rope_type_of(const ConfigFields& f, const std::string& field, const json& rs) {
  for (const char* key : {"rope_type", "type"}) {
    const auto it = rs.find(key);
    if (it == rs.end() || it->is_null()) continue;
    if (!it->is_string() || it->get_ref<const std::string&>().empty())
      f.fail(field + "." + key, "must be a non-empty string, got " + show(*it));
    return it->get<std::string>();
  }
  return "default";
}

// Whether config.json's sliding_window is in force, by the family's rule and layer_types.
bool sliding_window_applies(const ConfigFields& f, const ModelFamily& family) {
  const bool flag = f.flag("use_sliding_window", false);
  bool applies = family.sliding_window_flag ? flag : true;
  // The hybrid families' layer_types name linear and full attention, not sliding windows.
  if (family.hybrid_attention) return applies;
  if (const json* lt = f.find("layer_types"); lt != nullptr && lt->is_array())
    for (const auto& t : *lt)
      if (!(t.is_string() && t.get<std::string>() == "full_attention")) applies = true;
  return applies;
}

// The hybrid families rotate the first int(head_dim x partial_rotary_factor) dimensions of each
// head (transformers: default 0.25; Qwen3.5 gives it inside rope_parameters): a factor in (0, 1]
// whose rotary width is even and non-zero (rotary embeddings rotate pairs). Returns that width.
std::int64_t read_partial_rotary(const ConfigFields& f, const ModelConfig& c) {
  std::string field = "partial_rotary_factor";
  const json* j = f.find("partial_rotary_factor");
  if (const json* rp = f.find("rope_parameters"); j == nullptr && rp != nullptr && rp->is_object())
    if (const auto it = rp->find("partial_rotary_factor"); it != rp->end() && !it->is_null()) {
      j = &*it;
      field = "rope_parameters.partial_rotary_factor";
    }
  if (j != nullptr && (!j->is_number() || !(j->get<double>() > 0 && j->get<double>() <= 1)))
    f.fail(field, "must be a number in (0, 1], got " + show(*j));
  const double factor = j != nullptr ? j->get<double>() : 0.25;  // transformers' default
  const auto rot = static_cast<std::int64_t>(static_cast<double>(c.head_dim) * factor);
  if (rot == 0 || rot % 2 != 0)
    f.fail(field, "is " + (j != nullptr ? show(*j) : std::string("0.25 (the default)")) + ": head_dim " +
                      std::to_string(c.head_dim) + " x factor gives " +
                      std::to_string(rot) + " rotary dimensions; rotary embeddings need an even, non-zero number");
  return rot;
}

// Fields whose other values no family ramq knows implements.
// A wrapper's text_config must describe the decoder the family's tables hold.
void check_text_model_type(const ConfigFields& f, const ModelConfig& c, const ModelFamily& family) {
  if (family.text_model_types.empty()) return;
  // Without text_config (a config read back from GGUF) the fields themselves are checked.
  const auto text = c.raw.find("text_config");
  if (text == c.raw.end() || !text->is_object()) return;
  const auto type = text->find("model_type");
  if (type == text->end()) return;  // transformers' default text config
  std::string names;
  for (const auto t : family.text_model_types) {
    if (type->is_string() && type->get<std::string>() == t) return;
    names += (names.empty() ? "'" : ", '") + std::string(t) + "'";
  }
  f.fail("text_config.model_type", "is " + show(*type) + ": ramq's " + std::string(family.name) +
                                       " family covers text models of type " + names + " only");
}

void check_unsupported_fields(const ConfigFields& f, const ModelConfig& c, const ModelFamily& family) {
  check_text_model_type(f, c, family);
  // Every path (mlx_lm, llama.cpp, the evaluator) computes the family's activation whatever this
  // says.
  for (const char* act : {"hidden_act", "hidden_activation"})
    if (const json* j = f.find(act); j != nullptr && !(j->is_string() && j->get<std::string>() == family.activation))
      f.fail(act, "is " + show(*j) + ": " + std::string(family.name) + " models use '" + std::string(family.activation) + "'");
  if (const json* j = f.find("partial_rotary_factor");
      !family.hybrid_attention && j != nullptr && !(j->is_number() && j->get<double>() == 1.0))
    f.fail("partial_rotary_factor", "is " + show(*j) + ": only full rotary embeddings (1) are supported");
  if (family.moe != nullptr) return;
  for (const char* moe : {"num_local_experts", "num_experts", "n_routed_experts", "num_experts_per_tok"})
    if (const json* j = f.find(moe); j != nullptr && !(j->is_number() && j->get<double>() == 0))
      f.fail(moe, "is " + show(*j) + ": a " + c.model_type + " model has no experts");
}

// Qwen's decoder_sparse_step and mlp_only_layers can make some layers dense; every checkpoint
// released so far has all layers sparse, which is what the families here describe.
void check_all_layers_sparse(const ConfigFields& f) {
  if (const json* j = f.find("decoder_sparse_step"); j != nullptr && !(j->is_number_integer() && j->get<int>() == 1))
    f.fail("decoder_sparse_step", "is " + show(*j) + ": only models whose every layer has experts (1) are supported");
  if (const json* j = f.find("mlp_only_layers"); j != nullptr && !(j->is_array() && j->empty()))
    f.fail("mlp_only_layers", "is " + show(*j) + ": only models whose every layer has experts ([]) are supported");
}

}  // namespace

std::optional<double> RopeScaling::number(const ConfigFields& f, const char* key) const {
  const auto it = object->find(key);
  if (it == object->end() || it->is_null()) return std::nullopt;
  if (!it->is_number() || !std::isfinite(it->get<double>()) || !(it->get<double>() > 0))
    f.fail(field + "." + key, "must be a positive number, got " + show(*it));
  return it->get<double>();
}

double RopeScaling::required(const ConfigFields& f, const char* key) const {
  const auto v = number(f, key);
  if (!v) f.fail(field + "." + key, "is missing (needed by rope type '" + type + "')");
  return *v;
}

std::optional<std::int64_t> RopeScaling::integer(const char* key) const {
  const auto it = object->find(key);
  if (it == object->end() || !it->is_number_integer()) return std::nullopt;
  return it->get<std::int64_t>();
}

std::optional<RopeScaling> read_rope_scaling(const ConfigFields& f, const char* field) {
  const json* rs = f.find(field);
  if (rs == nullptr) return std::nullopt;
  if (!rs->is_object()) f.fail(field, "must be an object or null, got " + show(*rs));
  return RopeScaling{field, rope_type_of(f, field, *rs), rs};
}

std::optional<RopeScaling> read_rope(const ConfigFields& f) {
  if (auto rope = read_rope_scaling(f, "rope_scaling")) return rope;
  return read_rope_scaling(f, "rope_parameters");
}

MoeFields read_moe_fields(const ConfigFields& f, const MoeLayout& layout) {
  const auto field = [](std::string_view v) { return std::string(v); };
  MoeFields m;
  // transformers 5.8 renamed Qwen3-MoE's num_experts to num_local_experts (Mixtral's name): either
  // spelling counts, the family's own first.
  std::string experts_field = field(layout.experts_field);
  for (const char* alias : {"num_experts", "num_local_experts"})
    if (f.find(experts_field.c_str()) == nullptr && f.find(alias) != nullptr) experts_field = alias;
  m.experts = f.required_int(experts_field.c_str());
  m.experts_per_token = f.required_int("num_experts_per_tok");
  if (m.experts_per_token > m.experts)
    f.fail("num_experts_per_tok", "is " + std::to_string(m.experts_per_token) + ", more than the " +
                                      std::to_string(m.experts) + " experts (" + field(layout.experts_field) + ")");
  m.expert_ff = f.required_int(field(layout.expert_ff_field).c_str());
  if (!layout.shared_ff_field.empty()) m.shared_ff = f.required_int(field(layout.shared_ff_field).c_str());
  m.norm_topk = layout.norm_topk_fixed ? *layout.norm_topk_fixed : f.flag("norm_topk_prob", layout.norm_topk_default);
  check_all_layers_sparse(f);
  return m;
}

namespace {

// layer_types as the hybrid families read it: one "linear_attention" / "full_attention" per layer.
std::vector<bool> read_layer_types(const ConfigFields& f, const json& lt, std::int64_t layers) {
  if (!lt.is_array() || static_cast<std::int64_t>(lt.size()) != layers)
    f.fail("layer_types", "must be an array of num_hidden_layers (" + std::to_string(layers) + ") strings, got " +
                              show(lt));
  std::vector<bool> linear;
  for (const json& t : lt) {
    if (!t.is_string() || (t.get<std::string>() != "linear_attention" && t.get<std::string>() != "full_attention"))
      f.fail("layer_types", "entry " + std::to_string(linear.size()) + " is " + show(t) +
                                ": each layer is 'linear_attention' or 'full_attention'");
    linear.push_back(t.get<std::string>() == "linear_attention");
  }
  return linear;
}

}  // namespace

LinearAttentionFields read_linear_attention_fields(const ConfigFields& f, const ModelConfig& c) {
  LinearAttentionFields la;
  const auto size = [&f](const char* name, std::int64_t dflt) {
    const json* j = f.find(name);
    return j != nullptr ? f.positive_int(name, *j) : dflt;
  };
  la.key_heads = size("linear_num_key_heads", la.key_heads);
  la.value_heads = size("linear_num_value_heads", la.value_heads);
  la.key_head_dim = size("linear_key_head_dim", la.key_head_dim);
  la.value_head_dim = size("linear_value_head_dim", la.value_head_dim);
  la.conv_kernel = size("linear_conv_kernel_dim", la.conv_kernel);
  la.full_attention_interval = size("full_attention_interval", la.full_attention_interval);
  // Each value head reads the key/query head value_head / (nv / nk) (transformers' repeat_interleave).
  if (la.value_heads % la.key_heads != 0)
    f.fail("linear_num_value_heads", "(" + std::to_string(la.value_heads) + ") must be a multiple of linear_num_key_heads (" +
                                         std::to_string(la.key_heads) + ")");
  if (const json* lt = f.find("layer_types")) {
    la.linear_layer = read_layer_types(f, *lt, c.num_hidden_layers);
  } else {
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i)
      la.linear_layer.push_back((i + 1) % la.full_attention_interval != 0);
  }
  return la;
}

FamilyFields read_family_fields(const ConfigFields& f, const ModelConfig& c, const ModelFamily& family) {
  FamilyFields out;
  out.attention_bias = f.flag("attention_bias", false);
  out.mlp_bias = f.flag("mlp_bias", false);
  if (family.hybrid_attention) {
    // Released Qwen3-Next / Qwen3.5 checkpoints have no attention biases; ramq's tables neither.
    if (out.attention_bias)
      f.fail("attention_bias", "is true: ramq supports " + c.model_type + " models without attention biases only");
    out.linear = read_linear_attention_fields(f, c);
    out.rotary_dims = read_partial_rotary(f, c);
  } else {
    out.rotary_dims = c.head_dim;
  }
  out.sliding_window_applies = sliding_window_applies(f, family);
  check_unsupported_fields(f, c, family);
  if (family.moe != nullptr) out.moe = read_moe_fields(f, *family.moe);
  if (const json* j = f.find("sliding_window")) {
    if (!(j->is_number_integer() && j->get<std::int64_t>() > 0))
      f.fail("sliding_window", "must be a positive integer or null, got " + show(*j));
    out.sliding_window = j->get<std::int64_t>();
  }
  if (c.head_dim % 2 != 0)
    f.fail("head_dim", "is " + std::to_string(c.head_dim) + ": rotary embeddings need an even head_dim");
  return out;
}

}  // namespace ramq
