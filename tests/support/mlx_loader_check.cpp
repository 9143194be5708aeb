// mlx_lm's loading rules (support/mlx_loader_check.h). Sources: ml-explore/mlx-lm at d78bf58e
// (mlx_lm/utils.py, mlx_lm/models/{mixtral,qwen2_moe,qwen3_moe,switch_layers}.py; the hybrid
// families qwen3_next / qwen3_5 / qwen3_5_moe in mlx_loader_hybrid.cpp) and
// ml-explore/mlx at 846d1762 (mlx/ops.cpp, python/mlx/nn/layers/*.py); read for facts only.
#include "support/mlx_loader_check.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <set>
#include <stdexcept>
#include <utility>

#include "support/mini_safetensors.h"
#include "support/mlx_loader_rules.h"

namespace fs = std::filesystem;

namespace ramq::testkit {

namespace {

using namespace mlx_rules;

// Attention of the three families: mixtral.py MixtralAttention (lines 35-57, head_dim =
// hidden / heads, no bias); qwen2_moe.py Attention (lines 46-61, q/k/v bias=True); qwen3_moe.py
// Attention (lines 37-57, head_dim from args, q_norm/k_norm RMSNorm(head_dim)).
void attention(Modules& m, const std::string& p, const json& c, const std::string& type) {
  const std::int64_t h = field(c, "hidden_size"), heads = field(c, "num_attention_heads");
  const std::int64_t kv = c.contains("num_key_value_heads") && !c["num_key_value_heads"].is_null()
                              ? field(c, "num_key_value_heads")
                              : heads;
  const std::int64_t hd = type == "qwen3_moe" ? field(c, "head_dim") : h / heads;
  const bool bias = type == "qwen2_moe";
  linear(m, p + ".q_proj", h, heads * hd, bias);
  linear(m, p + ".k_proj", h, kv * hd, bias);
  linear(m, p + ".v_proj", h, kv * hd, bias);
  linear(m, p + ".o_proj", heads * hd, h);
  if (type == "qwen3_moe") {
    norm(m, p + ".q_norm", hd);
    norm(m, p + ".k_norm", hd);
  }
}

// The MLP of layer l: mixtral.py MixtralSparseMoeBlock (lines 97-108: gate Linear(hidden,
// num_local_experts), switch_mlp SwitchGLU(hidden, intermediate_size, num_local_experts)) under
// "block_sparse_moe" (MixtralDecoderLayer, line 131); qwen2_moe.py Qwen2MoeSparseMoeBlock (lines
// 110-124: gate, switch_mlp SwitchGLU(hidden, moe_intermediate_size, num_experts),
// shared_expert MLP(hidden, shared_expert_intermediate_size), shared_expert_gate Linear(hidden,
// 1)); qwen3_moe.py Qwen3MoeSparseMoeBlock (lines 110-121), or the dense MLP(hidden,
// intermediate_size) for layers in mlp_only_layers or off decoder_sparse_step
// (Qwen3MoeDecoderLayer, lines 154-159).
void moe_mlp(Modules& m, const std::string& layer, std::int64_t l, const json& c, const std::string& type) {
  const std::int64_t h = field(c, "hidden_size");
  if (type == "mixtral") {
    const std::int64_t e = field(c, "num_local_experts");
    linear(m, layer + ".block_sparse_moe.gate", h, e);
    switch_glu(m, layer + ".block_sparse_moe.switch_mlp", h, field(c, "intermediate_size"), e);
    return;
  }
  const std::int64_t e = field(c, "num_experts");
  if (type == "qwen3_moe") {
    const auto only = c.value("mlp_only_layers", json::array());
    const bool dense = std::find(only.begin(), only.end(), json(l)) != only.end() || e <= 0 ||
                       (l + 1) % field(c, "decoder_sparse_step") != 0;
    if (dense) return mlp(m, layer + ".mlp", h, field(c, "intermediate_size"));
  }
  linear(m, layer + ".mlp.gate", h, e);
  switch_glu(m, layer + ".mlp.switch_mlp", h, field(c, "moe_intermediate_size"), e);
  if (type == "qwen2_moe") {
    mlp(m, layer + ".mlp.shared_expert", h, field(c, "shared_expert_intermediate_size"));
    linear(m, layer + ".mlp.shared_expert_gate", h, 1);
  }
}

// The leaf modules of <family>.py's Model(args) (before quantization).
Modules model_modules(const json& c) {
  const std::string type = c.value("model_type", "");
  if (is_hybrid(type)) return hybrid_modules(c);
  if (is_mistral3(type)) return mistral3_modules(c);
  if (type == "phi3") return phi3_modules(c);
  if (is_gemma3(type)) return gemma3_modules(c);
  if (type != "mixtral" && type != "qwen2_moe" && type != "qwen3_moe")
    throw Violation("config.json: model_type '" + type + "' is not one this check knows");
  Modules m;
  const std::int64_t h = field(c, "hidden_size"), vocab = field(c, "vocab_size");
  // mlx python/mlx/nn/layers/embedding.py Embedding.__init__: weight (num_embeddings, dims), line 26.
  m["model.embed_tokens"] = {MlxModule::Kind::Embedding, {vocab, h}, false};
  for (std::int64_t l = 0; l < field(c, "num_hidden_layers"); ++l) {
    const std::string p = "model.layers." + std::to_string(l);
    attention(m, p + ".self_attn", c, type);
    moe_mlp(m, p, l, c, type);
    norm(m, p + ".input_layernorm", h);
    norm(m, p + ".post_attention_layernorm", h);
  }
  norm(m, "model.norm", h);
  // lm_head: mixtral.py lines 190-191 and qwen3_moe.py lines 216-217 unless tied; qwen2_moe.py
  // line 211 always.
  if (type == "qwen2_moe" || !flag(c, "tie_word_embeddings", false)) linear(m, "lm_head", h, vocab);
  return m;
}

// Model.sanitize: mixtral.py lines 205-224 (drops lm_head when tied; stacks experts.{e}.w1/w2/w3
// .{weight,scales,biases} into switch_mlp.gate_proj/down_proj/up_proj), qwen2_moe.py lines
// 221-234 (stacks up/down/gate_proj .{weight,scales,biases}), qwen3_moe.py lines 232-246 (drops
// lm_head when tied; stacks .weight only). Stacking happens only when layer 0's expert 0 is
// there, and pops every expert 0..E-1 (a KeyError if one is missing).
void sanitize(std::map<std::string, MlxArray>& w, const json& c) {
  const std::string type = c.value("model_type", "");
  if (is_hybrid(type)) return hybrid_sanitize(w, c);
  if (is_mistral3(type)) return mistral3_sanitize(w, c);
  if (type == "phi3") return;  // models/phi3.py has no sanitize()
  if (type != "qwen2_moe" && flag(c, "tie_word_embeddings", false)) w.erase("lm_head.weight");
  const bool mixtral = type == "mixtral";
  const std::string moe = mixtral ? ".block_sparse_moe." : ".mlp.";
  const std::string probe = "model.layers.0" + moe + "experts.0." + (mixtral ? "w1" : "up_proj") + ".weight";
  if (!w.count(probe)) return;
  const std::int64_t experts = field(c, mixtral ? "num_local_experts" : "num_experts");
  const std::vector<std::pair<std::string, std::string>> projs =
      mixtral ? std::vector<std::pair<std::string, std::string>>{{"w1", "gate_proj"}, {"w2", "down_proj"}, {"w3", "up_proj"}}
              : std::vector<std::pair<std::string, std::string>>{{"up_proj", "up_proj"}, {"down_proj", "down_proj"}, {"gate_proj", "gate_proj"}};
  const std::vector<std::string> kinds =
      type == "qwen3_moe" ? std::vector<std::string>{"weight"} : std::vector<std::string>{"weight", "scales", "biases"};
  for (std::int64_t l = 0; l < field(c, "num_hidden_layers"); ++l) {
    const std::string prefix = "model.layers." + std::to_string(l) + moe;
    for (const auto& [n, to] : projs)
      for (const auto& k : kinds) {
        if (!w.count(prefix + "experts.0." + n + "." + k)) continue;
        MlxArray stacked;
        for (std::int64_t e = 0; e < experts; ++e) {
          const std::string name = prefix + "experts." + std::to_string(e) + "." + n + "." + k;
          const auto it = w.find(name);
          if (it == w.end()) throw Violation("sanitize: KeyError, '" + name + "' is missing");
          if (e == 0) {
            stacked = it->second;
            stacked.shape.insert(stacked.shape.begin(), experts);
          } else if (it->second.shape != Shape(stacked.shape.begin() + 1, stacked.shape.end()) ||
                     it->second.dtype != stacked.dtype) {
            throw Violation("sanitize: mx.stack of differing arrays at '" + name + "'");
          } else {
            stacked.bytes += it->second.bytes;
          }
          w.erase(it);
        }
        w[prefix + "switch_mlp." + to + "." + k] = std::move(stacked);
      }
  }
}

std::pair<int, int> quant_params(const json& q, const std::string& where) {
  if (!q.is_object() || !q.contains("bits") || !q.contains("group_size"))
    throw Violation("config.json quantization" + where + ": needs 'bits' and 'group_size'");
  const int bits = q["bits"].get<int>(), group = q["group_size"].get<int>();
  // mlx/ops.cpp affine_quantize lines 5038-5050: group 32/64/128; bits 2, 3, 4, 5, 6, 8.
  if (group != 32 && group != 64 && group != 128) throw Violation("quantization" + where + ": group_size unsupported");
  if (bits < 2 || bits > 8 || bits == 7) throw Violation("quantization" + where + ": bits unsupported");
  if (q.value("mode", "affine") != "affine") throw Violation("quantization" + where + ": mode is not affine");
  return {bits, group};
}

// nn.quantize with load_model's class_predicate (utils.py lines 375-390; mlx quantized.py lines
// 72-100). Only Linear, Embedding and SwitchLinear have to_quantized.
void quantize_modules(Modules& mods, const json& config, const std::map<std::string, MlxArray>& w) {
  const json& q = config["quantization"];
  const auto dflt = quant_params(q, "");
  for (auto it = q.begin(); it != q.end(); ++it)
    if (it->is_object() && !mods.count(it.key()))
      throw Violation("config.json quantization key '" + it.key() + "' names no module of the mlx_lm model");
  for (auto& [path, m] : mods) {
    // Linear, Embedding and SwitchLinear have to_quantized; RMSNorm, Conv1d and bare arrays not.
    const bool can = m.kind == MlxModule::Kind::Linear || m.kind == MlxModule::Kind::Embedding ||
                     m.kind == MlxModule::Kind::SwitchLinear;
    std::pair<int, int> p = dflt;
    if (q.contains(path)) {
      if (q[path].is_boolean() && !q[path].get<bool>()) continue;
      if (!can) throw Violation("nn.quantize: Unable to quantize '" + path + "' (no to_quantized)");
      if (q[path].is_object()) p = quant_params(q[path], "." + path);
    } else if (!can || !w.count(path + ".scales")) {
      continue;
    }
    // mx.quantize of the module's random weight at construction needs whole groups.
    if (m.weight_shape.back() % p.second != 0)
      throw Violation("mx.quantize: '" + path + "' row length " + std::to_string(m.weight_shape.back()) +
                      " is not a multiple of group_size " + std::to_string(p.second));
    m.quantized = true;
    m.bits = p.first;
    m.group = p.second;
  }
}

// The parameters of a module after nn.quantize: float modules weight (+ bias); quantized ones
// (mlx quantized.py QuantizedLinear lines 205-257, QuantizedEmbedding lines 103-140; switch_layers
// .py QuantizedSwitchLinear lines 27-61) weight/scales/biases as mx.quantize returns them
// (mlx/ops.cpp affine_quantize lines 5095-5101: uint32 [.., in * bits / 32], scales and biases
// [.., in / group]) plus the float bias.
std::map<std::string, Shape> parameters(const std::string& path, const MlxModule& m) {
  std::map<std::string, Shape> p;
  Shape w = m.weight_shape;
  if (m.kind == MlxModule::Kind::Parameter) return {{path, w}};  // a bare mx.array attribute
  if (m.quantized) {
    Shape s = w;
    w.back() = w.back() * m.bits / 32;
    s.back() = s.back() / m.group;
    p[path + ".scales"] = s;
    p[path + ".biases"] = s;
  }
  p[path + ".weight"] = w;
  if (m.bias) p[path + ".bias"] = Shape(m.weight_shape.begin(), m.weight_shape.end() - 1);
  return p;
}

bool is_float(const std::string& dt) { return dt == "F32" || dt == "F16" || dt == "BF16"; }

// Module.load_weights(strict=True) (mlx base.py lines 179-203), then the dtypes MLX's kernels need.
void load_weights(const Modules& mods, const std::map<std::string, MlxArray>& w) {
  std::map<std::string, Shape> want;
  std::set<std::string> quantized_weights, packed_parts;
  for (const auto& [path, m] : mods) {
    for (auto& [k, s] : parameters(path, m)) want[k] = s;
    if (m.quantized) quantized_weights.insert(path + ".weight");
    if (m.quantized) packed_parts.insert({path + ".scales", path + ".biases"});
  }
  for (const auto& [k, a] : w)
    if (!want.count(k)) throw Violation("load_weights: Received parameters not in model: " + k);
  for (const auto& [k, s] : want) {
    const auto it = w.find(k);
    if (it == w.end()) throw Violation("load_weights: Missing parameters: " + k);
    if (it->second.shape != s)
      throw Violation("load_weights: Expected shape " + shape_str(s) + " but received shape " +
                      shape_str(it->second.shape) + " for parameter " + k);
    const std::string& dt = it->second.dtype;
    if (quantized_weights.count(k) ? dt != "U32" : !is_float(dt))
      throw Violation("parameter " + k + " has dtype " + dt +
                      (quantized_weights.count(k) ? " (a quantized weight must be U32)" : " (must be a float)"));
  }
}

std::map<std::string, MlxArray> read_weights(const fs::path& dir) {
  std::map<std::string, MlxArray> w;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.starts_with("model") && n.ends_with(".safetensors")) files.push_back(e.path());
  }
  if (files.empty()) throw Violation("No safetensors found in " + dir.string());
  std::sort(files.begin(), files.end());
  for (const auto& f : files)
    for (auto& [name, t] : mini_read(f).tensors) w[name] = {t.dtype, t.shape, std::move(t.bytes)};
  return w;
}

