// validate_config_against_tensors (include/ramq/config_check.h). The MLX writer copies
// config.json and the tensors as they are, and the GGUF writer and the evaluator each read a few
// fields of their own: without this one check before anything is analysed or written, a
// config.json that disagrees with the tensors produced an output that mlx_lm, llama.cpp or
// `ramq eval` later refused, or read wrongly (a layer beyond num_hidden_layers is dropped).
#include "ramq/config_check.h"

#include <cmath>
#include <string_view>

#include "ramq/error.h"
#include "read/config_fields.h"

namespace ramq {

namespace {

using json = nlohmann::json;
using Shape = std::vector<std::int64_t>;

std::string show(const json& j) { return show_json_value(j); }

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

// ---- tensor roles ---------------------------------------------------------------------------

// "model.layers.12.rest" -> {12, "rest"}; nullopt if the name is not of that form (a plain
// decimal index, no leading zero).
struct LayerName {
  std::int64_t index = 0;
  std::string_view rest;
};
std::optional<LayerName> split_layer(std::string_view name) {
  constexpr std::string_view kPrefix = "model.layers.";
  if (name.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  name.remove_prefix(kPrefix.size());
  std::size_t i = 0;
  std::int64_t n = 0;
  while (i < name.size() && i < 9 && name[i] >= '0' && name[i] <= '9') n = n * 10 + (name[i++] - '0');
  if (i == 0 || i >= name.size() || name[i] != '.' || (i > 1 && name[0] == '0')) return std::nullopt;
  return LayerName{n, name.substr(i + 1)};
}

std::optional<ExpectedShape> layer_role(std::string_view s, const ModelConfig& c) {
  const std::int64_t h = c.hidden_size, q = c.num_attention_heads * c.head_dim,
                     kv = c.num_key_value_heads * c.head_dim, ff = c.intermediate_size;
  const std::string H = "hidden_size", Q = "num_attention_heads x head_dim", KV = "num_key_value_heads x head_dim",
                    F = "intermediate_size";
  const auto mat = [](std::int64_t r, std::int64_t k, const std::string& rn, const std::string& kn) {
    return ExpectedShape{{r, k}, "[" + rn + ", " + kn + "]"};
  };
  const auto vec = [](std::int64_t n, const std::string& nn) { return ExpectedShape{{n}, "[" + nn + "]"}; };
  if (s == "input_layernorm.weight" || s == "post_attention_layernorm.weight") return vec(h, H);
  if (s == "self_attn.q_proj.weight") return mat(q, h, Q, H);
  if (s == "self_attn.k_proj.weight" || s == "self_attn.v_proj.weight") return mat(kv, h, KV, H);
  if (s == "self_attn.o_proj.weight") return mat(h, q, H, Q);
  if (s == "self_attn.q_proj.bias") return vec(q, Q);
  if (s == "self_attn.k_proj.bias" || s == "self_attn.v_proj.bias") return vec(kv, KV);
  if (s == "self_attn.o_proj.bias" || s == "mlp.down_proj.bias") return vec(h, H);
  if (s == "self_attn.q_norm.weight" || s == "self_attn.k_norm.weight") return vec(c.head_dim, "head_dim");
  if (s == "mlp.gate_proj.weight" || s == "mlp.up_proj.weight") return mat(ff, h, F, H);
  if (s == "mlp.down_proj.weight") return mat(h, ff, H, F);
  if (s == "mlp.gate_proj.bias" || s == "mlp.up_proj.bias") return vec(ff, F);
  return std::nullopt;
}

// ---- tensors against the configuration ------------------------------------------------------

void check_tensor(const TensorInfo& t, const ModelConfig& c) {
  if (const auto layer = split_layer(t.name); layer && layer->index >= c.num_hidden_layers)
    throw Error(t.file, t.name,
                "belongs to layer " + std::to_string(layer->index) + " but config.json has num_hidden_layers " +
                    std::to_string(c.num_hidden_layers) + " (layers 0 to " + std::to_string(c.num_hidden_layers - 1) +
                    ")");
  const auto want = expected_tensor_shape(c, t.name);
  if (want && t.shape != want->shape)
    throw Error(t.file, t.name,
                "has shape " + shape_text(t.shape) + " but config.json implies " + want->formula + " = " +
                    shape_text(want->shape));
}

// A tensor the configuration needs, and why (for the message when it is missing).
struct Needed {
  std::string name, why;
};

void add_layer_needs(std::vector<Needed>& out, const ModelReader& model, const ModelConfig& c, const Fields& f,
                     std::int64_t layer) {
  const std::string p = "model.layers." + std::to_string(layer) + ".";
  const std::string declared = "config.json declares num_hidden_layers " + std::to_string(c.num_hidden_layers) +
                               " and every layer of a " + c.model_type + " model has it";
  for (const char* s : {"input_layernorm.weight", "post_attention_layernorm.weight", "self_attn.q_proj.weight",
                        "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
                        "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"})
    out.push_back({p + s, declared});
  const bool attention_bias = f.flag("attention_bias", false);
  if (c.model_type == "qwen2" || attention_bias)
    for (const char* s : {"self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias"})
      out.push_back({p + s, attention_bias ? "config.json has attention_bias true" : "qwen2 models have q/k/v biases"});
  if (attention_bias) out.push_back({p + "self_attn.o_proj.bias", "config.json has attention_bias true"});
  if (f.flag("mlp_bias", false))
    for (const char* s : {"mlp.gate_proj.bias", "mlp.up_proj.bias", "mlp.down_proj.bias"})
      out.push_back({p + s, "config.json has mlp_bias true"});
  // q_norm and k_norm come as a pair: qwen3 always has them, and a forward pass that finds one
  // needs the other.
  const bool qk_norm = c.model_type == "qwen3" || model.find(p + "self_attn.q_norm.weight") != nullptr ||
                       model.find(p + "self_attn.k_norm.weight") != nullptr;
  if (qk_norm)
    for (const char* s : {"self_attn.q_norm.weight", "self_attn.k_norm.weight"})
      out.push_back({p + s, c.model_type == "qwen3" ? "qwen3 models have q_norm and k_norm in every layer"
                                                    : "q_norm and k_norm come as a pair"});
}

std::vector<Needed> needed_tensors(const ModelReader& model, const ModelConfig& c, const Fields& f) {
  std::vector<Needed> out{{"model.embed_tokens.weight", "every " + c.model_type + " model has it"}};
  if (!c.tie_word_embeddings)
    out.push_back({"lm_head.weight",
                   "config.json has tie_word_embeddings false (or absent), so the model needs its own output head"});
  for (std::int64_t layer = 0; layer < c.num_hidden_layers; ++layer) add_layer_needs(out, model, c, f, layer);
  out.push_back({"model.norm.weight", "every " + c.model_type + " model has it"});
  return out;
}

void check_llama_tensors(const ModelReader& model, const ModelConfig& c, const Fields& f) {
  for (const auto& t : model.tensors()) check_tensor(t, c);
  for (const auto& n : needed_tensors(model, c, f))
    if (model.find(n.name) == nullptr) throw Error(f.file(), n.name, "is missing: " + n.why);
}

}  // namespace

bool is_llama_family(const std::string& t) { return t == "llama" || t == "mistral" || t == "qwen2" || t == "qwen3"; }

std::optional<ExpectedShape> expected_tensor_shape(const ModelConfig& c, const std::string& hf_name) {
  if (hf_name == "model.embed_tokens.weight" || hf_name == "lm_head.weight")
    return ExpectedShape{{c.vocab_size, c.hidden_size}, "[vocab_size, hidden_size]"};
  if (hf_name == "model.norm.weight") return ExpectedShape{{c.hidden_size}, "[hidden_size]"};
  if (const auto layer = split_layer(hf_name)) return layer_role(layer->rest, c);
  return std::nullopt;
}

void validate_config_against_tensors(const ModelReader& model) {
  const ModelConfig& c = model.config();
  const Fields f(c.raw, (model.dir() / "config.json").string());
  const bool llama = is_llama_family(c.model_type);
  for (const char* field : {"rope_scaling", "rope_parameters"}) check_rope_field(f, field, llama);
  if (!llama) return;  // other layouts are passed through as they are (MLX)
  check_llama_fields(f, c);
  check_llama_tensors(model, c, f);
}

}  // namespace ramq
