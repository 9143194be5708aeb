// Reading architecture facts from a Hugging Face config.json.
//
// Each field is looked up at the top level first; if it is absent there and the config has a
// "text_config" object (multimodal wrappers such as Gemma 3 or Mistral 3), it is looked up there.
// Required: architectures (non-empty array of strings), model_type, hidden_size,
// intermediate_size, num_hidden_layers, num_attention_heads, vocab_size, max_position_embeddings.
// Optional with defaults: num_key_value_heads (= num_attention_heads), head_dim
// (= hidden_size / num_attention_heads, which must divide evenly), rms_norm_eps (1e-6),
// rope_theta (10000, also read from "rope_parameters.rope_theta"), tie_word_embeddings (false).
// A field that is present with value null counts as absent.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "ramq/error.h"
#include "ramq/json_io.h"
#include "ramq/safetensors.h"

namespace ramq {

namespace {

using json = nlohmann::json;

// Integer fields must be positive and fit comfortably (later code multiplies them).
constexpr std::int64_t kMaxIntField = std::numeric_limits<std::int32_t>::max();

std::string show(const json& j) {
  std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 80) + "...";
  for (auto& c : s)
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  return s;
}

class ConfigReader {
 public:
  ConfigReader(const json& root, const std::string& file) : root_(root), file_(file) {
    const auto it = root.find("text_config");
    if (it != root.end() && it->is_object()) text_ = &*it;
  }

  // The field's value (top level, else text_config), or nullptr if absent or null.
  const json* find(const char* name) const {
    for (const json* obj : {&root_, text_}) {
      if (!obj) continue;
      const auto it = obj->find(name);
      if (it != obj->end() && !it->is_null()) return &*it;
    }
    return nullptr;
  }

  [[noreturn]] void fail(const char* name, const std::string& problem) const {
    throw Error(file_, "", std::string("field '") + name + "' " + problem);
  }

  const json& required(const char* name) const {
    const json* j = find(name);
    if (!j) fail(name, "is missing");
    return *j;
  }

  std::int64_t positive_int(const char* name, const json& j) const {
    if (!j.is_number_integer()) fail(name, "must be a positive integer, got " + show(j));
    if (j.is_number_unsigned()) {
      const auto v = j.get<std::uint64_t>();
      if (v == 0 || v > static_cast<std::uint64_t>(kMaxIntField))
        fail(name, "must be a positive integer of at most " + std::to_string(kMaxIntField) + ", got " + show(j));
      return static_cast<std::int64_t>(v);
    }
    const auto v = j.get<std::int64_t>();
    if (v <= 0 || v > kMaxIntField)
      fail(name, "must be a positive integer of at most " + std::to_string(kMaxIntField) + ", got " + show(j));
    return v;
  }
  std::int64_t required_int(const char* name) const { return positive_int(name, required(name)); }

  double positive_double(const char* name, const json& j) const {
    if (!j.is_number()) fail(name, "must be a positive number, got " + show(j));
    const double v = j.get<double>();
    if (!std::isfinite(v) || v <= 0) fail(name, "must be a positive finite number, got " + show(j));
    return v;
  }

  std::string required_string(const char* name) const {
    const json& j = required(name);
    if (!j.is_string() || j.get_ref<const std::string&>().empty()) fail(name, "must be a non-empty string, got " + show(j));
    return j.get<std::string>();
  }

 private:
  const json& root_;
  const json* text_ = nullptr;
  const std::string& file_;
};

}  // namespace

ModelConfig parse_model_config(const std::string& text, const std::string& file) {
  ModelConfig c;
  c.raw = parse_json_text(text, file);
  if (!c.raw.is_object()) throw Error(file, "", "not a JSON object but " + std::string(c.raw.type_name()));
  const ConfigReader r(c.raw, file);

  const json& arch = r.required("architectures");
  if (!arch.is_array() || arch.empty() || !arch[0].is_string() || arch[0].get_ref<const std::string&>().empty())
    r.fail("architectures", "must be a non-empty array of strings, got " + show(arch));
  c.architecture = arch[0].get<std::string>();
  c.model_type = r.required_string("model_type");

  c.hidden_size = r.required_int("hidden_size");
  c.intermediate_size = r.required_int("intermediate_size");
  c.num_hidden_layers = r.required_int("num_hidden_layers");
  c.num_attention_heads = r.required_int("num_attention_heads");
  c.vocab_size = r.required_int("vocab_size");
  c.max_position_embeddings = r.required_int("max_position_embeddings");

  if (const json* j = r.find("num_key_value_heads")) {
    c.num_key_value_heads = r.positive_int("num_key_value_heads", *j);
    if (c.num_attention_heads % c.num_key_value_heads != 0)
      r.fail("num_key_value_heads",
             "(" + std::to_string(c.num_key_value_heads) + ") must divide num_attention_heads (" +
                 std::to_string(c.num_attention_heads) + ")");
  } else {
    c.num_key_value_heads = c.num_attention_heads;
  }

  if (const json* j = r.find("head_dim")) {
    c.head_dim = r.positive_int("head_dim", *j);
  } else {
    if (c.hidden_size % c.num_attention_heads != 0)
      r.fail("head_dim",
             "is missing and num_attention_heads (" + std::to_string(c.num_attention_heads) +
                 ") does not divide hidden_size (" + std::to_string(c.hidden_size) + ")");
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }

  if (const json* j = r.find("rms_norm_eps")) c.rms_norm_eps = r.positive_double("rms_norm_eps", *j);

  if (const json* j = r.find("rope_theta")) {
    c.rope_theta = r.positive_double("rope_theta", *j);
  } else if (const json* rp = r.find("rope_parameters"); rp && rp->is_object()) {
    const auto it = rp->find("rope_theta");
    if (it != rp->end() && !it->is_null()) c.rope_theta = r.positive_double("rope_parameters.rope_theta", *it);
  }

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