float bf16(std::uint16_t v) { return std::bit_cast<float>(static_cast<std::uint32_t>(v) << 16); }

}  // namespace

std::vector<float> mlx_floats(const MlxArray& a) {
  std::vector<float> out;
  const auto* b = reinterpret_cast<const unsigned char*>(a.bytes.data());
  if (a.dtype == "F32") {
    out.resize(a.bytes.size() / 4);
    for (std::size_t i = 0; i < out.size(); ++i) {
      std::uint32_t v = 0;
      for (int k = 0; k < 4; ++k) v |= static_cast<std::uint32_t>(b[4 * i + k]) << (8 * k);
      out[i] = std::bit_cast<float>(v);
    }
    return out;
  }
  if (a.dtype != "F16" && a.dtype != "BF16") throw std::runtime_error("mlx_floats: dtype " + a.dtype);
  for (std::size_t i = 0; i + 1 < a.bytes.size(); i += 2) {
    const auto v = static_cast<std::uint16_t>(b[i] | b[i + 1] << 8);
    out.push_back(a.dtype == "F16" ? mini_half(v) : bf16(v));
  }
  return out;
}

MlxLoaded mlx_load(const fs::path& dir, std::string* violation) {
  MlxLoaded m;
  try {
    m.config = json::parse(slurp(dir / "config.json"));
    m.weights = read_weights(dir);
    m.modules = model_modules(m.config);
    if (is_gemma3(m.config.value("model_type", "")))
      gemma3_sanitize(m.weights, m.modules, m.config);
    else
      sanitize(m.weights, m.config);
    if (m.config.contains("quantization") && !m.config["quantization"].is_null())
      quantize_modules(m.modules, m.config, m.weights);
    load_weights(m.modules, m.weights);
    if (violation) violation->clear();
  } catch (const Violation& v) {
    if (!violation) throw std::runtime_error(v.what());
    *violation = v.what();
  } catch (const json::exception& e) {
    if (!violation) throw;
    *violation = std::string("config.json: ") + e.what();
  }
  return m;
}

