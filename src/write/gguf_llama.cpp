// Llama-family specifics of GGUF output: architecture, tensor names, ne order, the q/k row
// permutation, general.* / [arch].* metadata and the file type.
#include "ramq/gguf_llama.h"

#include <array>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string_view>

#include "ramq/error.h"

namespace ramq {

namespace {

using json = nlohmann::json;

// Per-block tensors: Hugging Face suffix after "model.layers.N." and llama.cpp suffix after "blk.N.".
struct BlockName {
  std::string_view hf, gguf;
};
constexpr std::array<BlockName, 18> kBlockNames{{
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.o_proj.bias", "attn_output.bias"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.gate_proj.bias", "ffn_gate.bias"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.up_proj.bias", "ffn_up.bias"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"mlp.down_proj.bias", "ffn_down.bias"},
}};
struct GlobalName {
  std::string_view hf, gguf;
};
constexpr std::array<GlobalName, 3> kGlobalNames{{
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
}};

// "12." at the start of s -> 12 (and s advanced past the dot); nullopt if not a plain number.
std::optional<std::int64_t> take_index(std::string_view& s) {
  std::size_t i = 0;
  std::int64_t n = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i < 9) n = n * 10 + (s[i++] - '0');
  if (i == 0 || i >= s.size() || s[i] != '.' || (i > 1 && s[0] == '0')) return std::nullopt;
  s.remove_prefix(i + 1);
  return n;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

}  // namespace

GgufArch gguf_arch_for(const ModelConfig& cfg, const std::string& config_file) {
  const std::string& t = cfg.model_type;
  if (t == "llama" || t == "mistral") return {"llama", true};
  if (t == "qwen2") return {"qwen2", false};
  if (t == "qwen3") return {"qwen3", false};
  throw Error(config_file, "",
              "model_type '" + t + "' is not supported for GGUF output (supported: llama, mistral, qwen2, qwen3)");
}

std::string hf_to_gguf_tensor_name(const std::string& hf_name, const std::string& file) {
  for (const auto& g : kGlobalNames)
    if (hf_name == g.hf) return std::string(g.gguf);
  std::string_view s = hf_name;
  if (starts_with(s, "model.layers.")) {
    s.remove_prefix(13);
    if (const auto n = take_index(s)) {
      if (s == "self_attn.rotary_emb.inv_freq") return "";
      for (const auto& b : kBlockNames)
        if (s == b.hf) return "blk." + std::to_string(*n) + "." + std::string(b.gguf);
    }
  }
  throw Error(file, hf_name, "has no llama.cpp counterpart (not a tensor of a Llama/Mistral/Qwen2/Qwen3 model)");
}

std::optional<std::string> gguf_to_hf_tensor_name(const std::string& gguf_name) {
  for (const auto& g : kGlobalNames)
    if (gguf_name == g.gguf) return std::string(g.hf);
  std::string_view s = gguf_name;
  if (!starts_with(s, "blk.")) return std::nullopt;
  s.remove_prefix(4);
  const auto n = take_index(s);
  if (!n) return std::nullopt;
  for (const auto& b : kBlockNames)
    if (s == b.gguf) return "model.layers." + std::to_string(*n) + "." + std::string(b.hf);
  return std::nullopt;
}

std::vector<std::int64_t> gguf_ne_from_shape(const std::vector<std::int64_t>& shape) {
  return {shape.rbegin(), shape.rend()};
}
std::vector<std::int64_t> shape_from_gguf_ne(const std::vector<std::int64_t>& ne) { return {ne.rbegin(), ne.rend()}; }

namespace {

void check_permute_args(std::int64_t rows, std::int64_t cols, std::int64_t n_head) {
  if (n_head <= 0 || rows <= 0 || cols < 0 || rows % (2 * n_head) != 0)
    throw std::invalid_argument("q/k permutation: " + std::to_string(rows) + " rows cannot be split into " +
                                std::to_string(n_head) + " heads of an even size");
}

// out row dst_row(r) = in row src_row(r) for the forward permutation.
template <bool kInverse>
void permute_rows(const float* src, float* dst, std::int64_t rows, std::int64_t cols, std::int64_t n_head) {
  check_permute_args(rows, cols, n_head);
  const std::int64_t hd = rows / n_head, half = hd / 2;
  for (std::int64_t h = 0; h < n_head; ++h)
    for (std::int64_t i = 0; i < half; ++i)
      for (std::int64_t j = 0; j < 2; ++j) {
        const std::int64_t interleaved = h * hd + 2 * i + j, split = h * hd + j * half + i;
        const std::int64_t to = kInverse ? split : interleaved, from = kInverse ? interleaved : split;
        std::copy(src + from * cols, src + (from + 1) * cols, dst + to * cols);
      }
}

}  // namespace

void llama_permute_qk(const float* src, float* dst, std::int64_t rows, std::int64_t cols, std::int64_t n_head) {
  permute_rows<false>(src, dst, rows, cols, n_head);
}
void llama_unpermute_qk(const float* src, float* dst, std::int64_t rows, std::int64_t cols, std::int64_t n_head) {
  permute_rows<true>(src, dst, rows, cols, n_head);
}

std::int64_t qk_permute_heads(const GgufArch& arch, const ModelConfig& cfg, const std::string& hf_name) {
  if (!arch.permute_qk) return 0;
  const auto ends = [&](std::string_view suf) {
    return hf_name.size() >= suf.size() && std::string_view(hf_name).substr(hf_name.size() - suf.size()) == suf;
  };
  if (ends(".self_attn.q_proj.weight") || ends(".self_attn.q_proj.bias")) return cfg.num_attention_heads;
  if (ends(".self_attn.k_proj.weight") || ends(".self_attn.k_proj.bias")) return cfg.num_key_value_heads;
  return 0;
}

// ---- metadata -----------------------------------------------------------------------------

std::uint32_t llama_file_type(const std::map<GgmlType, std::int64_t>& params_by_type) {
  for (const bool want_quant : {true, false}) {
    std::optional<GgmlType> best;
    std::int64_t best_n = 0;
    for (const auto& info : ggml_types()) {
      if (info.is_float() == want_quant) continue;
      const auto it = params_by_type.find(info.type);
      if (it != params_by_type.end() && it->second > best_n) best = info.type, best_n = it->second;
    }
    if (best) return ggml_type_info(*best).file_type;
  }
  return 0;
}

std::optional<std::uint32_t> llama_mix_file_type(const std::string& mix) {
  if (mix == "Q3_K_M") return 12;  // LLAMA_FTYPE_MOSTLY_Q3_K_M
  if (mix == "Q4_K_M") return 15;  // LLAMA_FTYPE_MOSTLY_Q4_K_M
  if (mix == "Q5_K_M") return 17;  // LLAMA_FTYPE_MOSTLY_Q5_K_M
  if (mix == "Q6_K") return 18;    // LLAMA_FTYPE_MOSTLY_Q6_K
  if (mix == "Q8_0") return 7;     // LLAMA_FTYPE_MOSTLY_Q8_0
  return std::nullopt;
}

namespace {

// rope_scaling fields, checked (nlohmann's value() would throw its own type_error on a mistyped one).
std::string rope_type_of(const json& rs, const std::string& file) {
  for (const char* key : {"rope_type", "type"}) {
    const auto it = rs.find(key);
    if (it == rs.end() || it->is_null()) continue;
    if (!it->is_string()) throw Error(file, "", std::string("rope_scaling.") + key + " must be a string");
    return it->get<std::string>();
  }
  return "";
}
double rope_number(const json& rs, const char* key, double dflt, const std::string& file) {
  const auto it = rs.find(key);
  if (it == rs.end() || it->is_null()) return dflt;
  if (!it->is_number() || !(it->get<double>() > 0) || !std::isfinite(it->get<double>()))
    throw Error(file, "", std::string("rope_scaling.") + key + " must be a positive number");
  return it->get<double>();
}

}  // namespace

std::optional<std::vector<float>> llama3_rope_factors(const ModelConfig& cfg) {
  const auto it = cfg.raw.find("rope_scaling");
  if (it == cfg.raw.end() || !it->is_object()) return std::nullopt;
  const json& rs = *it;
  const std::string file = "config.json";  // llama_gguf_metadata has checked these fields with the full path
  const std::string type = rope_type_of(rs, file);
  if (type != "llama3") return std::nullopt;
  const double base = cfg.rope_theta, factor = rope_number(rs, "factor", 8.0, file);
  const double low = rope_number(rs, "low_freq_factor", 1.0, file), high = rope_number(rs, "high_freq_factor", 4.0, file);
  const double old_ctx = rope_number(rs, "original_max_position_embeddings", 8192.0, file);
  const double low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;
  std::vector<float> out;
  for (std::int64_t i = 0; i < cfg.head_dim; i += 2) {
    const double freq = 1.0 / std::pow(base, static_cast<double>(i) / static_cast<double>(cfg.head_dim));
    const double wavelen = 2 * std::numbers::pi / freq;
    double f = 1.0;
    if (wavelen > low_wavelen) {
      f = factor;
    } else if (wavelen >= high_wavelen && high != low) {
      const double smooth = (old_ctx / wavelen - low) / (high - low);
      f = 1.0 / ((1 - smooth) / factor + smooth);
    }
    out.push_back(static_cast<float>(f));
  }
  return out;
}

std::vector<GgufKV> llama_gguf_metadata(const ModelConfig& cfg, const GgufArch& arch, const std::string& model_name,
                                        std::uint32_t file_type, std::int64_t n_vocab, const std::string& config_file) {
  const auto u32 = [&](std::int64_t v, const char* what) {
    if (v < 0 || v > 0xffffffffLL) throw Error(config_file, "", std::string(what) + " does not fit in uint32");
    return GgufValue::u32(static_cast<std::uint32_t>(v));
  };
  const std::string a = arch.name + ".";
  std::vector<GgufKV> kv{
      {"general.architecture", GgufValue::str(arch.name)},
      {"general.type", GgufValue::str("model")},
      {"general.name", GgufValue::str(model_name)},
      {"general.alignment", GgufValue::u32(32)},
      {"general.file_type", GgufValue::u32(file_type)},
      {"general.quantization_version", GgufValue::u32(2)},
      {a + "vocab_size", u32(n_vocab, "vocab_size")},
      {a + "context_length", u32(cfg.max_position_embeddings, "max_position_embeddings")},
      {a + "embedding_length", u32(cfg.hidden_size, "hidden_size")},
      {a + "block_count", u32(cfg.num_hidden_layers, "num_hidden_layers")},
      {a + "feed_forward_length", u32(cfg.intermediate_size, "intermediate_size")},
      {a + "attention.head_count", u32(cfg.num_attention_heads, "num_attention_heads")},
      {a + "attention.head_count_kv", u32(cfg.num_key_value_heads, "num_key_value_heads")},
      {a + "attention.key_length", u32(cfg.head_dim, "head_dim")},
      {a + "attention.value_length", u32(cfg.head_dim, "head_dim")},
      {a + "rope.dimension_count", u32(cfg.head_dim, "head_dim")},
      {a + "rope.freq_base", GgufValue::f32(static_cast<float>(cfg.rope_theta))},
      {a + "attention.layer_norm_rms_epsilon", GgufValue::f32(static_cast<float>(cfg.rms_norm_eps))},
  };
  const auto it = cfg.raw.find("rope_scaling");
  if (it != cfg.raw.end() && it->is_object()) {
    const json& rs = *it;
    const std::string type = rope_type_of(rs, config_file);
    const auto factor = [&] {
      const auto f = rs.find("factor");
      if (f == rs.end() || !f->is_number() || !(f->get<double>() > 0))
        throw Error(config_file, "", "rope_scaling of type '" + type + "' needs a positive 'factor'");
      return GgufValue::f32(static_cast<float>(f->get<double>()));
    };
    if (type == "linear") {
      kv.push_back({a + "rope.scaling.type", GgufValue::str("linear")});
      kv.push_back({a + "rope.scaling.factor", factor()});
    } else if (type == "yarn") {
      kv.push_back({a + "rope.scaling.type", GgufValue::str("yarn")});
      kv.push_back({a + "rope.scaling.factor", factor()});
      const auto orig = rs.find("original_max_position_embeddings");
      if (orig != rs.end() && orig->is_number_integer())
        kv.push_back({a + "rope.scaling.original_context_length", u32(orig->get<std::int64_t>(), "rope_scaling")});
    } else if (type == "llama3") {
      if (arch.name != "llama")
        throw Error(config_file, "", "rope_scaling 'llama3' is only supported for Llama models");
      for (const char* key : {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"})
        rope_number(rs, key, 1.0, config_file);
      // Written as the rope_freqs.weight tensor (llama3_rope_factors).
    } else if (!type.empty() && type != "default") {
      throw Error(config_file, "", "rope_scaling type '" + type + "' is not supported for GGUF output");
    }
  }
  return kv;
}

ModelConfig model_config_from_gguf(const GgufReader& gguf, const std::string& file) {
  const auto get = [&](const std::string& key) -> const GgufValue& {
    const GgufValue* v = gguf.find(key);
    if (!v) throw Error(file, "", "metadata key '" + key + "' is missing");
    return *v;
  };
  const auto uint = [&](const std::string& key) -> std::int64_t {
    const GgufValue& v = get(key);
    if (const auto* u = std::get_if<std::uint64_t>(&v.v); u && *u > 0 && *u <= 0x7fffffffu) return static_cast<std::int64_t>(*u);
    if (const auto* i = std::get_if<std::int64_t>(&v.v); i && *i > 0 && *i <= 0x7fffffff) return *i;
    throw Error(file, "", "metadata key '" + key + "' is not a positive integer");
  };
  const auto real = [&](const std::string& key, double dflt) {
    const GgufValue* v = gguf.find(key);
    if (!v) return dflt;
    const auto* d = std::get_if<double>(&v->v);
    if (!d || !std::isfinite(*d) || *d <= 0) throw Error(file, "", "metadata key '" + key + "' is not a positive float");
    return *d;
  };
  const GgufValue& arch_v = get("general.architecture");
  const auto* arch = std::get_if<std::string>(&arch_v.v);
  if (!arch || (*arch != "llama" && *arch != "qwen2" && *arch != "qwen3"))
    throw Error(file, "", "general.architecture is not one of llama, qwen2, qwen3");
  const std::string a = *arch + ".";
  ModelConfig c;
  c.model_type = *arch;
  c.architecture = *arch == "llama" ? "LlamaForCausalLM" : *arch == "qwen2" ? "Qwen2ForCausalLM" : "Qwen3ForCausalLM";
  c.hidden_size = uint(a + "embedding_length");
  c.intermediate_size = uint(a + "feed_forward_length");
  c.num_hidden_layers = uint(a + "block_count");
  c.num_attention_heads = uint(a + "attention.head_count");
  c.num_key_value_heads = gguf.find(a + "attention.head_count_kv") ? uint(a + "attention.head_count_kv") : c.num_attention_heads;
  c.head_dim = gguf.find(a + "attention.key_length") ? uint(a + "attention.key_length") : c.hidden_size / c.num_attention_heads;
  c.max_position_embeddings = uint(a + "context_length");
  c.rms_norm_eps = real(a + "attention.layer_norm_rms_epsilon", 1e-6);
  c.rope_theta = real(a + "rope.freq_base", 10000.0);
  c.tie_word_embeddings = gguf.find_tensor("output.weight") == nullptr;
  if (gguf.find(a + "vocab_size")) {
    c.vocab_size = uint(a + "vocab_size");
  } else if (const GgufValue* t = gguf.find("tokenizer.ggml.tokens"); t && t->type == GgufValueType::ARRAY) {
    c.vocab_size = static_cast<std::int64_t>(std::get<std::shared_ptr<GgufArray>>(t->v)->items.size());
  } else if (const GgufTensorInfo* e = gguf.find_tensor("token_embd.weight"); e && e->ne.size() == 2) {
    c.vocab_size = e->ne[1];
  } else {
    throw Error(file, "", "cannot tell the vocabulary size (no vocab_size, tokens or token_embd.weight)");
  }
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    throw Error(file, "", "head_count_kv does not divide head_count");
  check_model_config_limits(c, file);
  c.raw = {{"architectures", {c.architecture}}, {"model_type", c.model_type}, {"hidden_size", c.hidden_size},
           {"intermediate_size", c.intermediate_size}, {"num_hidden_layers", c.num_hidden_layers},
           {"num_attention_heads", c.num_attention_heads}, {"num_key_value_heads", c.num_key_value_heads},
           {"head_dim", c.head_dim}, {"vocab_size", c.vocab_size}, {"max_position_embeddings", c.max_position_embeddings},
           {"rms_norm_eps", c.rms_norm_eps}, {"rope_theta", c.rope_theta}, {"tie_word_embeddings", c.tie_word_embeddings}};
  // Rope scaling: linear (and any other type, which the evaluator refuses) from the metadata;
  // Llama 3's frequency factors from the rope_freqs.weight tensor, as llama.cpp reads them.
  if (const GgufValue* t = gguf.find(a + "rope.scaling.type")) {
    const auto* type = std::get_if<std::string>(&t->v);
    if (!type) throw Error(file, "", "metadata key '" + a + "rope.scaling.type' is not a string");
    if (*type == "linear") {
      c.raw["rope_scaling"] = {{"rope_type", "linear"}, {"factor", real(a + "rope.scaling.factor", 1.0)}};
    } else if (*type != "none") {
      c.raw["rope_scaling"] = {{"rope_type", *type}};
    }
  }
  if (const GgufTensorInfo* rf = gguf.find_tensor("rope_freqs.weight")) {
    if (rf->ne.size() != 1 || rf->ne[0] != c.head_dim / 2)
      throw Error(file, "rope_freqs.weight", "must hold head_dim / 2 = " + std::to_string(c.head_dim / 2) + " values");
    const std::vector<float> f = gguf.load_f32(*rf);
    for (const float v : f)
      if (!(v > 0.0f) || !std::isfinite(v)) throw Error(file, "rope_freqs.weight", "holds a factor that is not positive");
    c.raw[kRopeFreqFactorsKey] = f;
  }
  return c;
}

}  // namespace ramq
