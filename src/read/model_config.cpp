// Reading architecture facts from a Hugging Face config.json.
//
// Each field is looked up at the top level first; if it is absent there and the config has a
// "text_config" object (multimodal wrappers such as Gemma 3 or Mistral 3), it is looked up there.
// Required: architectures (non-empty array of strings), model_type, hidden_size,
// intermediate_size (0 when absent from a config with moe_intermediate_size), num_hidden_layers, num_attention_heads, vocab_size, max_position_embeddings.
// Optional with defaults: num_key_value_heads (= num_attention_heads), head_dim
// (= hidden_size / num_attention_heads, which must divide evenly), rms_norm_eps (1e-6),
// rope_theta (10000, also read from "rope_parameters.rope_theta"), tie_word_embeddings (false).
// gemma3 / gemma3_text, as Gemma3TextConfig: num_attention_heads 8, num_key_value_heads 4,
// head_dim 256, vocab_size 262208, max_position_embeddings 131072 when absent, rope_theta
// 1000000, tie_word_embeddings true.
// A field that is present with value null counts as absent.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "ramq/error.h"
#include "ramq/json_io.h"
#include "ramq/safetensors.h"
#include "ramq/config_fields.h"

namespace ramq {

namespace {

using json = nlohmann::json;

std::string show(const json& j) { return show_json_value(j); }

}  // namespace

ModelConfig parse_model_config(const std::string& text, const std::string& file) {
  ModelConfig c;
  c.raw = parse_json_text(text, file);
  if (!c.raw.is_object()) throw Error(file, "", "not a JSON object but " + std::string(c.raw.type_name()));
  const ConfigFields r(c.raw, file);

  const json& arch = r.required("architectures");
  if (!arch.is_array() || arch.empty() || !arch[0].is_string() || arch[0].get_ref<const std::string&>().empty())
    r.fail("architectures", "must be a non-empty array of strings, got " + show(arch));
  c.architecture = arch[0].get<std::string>();
  c.model_type = r.required_string("model_type");

  c.hidden_size = r.required_int("hidden_size");
  // Mixture-of-experts configs without a dense MLP (Qwen3.5-MoE's text_config) have none.
  if (r.find("intermediate_size") != nullptr || r.find("moe_intermediate_size") == nullptr)
    c.intermediate_size = r.required_int("intermediate_size");
  c.num_hidden_layers = r.required_int("num_hidden_layers");
  // Released Gemma 3 multimodal configs leave these to Gemma3TextConfig's defaults.
  const bool gemma3 = c.model_type == "gemma3" || c.model_type == "gemma3_text";
  const auto size = [&](const char* name, std::int64_t gemma3_default) {
    return gemma3 && r.find(name) == nullptr ? gemma3_default : r.required_int(name);
  };
  c.num_attention_heads = size("num_attention_heads", 8);
  c.vocab_size = size("vocab_size", 262208);
  c.max_position_embeddings = size("max_position_embeddings", 131072);

  if (const json* j = r.find("num_key_value_heads")) {
    c.num_key_value_heads = r.positive_int("num_key_value_heads", *j);
    if (c.num_attention_heads % c.num_key_value_heads != 0)
      r.fail("num_key_value_heads",
             "(" + std::to_string(c.num_key_value_heads) + ") must divide num_attention_heads (" +
                 std::to_string(c.num_attention_heads) + ")");
  } else {
    c.num_key_value_heads = gemma3 ? 4 : c.num_attention_heads;
  }

  if (const json* j = r.find("head_dim")) {
    c.head_dim = r.positive_int("head_dim", *j);
  } else if (gemma3) {
    c.head_dim = 256;
  } else {
    if (c.hidden_size % c.num_attention_heads != 0)
      r.fail("head_dim",
             "is missing and num_attention_heads (" + std::to_string(c.num_attention_heads) +
                 ") does not divide hidden_size (" + std::to_string(c.hidden_size) + ")");
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }

  if (const json* j = r.find("rms_norm_eps")) c.rms_norm_eps = r.positive_double("rms_norm_eps", *j);

  if (c.model_type == "gemma3" || c.model_type == "gemma3_text") c.rope_theta = 1000000.0;  // Gemma3TextConfig
  if (const json* j = r.find("rope_theta")) {
    c.rope_theta = r.positive_double("rope_theta", *j);
  } else if (const json* rp = r.find("rope_parameters"); rp && rp->is_object()) {
    const auto it = rp->find("rope_theta");
    if (it != rp->end() && !it->is_null()) c.rope_theta = r.positive_double("rope_parameters.rope_theta", *it);
  }

  // Gemma 3's configuration classes default it to true, and released configs leave it out.
  c.tie_word_embeddings = c.model_type == "gemma3" || c.model_type == "gemma3_text";
  if (const json* j = r.find("tie_word_embeddings")) {
    if (!j->is_boolean()) r.fail("tie_word_embeddings", "must be true or false, got " + show(*j));
    c.tie_word_embeddings = j->get<bool>();
  }
  check_model_config_limits(c, file);
  return c;
}

void check_model_config_limits(const ModelConfig& c, const std::string& file) {
  const struct {
    const char* name;
    std::int64_t value, max;
  } fields[] = {{"hidden_size", c.hidden_size, std::int64_t{1} << 20},
                {"intermediate_size", c.intermediate_size, std::int64_t{1} << 20},
                {"num_hidden_layers", c.num_hidden_layers, std::int64_t{1} << 16},
                {"num_attention_heads", c.num_attention_heads, std::int64_t{1} << 16},
                {"num_key_value_heads", c.num_key_value_heads, std::int64_t{1} << 16},
                {"head_dim", c.head_dim, std::int64_t{1} << 16},
                {"vocab_size", c.vocab_size, std::int64_t{1} << 24}};
  for (const auto& f : fields)
    if (f.value > f.max)
      throw Error(file, "", std::string("field '") + f.name + "' is " + std::to_string(f.value) +
                                ", above ramq's limit of " + std::to_string(f.max) + " (no real model is this large)");
}

}  // namespace ramq