std::vector<float> mlx_module_weight(const MlxLoaded& m, const std::string& path) {
  const MlxModule& mod = m.modules.at(path);
  const MlxArray& w = m.weights.at(mod.kind == MlxModule::Kind::Parameter ? path : path + ".weight");
  if (!mod.quantized) return mlx_floats(w);
  const std::vector<float> scales = mlx_floats(m.weights.at(path + ".scales"));
  const std::vector<float> biases = mlx_floats(m.weights.at(path + ".biases"));
  const std::int64_t words = w.shape.back(), cols = words * 32 / mod.bits;
  const std::int64_t rows = static_cast<std::int64_t>(w.bytes.size() / 4) / words;
  const auto* bytes = reinterpret_cast<const unsigned char*>(w.bytes.data());
  std::vector<float> out(static_cast<std::size_t>(rows * cols));
  for (std::int64_t r = 0; r < rows; ++r) {
    // ops.cpp lines 5294-5318: bit i of word k is bit 32k + i of the row's stream (the
    // power-of-two branch is the same order); code c is stream bits [c*bits, (c+1)*bits),
    // bit j of it weighted 2^j.
    const unsigned char* row = bytes + r * words * 4;
    for (std::int64_t c = 0; c < cols; ++c) {
      std::uint32_t q = 0;
      for (int j = 0; j < mod.bits; ++j) {
        const std::int64_t bit = c * mod.bits + j, word = bit / 32, in = bit % 32;
        std::uint32_t v = 0;
        for (int k = 0; k < 4; ++k) v |= static_cast<std::uint32_t>(row[word * 4 + k]) << (8 * k);
        q |= ((v >> in) & 1u) << j;
      }
      // ops.cpp lines 5319-5323: w * scales + biases, per group along the last axis (MLX computes
      // in the scales' dtype; this is float32, the value before that rounding).
      const auto g = static_cast<std::size_t>(r * (cols / mod.group) + c / mod.group);
      out[static_cast<std::size_t>(r * cols + c)] = static_cast<float>(q) * scales[g] + biases[g];
    }
  }
  return out;
}

}  // namespace ramq::testkit
