// validate_config_against_tensors (include/ramq/config_check.h), from the family descriptions
// (arch/model_family.h). The MLX writer copies config.json and the tensors as they are, and the
// GGUF writer and the evaluator each read a few fields of their own: without this one check
// before anything is analysed or written, a config.json that disagrees with the tensors produced
// an output that mlx_lm, llama.cpp or `ramq eval` later refused, or read wrongly (a layer beyond
// num_hidden_layers is dropped).
#include "ramq/config_check.h"

#include <cmath>
#include <string_view>

#include "arch/model_family.h"
#include "ramq/error.h"
#include "read/config_fields.h"

namespace ramq {

namespace {

using json = nlohmann::json;
using Shape = std::vector<std::int64_t>;

std::string show(const json& j) { return show_json_value(j); }

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

using Fields = ConfigFields;

// ---- rope scaling -------------------------------------------------------------------------

// The union of what the writers and the evaluator implement (the GGUF writer refuses "dynamic"
// itself; mlx_lm and the evaluator take it).
constexpr std::string_view kRopeTypes[] = {"default", "linear", "dynamic", "yarn", "llama3"};

// "rope_type" (or the older "type"), "default" when neither is given.
std::string rope_type_of(const Fields& f, const std::string& field, const json& rs) {
  for (const char* key : {"rope_type", "type"}) {
    const auto it = rs.find(key);
    if (it == rs.end() || it->is_null()) continue;
    if (!it->is_string() || it->get_ref<const std::string&>().empty())
      f.fail(field + "." + key, "must be a non-empty string, got " + show(*it));
    return it->get<std::string>();
  }
  return "default";
}

// A positive finite number at rs[key]; nullopt when absent and not required.
std::optional<double> rope_number(const Fields& f, const std::string& field, const json& rs, const char* key,
                                  bool required) {
  const auto it = rs.find(key);
  if (it == rs.end() || it->is_null()) {
    if (required) f.fail(field + "." + key, "is missing (needed by rope type '" + rope_type_of(f, field, rs) + "')");
    return std::nullopt;
  }
  if (!it->is_number() || !std::isfinite(it->get<double>()) || !(it->get<double>() > 0))
    f.fail(field + "." + key, "must be a positive number, got " + show(*it));
  return it->get<double>();
}

void check_rope_numbers(const Fields& f, const std::string& field, const json& rs, const std::string& type) {
  if (type == "default") return;
  rope_number(f, field, rs, "factor", true);
  if (type == "llama3") {
    const double low = *rope_number(f, field, rs, "low_freq_factor", true);
    const double high = *rope_number(f, field, rs, "high_freq_factor", true);
    rope_number(f, field, rs, "original_max_position_embeddings", true);
    // The llama3 rule blends between the two wavelengths and divides by their difference.
    if (!(high > low)) f.fail(field + ".high_freq_factor", "must be larger than low_freq_factor");
  } else {
    rope_number(f, field, rs, "original_max_position_embeddings", false);
  }
  // Partial rotary embeddings are not implemented by any of ramq's Llama-family paths.
  if (const auto pr = rope_number(f, field, rs, "partial_rotary_factor", false); pr && *pr != 1.0)
    f.fail(field + ".partial_rotary_factor", "is " + show(rs.at("partial_rotary_factor")) +
                                                 ": only full rotary embeddings (1) are supported");
}

// rope_scaling and its successor rope_parameters. Every Hugging Face model reads them as a dict,
// so "not an object" is malformed whatever the model type; the type's meaning is known only for
// the Llama family.
void check_rope_field(const Fields& f, const char* field, bool llama_family) {
  const json* rs = f.find(field);
  if (rs == nullptr) return;
  if (!rs->is_object()) f.fail(field, "must be an object or null, got " + show(*rs));
  const std::string type = rope_type_of(f, field, *rs);
  if (!llama_family) return;
  bool known = false;
  for (const auto t : kRopeTypes) known = known || type == t;
  if (!known)
    f.fail(std::string(field) + ".rope_type",
           "is '" + type + "': ramq understands rope scaling default, linear, dynamic, yarn and llama3 only");
  check_rope_numbers(f, field, *rs, type);
}

// ---- other Llama-family fields --------------------------------------------------------------

void check_llama_fields(const Fields& f, const ModelConfig& c) {
  for (const char* name : {"attention_bias", "mlp_bias", "use_sliding_window"}) f.flag(name, false);  // booleans or absent
  // Every Llama-family path (mlx_lm, llama.cpp, the evaluator) computes SiLU whatever this says.
  for (const char* act : {"hidden_act", "hidden_activation"})
    if (const json* j = f.find(act); j != nullptr && !(j->is_string() && j->get<std::string>() == "silu"))
      f.fail(act, "is " + show(*j) + ": Llama-family models use 'silu'");
  if (const json* j = f.find("partial_rotary_factor"); j != nullptr && !(j->is_number() && j->get<double>() == 1.0))
    f.fail("partial_rotary_factor", "is " + show(*j) + ": only full rotary embeddings (1) are supported");
  for (const char* moe : {"num_local_experts", "num_experts", "n_routed_experts", "num_experts_per_tok"})
    if (const json* j = f.find(moe); j != nullptr && !(j->is_number() && j->get<double>() == 0))
      f.fail(moe, "is " + show(*j) + ": a " + c.model_type + " model has no experts");
  if (const json* j = f.find("sliding_window"); j != nullptr && !(j->is_number_integer() && j->get<std::int64_t>() > 0))
    f.fail("sliding_window", "must be a positive integer or null, got " + show(*j));
  if (c.head_dim % 2 != 0)
    f.fail("head_dim", "is " + std::to_string(c.head_dim) + ": rotary embeddings need an even head_dim");
}

// ---- tensors against the configuration ------------------------------------------------------

// "model.layers.12.rest" -> 12 (the family's layer prefix); nullopt if the name is not of that form.
std::optional<std::int64_t> layer_index(const ModelFamily& family, std::string_view name) {
  const std::string_view prefix = family.names->hf_layer_prefix;
  if (!name.starts_with(prefix)) return std::nullopt;
  name.remove_prefix(prefix.size());
  return take_layer_index(name);
}

void check_tensor(const TensorInfo& t, const ModelConfig& c, const ModelFamily& family) {
  if (const auto layer = layer_index(family, t.name); layer && *layer >= c.num_hidden_layers)
    throw Error(t.file, t.name,
                "belongs to layer " + std::to_string(*layer) + " but config.json has num_hidden_layers " +
                    std::to_string(c.num_hidden_layers) + " (layers 0 to " + std::to_string(c.num_hidden_layers - 1) +
                    ")");
  const auto want = family.expected_shape(c, t.name);
  if (want && t.shape != want->shape)
    throw Error(t.file, t.name,
                "has shape " + shape_str(t.shape) + " but config.json implies " + want->formula + " = " +
                    shape_str(want->shape));
}

// A tensor the configuration needs, and why (for the message when it is missing).
struct Needed {
  std::string name, why;
};

// What decides, for one model, whether the family's tensors of each Presence are there.
struct Declared {
  const ModelConfig& c;
  const ModelFamily& family;
  bool attention_bias, mlp_bias;
};

// Why a tensor of presence p is needed (in the layer with prefix p, for QkNorm), or "" if it is not.
std::string why_needed(Presence p, const Declared& d, const ModelReader& model, const std::string& layer_prefix) {
  const std::string family(d.family.name);
  switch (p) {
    case Presence::Always:
      if (layer_prefix.empty()) return "every " + d.c.model_type + " model has it";
      return "config.json declares num_hidden_layers " + std::to_string(d.c.num_hidden_layers) +
             " and every layer of a " + d.c.model_type + " model has it";
    case Presence::Untied:
      return d.c.tie_word_embeddings
                 ? ""
                 : "config.json has tie_word_embeddings false (or absent), so the model needs its own output head";
    case Presence::QkvBias:
      if (d.attention_bias) return "config.json has attention_bias true";
      return d.family.qkv_bias ? family + " models have q/k/v biases" : "";
    case Presence::AttentionBias: return d.attention_bias ? "config.json has attention_bias true" : "";
    case Presence::MlpBias: return d.mlp_bias ? "config.json has mlp_bias true" : "";
    case Presence::QkNorm: {
      // q_norm and k_norm come as a pair: a forward pass that finds one needs the other.
      if (d.family.qk_norm) return family + " models have q_norm and k_norm in every layer";
      for (const auto& n : d.family.names->layer)
        if (n.presence == Presence::QkNorm && model.find(layer_prefix + std::string(n.hf)) != nullptr)
          return "q_norm and k_norm come as a pair";
      return "";
    }
  }
  return "";
}

// The family table's tensors this model needs: the global ones, then layer by layer those
// present in every checkpoint, then the q/k/v biases, o bias, mlp biases and q/k norms.
std::vector<Needed> needed_tensors(const ModelReader& model, const Declared& d) {
  const TensorNames& names = *d.family.names;
  std::vector<Needed> out;
  for (const auto& g : names.global)
    if (std::string why = why_needed(g.presence, d, model, ""); !why.empty()) out.push_back({std::string(g.hf), why});
  for (std::int64_t layer = 0; layer < d.c.num_hidden_layers; ++layer) {
    const std::string prefix = std::string(names.hf_layer_prefix) + std::to_string(layer) + ".";
    for (const Presence p :
         {Presence::Always, Presence::QkvBias, Presence::AttentionBias, Presence::MlpBias, Presence::QkNorm}) {
      const std::string why = why_needed(p, d, model, prefix);
      if (why.empty()) continue;
      for (const auto& n : names.layer)
        if (n.presence == p) out.push_back({prefix + std::string(n.hf), why});
    }
  }
  return out;
}

void check_family_tensors(const ModelReader& model, const ModelConfig& c, const ModelFamily& family, const Fields& f) {
  for (const auto& t : model.tensors()) check_tensor(t, c, family);
  const Declared declared{c, family, f.flag("attention_bias", false), f.flag("mlp_bias", false)};
  for (const auto& n : needed_tensors(model, declared))
    if (model.find(n.name) == nullptr) throw Error(f.file(), n.name, "is missing: " + n.why);
}

}  // namespace

void validate_config_against_tensors(const ModelReader& model) {
  const ModelConfig& c = model.config();
  const Fields f(c.raw, (model.dir() / "config.json").string());
  const ModelFamily* family = find_family(c.model_type);
  for (const char* field : {"rope_scaling", "rope_parameters"}) check_rope_field(f, field, family != nullptr);
  if (!family) return;  // other layouts are passed through as they are (MLX)
  check_llama_fields(f, c);
  check_family_tensors(model, c, *family, f);
}

}  // namespace ramq
