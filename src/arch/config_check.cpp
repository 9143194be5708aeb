// validate_config_against_tensors (include/ramq/config_check.h), from the family descriptions
// (arch/model_family.h). The MLX writer copies config.json and the tensors as they are, and the
// GGUF writer and the evaluator each read a few fields of their own: without this one check
// before anything is analysed or written, a config.json that disagrees with the tensors produced
// an output that mlx_lm, llama.cpp or `ramq eval` later refused, or read wrongly (a layer beyond
// num_hidden_layers is dropped).
#include "ramq/config_check.h"

#include <cmath>
#include <string_view>

#include "ramq/family_config.h"
#include "ramq/longrope.h"
#include "ramq/model_family.h"
#include "ramq/error.h"
#include "ramq/config_fields.h"

namespace ramq {

namespace {

using json = nlohmann::json;
using Shape = std::vector<std::int64_t>;

std::string show(const json& j) { return show_json_value(j); }

using Fields = ConfigFields;

// ---- rope scaling -------------------------------------------------------------------------

// The union of what the writers and the evaluator implement (the GGUF writer refuses "dynamic"
// itself; mlx_lm and the evaluator take it).
constexpr std::string_view kRopeTypes[] = {"default", "linear", "dynamic", "yarn", "llama3", "longrope", "su"};

void check_rope_numbers(const Fields& f, const RopeScaling& rope) {
  if (rope.type == "default") return;
  if (is_longrope_type(rope.type)) return;  // read_longrope, below, with the model's head_dim
  rope.required(f, "factor");
  if (rope.type == "llama3") {
    const double low = rope.required(f, "low_freq_factor");
    const double high = rope.required(f, "high_freq_factor");
    rope.required(f, "original_max_position_embeddings");
    // The llama3 rule blends between the two wavelengths and divides by their difference.
    if (!(high > low)) f.fail(rope.field + ".high_freq_factor", "must be larger than low_freq_factor");
  } else {
    rope.number(f, "original_max_position_embeddings");
  }
  // Partial rotary embeddings are not implemented by any of ramq's Llama-family paths.
  if (const auto pr = rope.number(f, "partial_rotary_factor"); pr && *pr != 1.0)
    f.fail(rope.field + ".partial_rotary_factor", "is " + show(rope.object->at("partial_rotary_factor")) +
                                                      ": only full rotary embeddings (1) are supported");
}

// rope_scaling and its successor rope_parameters. Every Hugging Face model reads them as a dict,
// so "not an object" is malformed whatever the model type; the type's meaning is known only for
// the families ramq knows.
void check_rope_field(const Fields& f, const char* field, bool known_family) {
  const auto rope = read_rope_scaling(f, field);
  if (!rope || !known_family) return;
  bool known = false;
  for (const auto t : kRopeTypes) known = known || rope->type == t;
  if (!known)
    f.fail(std::string(field) + ".rope_type",
           "is '" + rope->type + "': ramq understands rope scaling default, linear, dynamic, yarn, llama3 and longrope only");
  check_rope_numbers(f, *rope);
}

// ---- tensors against the configuration ------------------------------------------------------

// "model.layers.12.rest" -> 12 (the family's layer prefix); nullopt if the name is not of that form.
std::optional<std::int64_t> layer_index(const ModelFamily& family, std::string_view name) {
  const std::string_view prefix = family.names->hf_layer_prefix;
  if (!name.starts_with(prefix)) return std::nullopt;
  name.remove_prefix(prefix.size());
  return take_layer_index(name);
}

void check_tensor(const TensorInfo& t, const ModelConfig& c, const ModelFamily& family, std::int64_t experts) {
  std::int64_t expert = -1;
  expert_stack_key(t.name, &expert);
  if (family.moe != nullptr && expert >= experts)
    throw Error(t.file, t.name,
                "is expert " + std::to_string(expert) + " but config.json has " + std::string(family.moe->experts_field) +
                    " " + std::to_string(experts) + " (experts 0 to " + std::to_string(experts - 1) + ")");
  if (const auto layer = layer_index(family, t.name); layer && *layer >= c.num_hidden_layers)
    throw Error(t.file, t.name,
                "belongs to layer " + std::to_string(*layer) + " but config.json has num_hidden_layers " +
                    std::to_string(c.num_hidden_layers) + " (layers 0 to " + std::to_string(c.num_hidden_layers - 1) +
                    ")");
  const auto want = family.expected_shape(c, t.name);
  if (want && t.shape != want->shape)
    throw Error(t.file, t.name,
                "has shape " + shape_text(t.shape) + " but config.json implies " + want->formula + " = " +
                    shape_text(want->shape) +
                    (t.stored_as.empty() ? "" : " (stored as " + t.stored_as + ")"));
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
  std::int64_t experts = 0;  // routed experts per layer (0: dense)
  const LinearAttentionFields* linear = nullptr;  // hybrid families: the kind of every layer
};

// "layer_types[3] 'full_attention'" or "full_attention_interval 4 (layer 3 is full_attention)".
std::string layer_kind_source(const Declared& d, std::int64_t layer) {
  const bool linear = d.linear->linear_layer[static_cast<std::size_t>(layer)];
  const std::string kind = linear ? "linear_attention" : "full_attention";
  if (Fields(d.c.raw, "").find("layer_types") != nullptr)
    return "layer_types[" + std::to_string(layer) + "] is '" + kind + "'";
  return "full_attention_interval " + std::to_string(d.linear->full_attention_interval) + " makes layer " +
         std::to_string(layer) + " a " + kind + " layer";
}

// Why a tensor of presence p is needed (in the layer with prefix p, for QkNorm), or "" if it is not.
std::string why_needed(Presence p, const Declared& d, const ModelReader& model, const std::string& layer_prefix,
                       std::int64_t layer) {
  const std::string family(d.family.name);
  switch (p) {
    case Presence::LinearAttention:
    case Presence::FullAttention: {
      if (d.linear == nullptr || layer < 0) return "";
      const bool linear = d.linear->linear_layer[static_cast<std::size_t>(layer)];
      return linear == (p == Presence::LinearAttention) ? "config.json's " + layer_kind_source(d, layer) : "";
    }
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

// A layer's tensor of the family table, once per routed expert when its name has "*".
void add_layer_tensor(std::vector<Needed>& out, const std::string& prefix, std::string_view hf, std::int64_t experts,
                      const std::string& why) {
  const std::size_t star = hf.find('*');
  if (star == std::string_view::npos) {
    out.push_back({prefix + std::string(hf), why});
    return;
  }
  for (std::int64_t e = 0; e < experts; ++e)
    out.push_back({prefix + std::string(hf.substr(0, star)) + std::to_string(e) + std::string(hf.substr(star + 1)),
                   why + " (" + std::to_string(experts) + " experts)"});
}

// The family table's tensors this model needs: the global ones, then layer by layer those
// present in every checkpoint, then the q/k/v biases, o bias, mlp biases and q/k norms.
std::vector<Needed> needed_tensors(const ModelReader& model, const Declared& d) {
  const TensorNames& names = *d.family.names;
  std::vector<Needed> out;
  for (const auto& g : names.global)
    if (std::string why = why_needed(g.presence, d, model, "", -1); !why.empty()) out.push_back({std::string(g.hf), why});
  for (std::int64_t layer = 0; layer < d.c.num_hidden_layers; ++layer) {
    const std::string prefix = std::string(names.hf_layer_prefix) + std::to_string(layer) + ".";
    for (const Presence p : {Presence::Always, Presence::QkvBias, Presence::AttentionBias, Presence::MlpBias,
                             Presence::QkNorm, Presence::LinearAttention, Presence::FullAttention}) {
      const std::string why = why_needed(p, d, model, prefix, layer);
      if (why.empty()) continue;
      for (const auto& n : names.layer)
        if (n.presence == p) add_layer_tensor(out, prefix, n.hf, d.experts, why);
    }
  }
  return out;
}

// Hybrid families: a tensor of one layer kind in a layer of the other (a linear-attention
// projection in a full-attention layer) is one the forward pass of that layer never reads.
void check_layer_kind(const TensorInfo& t, const Declared& d) {
  if (d.linear == nullptr) return;
  const auto layer = layer_index(d.family, t.name);
  if (!layer || *layer >= d.c.num_hidden_layers) return;
  std::string_view local = t.name;
  local.remove_prefix(d.family.names->hf_layer_prefix.size());
  take_layer_index(local);
  const std::string key = expert_stack_key(local);
  for (const auto& n : d.family.names->layer) {
    if (n.hf != key || (n.presence != Presence::LinearAttention && n.presence != Presence::FullAttention)) continue;
    const bool linear_tensor = n.presence == Presence::LinearAttention;
    if (linear_tensor != d.linear->linear_layer[static_cast<std::size_t>(*layer)])
      throw Error(t.file, t.name,
                  std::string("is a ") + (linear_tensor ? "linear" : "full") + "-attention tensor but config.json's " +
                      layer_kind_source(d, *layer));
  }
}

void check_family_tensors(const ModelReader& model, const Declared& declared, const Fields& f) {
  for (const auto& t : model.tensors()) {
    check_tensor(t, declared.c, declared.family, declared.experts);
    check_layer_kind(t, declared);
  }
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
  const FamilyFields fields = read_family_fields(f, c, *family);
  if (const auto rope = read_rope(f); rope && is_longrope_type(rope->type)) {
    if (!family->phi3_rope) f.fail(rope->field + ".rope_type", "'" + rope->type + "' is supported for phi3 models only");
    read_longrope(f, c);
  }
  check_family_tensors(model,
                       {c, *family, fields.attention_bias, fields.mlp_bias, fields.moe ? fields.moe->experts : 0,
                        fields.linear ? &*fields.linear : nullptr},
                       f);
}

}  // namespace ramq
