// Test support, internal to mlx_loader_check*.cpp: the pieces of mlx_lm's model classes the
// loader check builds modules from (sources as in mlx_loader_check.h), and the hybrid
// linear-attention families' modules and sanitize() (mlx_loader_hybrid.cpp).
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/mlx_loader_check.h"

namespace ramq::testkit::mlx_rules {

using json = nlohmann::json;
using Shape = std::vector<std::int64_t>;

// A rule broken: the message names the rule and the tensor or module.
struct Violation : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline std::string shape_str(const Shape& s) {
  std::string t = "[";
  for (std::size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + "]";
}

inline std::int64_t field(const json& c, const char* key) {
  if (!c.contains(key) || !c[key].is_number_integer())
    throw Violation(std::string("config.json: ModelArgs needs integer '") + key + "'");
  return c[key].get<std::int64_t>();
}

inline bool flag(const json& c, const char* key, bool dflt) { return c.contains(key) ? c[key].get<bool>() : dflt; }

using Modules = std::map<std::string, MlxModule>;

inline void linear(Modules& m, const std::string& p, std::int64_t in, std::int64_t out, bool bias = false) {
  // mlx python/mlx/nn/layers/linear.py Linear.__init__: weight (out, in) line 50, bias (out,) line 56.
  m[p] = {MlxModule::Kind::Linear, {out, in}, bias};
}
inline void norm(Modules& m, const std::string& p, std::int64_t dims) {
  // mlx python/mlx/nn/layers/normalization.py RMSNorm.__init__: weight (dims,) line 157.
  m[p] = {MlxModule::Kind::RMSNorm, {dims}, false};
}
// mlx_lm models/switch_layers.py SwitchGLU.__init__ (lines 160-173): gate_proj/up_proj
// SwitchLinear(input, hidden), down_proj SwitchLinear(hidden, input), bias False; SwitchLinear
// weight (num_experts, output_dims, input_dims) (lines 93-103).
inline void switch_glu(Modules& m, const std::string& p, std::int64_t dim, std::int64_t hidden, std::int64_t experts) {
  m[p + ".gate_proj"] = {MlxModule::Kind::SwitchLinear, {experts, hidden, dim}, false};
  m[p + ".up_proj"] = {MlxModule::Kind::SwitchLinear, {experts, hidden, dim}, false};
  m[p + ".down_proj"] = {MlxModule::Kind::SwitchLinear, {experts, dim, hidden}, false};
}
// qwen2_moe.py / qwen3_moe.py MLP.__init__ (lines 99-104): gate/up Linear(dim, hidden), down
// Linear(hidden, dim), no bias.
inline void mlp(Modules& m, const std::string& p, std::int64_t dim, std::int64_t hidden) {
  linear(m, p + ".gate_proj", dim, hidden);
  linear(m, p + ".down_proj", hidden, dim);
  linear(m, p + ".up_proj", dim, hidden);
}

// phi3 (mlx_lm models/phi3.py at 33a8a412): Attention.__init__ qkv_proj Linear(dim,
// (heads + 2 kv_heads) x head_dim) with head_dim = hidden / heads, o_proj Linear(heads x
// head_dim, dim); MLP.__init__ gate_up_proj Linear(dim, 2 x intermediate_size), down_proj
// Linear(intermediate_size, dim), no biases; TransformerBlock input_layernorm and
// post_attention_layernorm RMSNorm(hidden); Phi3Model embed_tokens, norm; Model.lm_head unless
// tie_word_embeddings. The class has no sanitize().
inline Modules phi3_modules(const json& c) {
  Modules m;
  const std::int64_t h = field(c, "hidden_size"), vocab = field(c, "vocab_size");
  const std::int64_t heads = field(c, "num_attention_heads");
  const std::int64_t kv = c.contains("num_key_value_heads") && !c["num_key_value_heads"].is_null()
                              ? field(c, "num_key_value_heads")
                              : heads;
  const std::int64_t hd = h / heads, ff = field(c, "intermediate_size");
  m["model.embed_tokens"] = {MlxModule::Kind::Embedding, {vocab, h}, false};
  for (std::int64_t l = 0; l < field(c, "num_hidden_layers"); ++l) {
    const std::string p = "model.layers." + std::to_string(l);
    linear(m, p + ".self_attn.qkv_proj", h, (heads + 2 * kv) * hd);
    linear(m, p + ".self_attn.o_proj", heads * hd, h);
    linear(m, p + ".mlp.gate_up_proj", h, 2 * ff);
    linear(m, p + ".mlp.down_proj", ff, h);
    norm(m, p + ".input_layernorm", h);
    norm(m, p + ".post_attention_layernorm", h);
  }
  norm(m, "model.norm", h);
  if (!flag(c, "tie_word_embeddings", false)) linear(m, "lm_head", h, vocab);
  return m;
}

// The hybrid families: qwen3_next, qwen3_5, qwen3_5_moe (mlx_lm models/qwen3_next.py, qwen3_5.py,
// qwen3_5_moe.py).
bool is_hybrid(const std::string& model_type);
// The leaf modules of their Model(args), keyed by module path.
Modules hybrid_modules(const json& config);
// Their Model.sanitize(weights).
void hybrid_sanitize(std::map<std::string, MlxArray>& weights, const json& config);

// mistral3 (mlx_lm models/mistral3.py around models/llama.py): mlx_loader_mistral3.cpp.
bool is_mistral3(const std::string& model_type);
Modules mistral3_modules(const json& config);
void mistral3_sanitize(std::map<std::string, MlxArray>& weights, const json& config);

// The Gemma 3 families: gemma3_text, gemma3 (mlx_lm models/gemma3_text.py, gemma3.py;
// mlx_loader_gemma3.cpp).
bool is_gemma3(const std::string& model_type);
Modules gemma3_modules(const json& config);
// Their Model.sanitize(weights), which also pops the lm_head module of a tied model.
void gemma3_sanitize(std::map<std::string, MlxArray>& weights, Modules& modules, const json& config);

}  // namespace ramq::testkit::mlx_rules
