// config.json's Gemma 3 fields and their GGUF keys (include/ramq/gemma3_config.h).
#include "ramq/gemma3_config.h"

#include <algorithm>
#include <cmath>

#include "ramq/error.h"

namespace ramq {

namespace {

using nlohmann::json;

std::vector<bool> periodic_layers(std::int64_t layers, std::int64_t pattern) {
  std::vector<bool> out;
  for (std::int64_t i = 0; i < layers; ++i) out.push_back(pattern == 0 || (i + 1) % pattern != 0);
  return out;
}

std::vector<bool> read_layer_types(const ConfigFields& f, const json& lt, std::int64_t layers) {
  if (!lt.is_array() || static_cast<std::int64_t>(lt.size()) != layers)
    f.fail("layer_types", "must be an array of num_hidden_layers (" + std::to_string(layers) + ") strings, got " +
                              show_json_value(lt));
  std::vector<bool> out;
  for (const json& t : lt) {
    if (!t.is_string() || (t.get<std::string>() != "sliding_attention" && t.get<std::string>() != "full_attention"))
      f.fail("layer_types", "entry " + std::to_string(out.size()) + " is " + show_json_value(t) +
                                ": each Gemma 3 layer is 'sliding_attention' or 'full_attention'");
    out.push_back(t.get<std::string>() == "sliding_attention");
  }
  return out;
}

// The smallest period p with layer i global iff (i + 1) % p == 0 that gives `kinds`; 0 if none.
std::int64_t period_of(const std::vector<bool>& kinds) {
  const auto n = static_cast<std::int64_t>(kinds.size());
  for (std::int64_t p = 1; p <= n + 1; ++p)
    if (periodic_layers(n, p) == kinds) return p;
  return 0;
}

double number_or(const ConfigFields& f, const char* name, double dflt) {
  const json* j = f.find(name);
  return j != nullptr ? f.positive_double(name, *j) : dflt;
}

}  // namespace

Gemma3Fields read_gemma3_fields(const ConfigFields& f, const ModelConfig& c) {
  Gemma3Fields g;
  if (const json* lt = f.find("layer_types")) {
    g.sliding_layer = read_layer_types(f, *lt, c.num_hidden_layers);
    g.pattern = period_of(g.sliding_layer);
  } else {
    if (const json* p = f.find("sliding_window_pattern")) g.pattern = f.positive_int("sliding_window_pattern", *p);
    g.sliding_layer = periodic_layers(c.num_hidden_layers, g.pattern);
  }
  if (const json* w = f.find("sliding_window")) g.sliding_window = f.positive_int("sliding_window", *w);
  g.rope_local_base = number_or(f, "rope_local_base_freq", g.rope_local_base);
  g.query_pre_attn_scalar = number_or(f, "query_pre_attn_scalar", g.query_pre_attn_scalar);
  if (const json* cap = f.find("final_logit_softcapping"))
    g.final_logit_softcapping = f.positive_double("final_logit_softcapping", *cap);
  // Gemma 3 replaced attention softcapping by q/k norms; no runtime here computes it.
  if (const json* cap = f.find("attn_logit_softcapping"))
    f.fail("attn_logit_softcapping", "is " + show_json_value(*cap) + ": Gemma 3 models have none (null)");
  return g;
}

void append_gemma3_gguf_metadata(const ModelConfig& cfg, const std::string& config_file, std::vector<GgufKV>& kvs) {
  const ConfigFields f(cfg.raw, config_file);
  const Gemma3Fields g = read_gemma3_fields(f, cfg);
  // llama.cpp's gemma3 graph scales queries by 1/sqrt(head_dim), or 1/sqrt(hidden / heads) for its
  // 27B size (62 layers): whatever config.json says (src/models/gemma3.cpp load_arch_hparams).
  const double llama_cpp_scalar = cfg.num_hidden_layers == 62
                                      ? static_cast<double>(cfg.hidden_size / cfg.num_attention_heads)
                                      : static_cast<double>(cfg.head_dim);
  if (g.query_pre_attn_scalar != llama_cpp_scalar)
    f.fail("query_pre_attn_scalar", "is " + show_json_value(json(g.query_pre_attn_scalar)) +
                                        " but llama.cpp's gemma3 architecture scales attention by 1/sqrt(" +
                                        std::to_string(static_cast<std::int64_t>(llama_cpp_scalar)) +
                                        "): a GGUF file would compute another model");
  if (g.pattern == 0)
    f.fail("layer_types", "has no period of sliding layers followed by a global one: llama.cpp's gemma3 "
                          "architecture cannot hold it");
  const std::string a = "gemma3.";
  const bool any_sliding = std::find(g.sliding_layer.begin(), g.sliding_layer.end(), true) != g.sliding_layer.end();
  // The converter writes the window unless sliding_window_pattern is 1 (every layer global);
  // without it llama.cpp runs every layer global.
  if (any_sliding) {
    if (g.sliding_window > 0xffffffffLL) f.fail("sliding_window", "does not fit in uint32");
    kvs.push_back({a + "attention.sliding_window", GgufValue::u32(static_cast<std::uint32_t>(g.sliding_window))});
    if (g.pattern != 6)  // llama.cpp's default period (load_swa_pattern(ml, 6))
      kvs.push_back({a + "attention.sliding_window_pattern", GgufValue::u32(static_cast<std::uint32_t>(g.pattern))});
  }
  kvs.push_back({a + "rope.freq_base_swa", GgufValue::f32(static_cast<float>(g.rope_local_base))});
  if (g.final_logit_softcapping)
    kvs.push_back({a + "final_logit_softcapping", GgufValue::f32(static_cast<float>(*g.final_logit_softcapping))});
}

void read_gemma3_gguf_fields(const GgufReader& gguf, const std::string& a,
                             const std::function<std::int64_t(const std::string&)>& uint, ModelConfig& c) {
  const auto real = [&](const std::string& key) -> std::optional<double> {
    const GgufValue* v = gguf.find(key);
    if (v == nullptr) return std::nullopt;
    if (const auto* d = std::get_if<double>(&v->v); d && std::isfinite(*d) && *d > 0) return *d;
    throw Error("", "", "metadata key '" + key + "' is not a positive float");
  };
  c.raw["hidden_activation"] = "gelu_pytorch_tanh";
  if (gguf.find(a + "attention.sliding_window") != nullptr) {
    c.raw["sliding_window"] = uint(a + "attention.sliding_window");
    c.raw["sliding_window_pattern"] =
        gguf.find(a + "attention.sliding_window_pattern") != nullptr ? uint(a + "attention.sliding_window_pattern") : 6;
  } else {
    c.raw["sliding_window_pattern"] = 1;  // every layer global
  }
  c.raw["rope_local_base_freq"] = real(a + "rope.freq_base_swa").value_or(10000.0);
  c.raw["query_pre_attn_scalar"] =
      c.num_hidden_layers == 62 ? c.hidden_size / c.num_attention_heads : c.head_dim;
  if (const auto cap = real(a + "final_logit_softcapping")) c.raw["final_logit_softcapping"] = *cap;
}

}  // namespace ramq
