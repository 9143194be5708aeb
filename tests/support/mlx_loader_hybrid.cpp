// mlx_lm's rules for the hybrid linear-attention families (support/mlx_loader_rules.h), from
// ml-explore/mlx-lm at d78bf58e, mlx_lm/models/qwen3_next.py, qwen3_5.py and qwen3_5_moe.py, and
// ml-explore/mlx at 846d1762 (python/mlx/nn/layers/convolution.py); read for facts only.
#include <algorithm>
#include <bit>
#include <cstring>

#include "support/mlx_loader_rules.h"

namespace ramq::testkit::mlx_rules {

namespace {

std::int64_t field_or(const json& c, const char* key, std::int64_t dflt) {
  return c.contains(key) && !c[key].is_null() ? field(c, key) : dflt;
}

// The text model's arguments. qwen3_next.py ModelArgs (lines 26-55): these fields have no
// default (a missing one is a TypeError); qwen3_5.py TextModelArgs (lines 25-84): every field has
// a default (mlx_lm's own, not transformers'), head_dim defaults to hidden_size / heads.
struct TextArgs {
  std::string type;  // "qwen3_next", "qwen3_5", "qwen3_5_moe"
  json c;            // the text model's config (qwen3_5*: text_config, else the whole file)
  std::int64_t h, layers, heads, kv, hd, vocab, ff, nv, nk, dk, dv, kernel, experts, expert_ff, shared_ff, step, interval;
  bool tied;
  std::string prefix;  // module path of the text model: "model." / "language_model.model."
};

TextArgs text_args(const json& config) {
  TextArgs a;
  a.type = config.value("model_type", "");
  const bool next = a.type == "qwen3_next";
  // qwen3_5.py ModelArgs.from_dict (lines 395-403), qwen3_5_moe.py (lines 9-18): a config
  // without text_config is the text config itself.
  a.c = !next && config.contains("text_config") ? config["text_config"] : config;
  const json& c = a.c;
  if (next)
    for (const char* k : {"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads",
                          "linear_num_value_heads", "linear_num_key_heads", "linear_key_head_dim",
                          "linear_value_head_dim", "linear_conv_kernel_dim", "num_experts", "num_experts_per_tok",
                          "decoder_sparse_step", "shared_expert_intermediate_size", "moe_intermediate_size",
                          "vocab_size", "num_key_value_heads", "max_position_embeddings", "head_dim"})
      field(c, k);
  if (next)
    for (const char* k : {"mlp_only_layers", "rms_norm_eps", "rope_theta", "partial_rotary_factor"})
      if (!c.contains(k)) throw Violation(std::string("config.json: qwen3_next ModelArgs needs '") + k + "'");
  a.h = field_or(c, "hidden_size", 4096);
  a.layers = field_or(c, "num_hidden_layers", 32);
  a.heads = field_or(c, "num_attention_heads", 32);
  a.kv = field_or(c, "num_key_value_heads", 8);
  a.hd = field_or(c, "head_dim", a.h / a.heads);
  a.vocab = field_or(c, "vocab_size", 151936);
  a.ff = field_or(c, "intermediate_size", 14336);
  a.nv = field_or(c, "linear_num_value_heads", 64);
  a.nk = field_or(c, "linear_num_key_heads", 16);
  a.dk = field_or(c, "linear_key_head_dim", 192);
  a.dv = field_or(c, "linear_value_head_dim", 128);
  a.kernel = field_or(c, "linear_conv_kernel_dim", 4);
  a.experts = c.contains("num_experts") ? c["num_experts"].get<std::int64_t>() : 0;
  a.expert_ff = field_or(c, "moe_intermediate_size", 0);
  a.shared_ff = field_or(c, "shared_expert_intermediate_size", 0);
  a.step = field_or(c, "decoder_sparse_step", 1);
  a.interval = field_or(c, "full_attention_interval", 4);
  // TextModelArgs reads tie_word_embeddings from text_config only (default False).
  a.tied = flag(c, "tie_word_embeddings", false);
  // qwen3_next.py GatedDeltaNet.__init__ (lines 182-185), qwen3_5.py GatedDeltaNet: a ValueError.
  if (a.nv % a.nk != 0) throw Violation("GatedDeltaNet: num_v_heads must be divisible by num_k_heads");
  a.prefix = next ? "model." : "language_model.model.";
  return a;
}

// qwen3_next.py Qwen3NextGatedDeltaNet.__init__ (lines 172-212) and qwen3_5.py GatedDeltaNet
// (lines 87-129): conv1d nn.Conv1d(conv_dim, conv_dim, kernel, groups=conv_dim, bias=False),
// whose weight is (out_channels, kernel_size, in_channels // groups) (mlx convolution.py
// Conv1d.__init__, lines 55-58); in_proj_qkvz Linear(hidden, 2 key_dim + 2 value_dim) and
// in_proj_ba Linear(hidden, 2 nv) (qwen3_next), or in_proj_qkv Linear(hidden, 2 key_dim +
// value_dim), in_proj_z Linear(hidden, value_dim), in_proj_b / in_proj_a Linear(hidden, nv)
// (qwen3_5); dt_bias and A_log arrays (nv,); norm RMSNormGated(head_v_dim) with weight (dims,)
// (qwen3_next.py lines 65-69); out_proj Linear(value_dim, hidden).
void linear_attention(Modules& m, const std::string& p, const TextArgs& a) {
  const std::int64_t key_dim = a.nk * a.dk, value_dim = a.nv * a.dv, conv_dim = 2 * key_dim + value_dim;
  m[p + ".conv1d"] = {MlxModule::Kind::Conv1d, {conv_dim, a.kernel, 1}, false};
  if (a.type == "qwen3_next") {
    linear(m, p + ".in_proj_qkvz", a.h, 2 * key_dim + 2 * value_dim);
    linear(m, p + ".in_proj_ba", a.h, 2 * a.nv);
  } else {
    linear(m, p + ".in_proj_qkv", a.h, 2 * key_dim + value_dim);
    linear(m, p + ".in_proj_z", a.h, value_dim);
    linear(m, p + ".in_proj_b", a.h, a.nv);
    linear(m, p + ".in_proj_a", a.h, a.nv);
  }
  m[p + ".dt_bias"] = {MlxModule::Kind::Parameter, {a.nv}, false};
  m[p + ".A_log"] = {MlxModule::Kind::Parameter, {a.nv}, false};
  norm(m, p + ".norm", a.dv);
  linear(m, p + ".out_proj", value_dim, a.h);
}

// qwen3_next.py Qwen3NextAttention.__init__ (lines 81-111): q_proj Linear(hidden, heads x
// head_dim x 2), k/v Linear(hidden, kv x head_dim), o_proj Linear(heads x head_dim, hidden), bias
// attention_bias; q_norm / k_norm RMSNorm(head_dim). qwen3_5.py imports it (line 19).
void full_attention(Modules& m, const std::string& p, const TextArgs& a) {
  const bool bias = flag(a.c, "attention_bias", false);
  linear(m, p + ".q_proj", a.h, a.heads * a.hd * 2, bias);
  linear(m, p + ".k_proj", a.h, a.kv * a.hd, bias);
  linear(m, p + ".v_proj", a.h, a.kv * a.hd, bias);
  linear(m, p + ".o_proj", a.heads * a.hd, a.h, bias);
  norm(m, p + ".q_norm", a.hd);
  norm(m, p + ".k_norm", a.hd);
}

// The MLP of layer l: qwen3_next.py Qwen3NextDecoderLayer.__init__ (lines 370-375): the sparse
// block unless l is in mlp_only_layers, num_experts is 0 or (l + 1) % decoder_sparse_step != 0;
// qwen3_5.py DecoderLayer.__init__ (lines 224-227): sparse iff num_experts > 0. The sparse
// block (qwen3_next.py Qwen3NextSparseMoeBlock, lines 308-323): gate Linear(hidden, experts),
// switch_mlp SwitchGLU(hidden, moe_intermediate_size, experts), shared_expert
// MLP(hidden, shared_expert_intermediate_size), shared_expert_gate Linear(hidden, 1); the dense
// one Qwen3NextMLP(hidden, intermediate_size) (lines 161-166).
void layer_mlp(Modules& m, const std::string& p, std::int64_t l, const TextArgs& a) {
  bool sparse = a.experts > 0;
  if (a.type == "qwen3_next") {
    const auto only = a.c.value("mlp_only_layers", json::array());
    sparse = sparse && std::find(only.begin(), only.end(), json(l)) == only.end() && (l + 1) % a.step == 0;
  }
  if (!sparse) return mlp(m, p, a.h, a.ff);
  linear(m, p + ".gate", a.h, a.experts);
  switch_glu(m, p + ".switch_mlp", a.h, a.expert_ff, a.experts);
  mlp(m, p + ".shared_expert", a.h, a.shared_ff);
  linear(m, p + ".shared_expert_gate", a.h, 1);
}

bool ends_with(const std::string& s, const char* suffix) { return s.ends_with(suffix); }

// MLX's `v + 1.0` on a float array of v's dtype: the sum in float, rounded to that dtype.
void add_one(MlxArray& v) {
  std::vector<float> f = mlx_floats(v);
  std::string out;
  for (float x : f) {
    x += 1.0f;
    if (v.dtype == "F32") {
      out.append(reinterpret_cast<const char*>(&x), 4);
    } else if (v.dtype == "BF16") {
      std::uint32_t u = std::bit_cast<std::uint32_t>(x);
      u += 0x7FFFu + ((u >> 16) & 1u);  // round to nearest even (finite values)
      const auto h = static_cast<std::uint16_t>(u >> 16);
      out.append(reinterpret_cast<const char*>(&h), 2);
    } else {
      const auto h = std::bit_cast<std::uint16_t>(static_cast<_Float16>(x));
      out.append(reinterpret_cast<const char*>(&h), 2);
    }
  }
  v.bytes = std::move(out);
}

// The part of sanitize all three share after their own steps: qwen3_next.py Model.sanitize
// (lines 455-482, run only when its expert probe is present) and qwen3_5.py TextModel.sanitize
// (lines 348-370): drop "mtp." keys, drop lm_head.weight when tied, conv1d.weight whose last dim
// is not 1 moveaxis(2, 1), and + 1.0 on 1-D weights ending in the five norm suffixes (qwen3_5:
// only when some conv1d.weight needed the moveaxis).
void text_sanitize(std::map<std::string, MlxArray>& w, const TextArgs& a) {
  bool unsanitized_conv = false;
  for (const auto& [k, v] : w)
    unsanitized_conv = unsanitized_conv || (k.find("conv1d.weight") != std::string::npos && v.shape.back() != 1);
  std::erase_if(w, [](const auto& kv) { return kv.first.find("mtp.") != std::string::npos; });
  if (a.tied) w.erase("lm_head.weight");
  for (auto& [k, v] : w) {
    if (k.find("conv1d.weight") != std::string::npos && v.shape.size() == 3 && v.shape.back() != 1) {
      // moveaxis(2, 1) of [C, 1, K]: the same bytes as [C, K, 1] (a size-1 axis moves).
      if (v.shape[1] != 1) throw Violation("sanitize: test model has a conv1d.weight with in_channels/groups != 1");
      v.shape = {v.shape[0], v.shape[2], 1};
    }
    const bool norm_key = ends_with(k, ".input_layernorm.weight") || ends_with(k, ".post_attention_layernorm.weight") ||
                          ends_with(k, "model.norm.weight") || ends_with(k, ".q_norm.weight") ||
                          ends_with(k, ".k_norm.weight");
    if (norm_key && v.shape.size() == 1 && (a.type == "qwen3_next" || unsanitized_conv)) add_one(v);
  }
}

// qwen3_next.py Model.sanitize (lines 452-467): nothing unless layer 0's expert 0 up_proj is
// there; then every layer's experts 0..E-1 of up/down/gate_proj .weight stacked into switch_mlp
// (a KeyError when one is missing).
bool next_stack_experts(std::map<std::string, MlxArray>& w, const TextArgs& a) {
  if (!w.count("model.layers.0.mlp.experts.0.up_proj.weight")) return false;
  for (std::int64_t l = 0; l < a.layers; ++l)
    for (const char* n : {"up_proj", "down_proj", "gate_proj"}) {
      const std::string prefix = "model.layers." + std::to_string(l) + ".mlp.";
      MlxArray stacked;
      for (std::int64_t e = 0; e < a.experts; ++e) {
        const std::string key = prefix + "experts." + std::to_string(e) + "." + n + ".weight";
        const auto it = w.find(key);
        if (it == w.end()) throw Violation("sanitize: KeyError, '" + key + "' is missing");
        if (e == 0) {
          stacked = it->second;
          stacked.shape.insert(stacked.shape.begin(), a.experts);
        } else {
          stacked.bytes += it->second.bytes;
        }
        w.erase(it);
      }
      w[prefix + "switch_mlp." + n + ".weight"] = std::move(stacked);
    }
  return true;
}

// qwen3_5.py Model.sanitize (lines 427-441) and qwen3_5_moe.py Model.sanitize (lines 23-35):
// vision tower keys dropped, "model.language_model" -> "language_model.model", other keys
// without "language_model." get it as a prefix.
void wrap_names(std::map<std::string, MlxArray>& w) {
  std::map<std::string, MlxArray> out;
  for (auto& [k, v] : w) {
    if (k.starts_with("vision_tower") || k.starts_with("model.visual")) continue;
    std::string key = k;
    if (key.starts_with("model.language_model"))
      key.replace(0, std::string("model.language_model").size(), "language_model.model");
    else if (!key.starts_with("language_model."))
      key = "language_model." + key;
    out[key] = std::move(v);
  }
  w = std::move(out);
}

// qwen3_5_moe.py Model.sanitize (lines 37-50): a layer's experts.gate_up_proj [E, 2I, H] becomes
// switch_mlp.gate_proj.weight = [..., :I, :] and up_proj.weight = [..., I:, :], and
// experts.down_proj switch_mlp.down_proj.weight (a KeyError when it is missing).
void split_gate_up(std::map<std::string, MlxArray>& w, const TextArgs& a) {
  for (std::int64_t l = 0; l < a.layers; ++l) {
    const std::string prefix = "language_model.model.layers." + std::to_string(l) + ".mlp.";
    const auto it = w.find(prefix + "experts.gate_up_proj");
    if (it == w.end()) continue;
    const MlxArray gu = std::move(it->second);
    w.erase(it);
    if (gu.shape.size() != 3 || gu.dtype == "U32") throw Violation("sanitize: gate_up_proj is not a 3-D float stack");
    const std::int64_t e = gu.shape[0], mid = gu.shape[1] / 2, cols = gu.shape[2];
    const std::size_t item = gu.bytes.size() / static_cast<std::size_t>(e * gu.shape[1] * cols);
    const std::size_t half = static_cast<std::size_t>(mid * cols) * item;
    MlxArray gate{gu.dtype, {e, mid, cols}, {}}, up{gu.dtype, {e, gu.shape[1] - mid, cols}, {}};
    for (std::int64_t x = 0; x < e; ++x) {
      const std::size_t at = static_cast<std::size_t>(x) * (gu.bytes.size() / static_cast<std::size_t>(e));
      gate.bytes += gu.bytes.substr(at, half);
      up.bytes += gu.bytes.substr(at + half, gu.bytes.size() / static_cast<std::size_t>(e) - half);
    }
    w[prefix + "switch_mlp.gate_proj.weight"] = std::move(gate);
    w[prefix + "switch_mlp.up_proj.weight"] = std::move(up);
    const auto down = w.find(prefix + "experts.down_proj");
    if (down == w.end()) throw Violation("sanitize: KeyError, '" + prefix + "experts.down_proj' is missing");
    w[prefix + "switch_mlp.down_proj.weight"] = std::move(down->second);
    w.erase(down);
  }
}

}  // namespace

bool is_hybrid(const std::string& t) { return t == "qwen3_next" || t == "qwen3_5" || t == "qwen3_5_moe"; }

// qwen3_next.py Qwen3NextModel / Model (lines 392-431) and qwen3_5.py Qwen3_5TextModel / TextModel
// / Model (lines 244-251, 319-326, 406-411): embed_tokens Embedding(vocab, hidden), layers whose
// kind is (l + 1) % full_attention_interval != 0 -> linear_attn, else self_attn (layer_types is not
// read; qwen3_next.py line 360, qwen3_5.py line 213), input_layernorm / post_attention_layernorm
// RMSNorm(hidden), mlp; norm RMSNorm(hidden); lm_head Linear(hidden, vocab) unless tied.
Modules hybrid_modules(const json& config) {
  const TextArgs a = text_args(config);
  Modules m;
  m[a.prefix + "embed_tokens"] = {MlxModule::Kind::Embedding, {a.vocab, a.h}, false};
  for (std::int64_t l = 0; l < a.layers; ++l) {
    const std::string p = a.prefix + "layers." + std::to_string(l);
    if ((l + 1) % a.interval != 0)
      linear_attention(m, p + ".linear_attn", a);
    else
      full_attention(m, p + ".self_attn", a);
    norm(m, p + ".input_layernorm", a.h);
    norm(m, p + ".post_attention_layernorm", a.h);
    layer_mlp(m, p + ".mlp", l, a);
  }
  norm(m, a.prefix + "norm", a.h);
  if (!a.tied) linear(m, a.type == "qwen3_next" ? "lm_head" : "language_model.lm_head", a.h, a.vocab);
  return m;
}

void hybrid_sanitize(std::map<std::string, MlxArray>& w, const json& config) {
  const TextArgs a = text_args(config);
  if (a.type == "qwen3_next") {
    if (next_stack_experts(w, a)) text_sanitize(w, a);
    return;
  }
  wrap_names(w);
  if (a.type == "qwen3_5_moe") split_gate_up(w, a);
  text_sanitize(w, a);
}

}  // namespace ramq::testkit::mlx_rules
