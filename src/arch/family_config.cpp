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
  if (const json* lt = f.find("layer_types"); lt != nullptr && lt->is_array())
    for (const auto& t : *lt)
      if (!(t.is_string() && t.get<std::string>() == "full_attention")) applies = true;
  return applies;
}

// Fields whose other values no family ramq knows implements.
void check_unsupported_fields(const ConfigFields& f, const ModelConfig& c) {
  // Every path (mlx_lm, llama.cpp, the evaluator) computes SiLU whatever this says.
  for (const char* act : {"hidden_act", "hidden_activation"})
    if (const json* j = f.find(act); j != nullptr && !(j->is_string() && j->get<std::string>() == "silu"))
      f.fail(act, "is " + show(*j) + ": Llama-family models use 'silu'");
  if (const json* j = f.find("partial_rotary_factor"); j != nullptr && !(j->is_number() && j->get<double>() == 1.0))
    f.fail("partial_rotary_factor", "is " + show(*j) + ": only full rotary embeddings (1) are supported");
  for (const char* moe : {"num_local_experts", "num_experts", "n_routed_experts", "num_experts_per_tok"})
    if (const json* j = f.find(moe); j != nullptr && !(j->is_number() && j->get<double>() == 0))
      f.fail(moe, "is " + show(*j) + ": a " + c.model_type + " model has no experts");
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

FamilyFields read_family_fields(const ConfigFields& f, const ModelConfig& c, const ModelFamily& family) {
  FamilyFields out;
  out.attention_bias = f.flag("attention_bias", false);
  out.mlp_bias = f.flag("mlp_bias", false);
  out.sliding_window_applies = sliding_window_applies(f, family);
  check_unsupported_fields(f, c);
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
