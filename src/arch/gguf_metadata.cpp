// general.* and [arch].* GGUF metadata of a model family, both ways: written from config.json
// for llama.cpp, and read back into a ModelConfig for the evaluator (arch/gguf_metadata.h).
#include "ramq/gguf_metadata.h"

#include "arch/hybrid_decoder.h"

#include <cmath>
#include <functional>
#include <numbers>

#include "arch/gguf_hybrid_config.h"
#include "ramq/family_config.h"
#include "ramq/longrope.h"
#include "ramq/gemma3_config.h"
#include "ramq/error.h"

namespace ramq {

namespace {

using json = nlohmann::json;

GgufValue u32_field(std::int64_t v, const char* what, const std::string& config_file) {
  if (v < 0 || v > 0xffffffffLL) throw Error(config_file, "", std::string(what) + " does not fit in uint32");
  return GgufValue::u32(static_cast<std::uint32_t>(v));
}

// config.json's rope scaling (rope_scaling, else its successor rope_parameters, as the
// evaluator reads it) as llama.cpp reads it: [arch].rope.scaling.* for linear and yarn, the
// rope_freqs.weight tensor for llama3 (llama3_rope_factors).
void append_rope_scaling(std::vector<GgufKV>& kv, const ModelConfig& cfg, const ModelFamily& family,
                         const std::string& a, const std::string& config_file) {
  const ConfigFields f(cfg.raw, config_file);
  const auto rope = read_rope(f);
  if (!rope || rope->type == "default") return;
  if (is_longrope_type(rope->type) && family.phi3_rope) return;  // append_phi3_rope
  if (rope->type == "linear" || rope->type == "yarn") {
    kv.push_back({a + "rope.scaling.type", GgufValue::str(rope->type)});
    kv.push_back({a + "rope.scaling.factor", GgufValue::f32(static_cast<float>(rope->required(f, "factor")))});
    const auto orig = rope->integer("original_max_position_embeddings");
    if (rope->type == "yarn" && orig)
      kv.push_back({a + "rope.scaling.original_context_length", u32_field(*orig, rope->field.c_str(), config_file)});
  } else if (rope->type == "llama3") {
    if (!family.llama3_rope)
      throw Error(config_file, "", rope->field + " 'llama3' is only supported for Llama models");
    for (const char* key : {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"})
      rope->number(f, key);
  } else {
    throw Error(config_file, "", rope->field + " type '" + rope->type + "' is not supported for GGUF output");
  }
}

// [arch].expert_* keys as llama.cpp's converter writes them; refuses a routing llama.cpp's graph
// would not compute.
void append_experts(std::vector<GgufKV>& kv, const ModelConfig& cfg, const ModelFamily& family, const std::string& a,
                    const std::string& config_file) {
  if (family.moe == nullptr) return;
  const ConfigFields f(cfg.raw, config_file);
  const MoeFields m = read_moe_fields(f, *family.moe);
  if (m.norm_topk != family.moe->gguf_norm_topk)
    f.fail("norm_topk_prob", std::string("is ") + (m.norm_topk ? "true" : "false") + " but llama.cpp's " +
                                 std::string(family.gguf_architecture) + " architecture " +
                                 (family.moe->gguf_norm_topk ? "always" : "never") +
                                 " renormalises the top-k routing weights: a GGUF file would compute another model");
  const auto u32 = [&](std::int64_t v, const char* what) { return u32_field(v, what, config_file); };
  kv.push_back({a + "expert_count", u32(m.experts, "expert count")});
  kv.push_back({a + "expert_used_count", u32(m.experts_per_token, "num_experts_per_tok")});
  if (family.moe->expert_ff_field != "intermediate_size")
    kv.push_back({a + "expert_feed_forward_length", u32(m.expert_ff, "expert intermediate size")});
  if (m.shared_ff > 0)
    kv.push_back({a + "expert_shared_feed_forward_length", u32(m.shared_ff, "shared expert intermediate size")});
}

// The MoE fields of a config.json from a GGUF file's [arch].expert_* keys (llama.cpp's fixed
// top-k normalisation as norm_topk_prob).
void read_experts(const GgufReader& gguf, const ModelFamily& family, const std::string& a,
                  const std::function<std::int64_t(const std::string&)>& uint, ModelConfig& c) {
  if (family.moe == nullptr) return;
  const MoeLayout& moe = *family.moe;
  c.raw[std::string(moe.experts_field)] = uint(a + "expert_count");
  c.raw["num_experts_per_tok"] = uint(a + "expert_used_count");
  if (moe.expert_ff_field != "intermediate_size")
    c.raw[std::string(moe.expert_ff_field)] = uint(a + "expert_feed_forward_length");
  if (!moe.shared_ff_field.empty())
    c.raw[std::string(moe.shared_ff_field)] = gguf.find(a + "expert_shared_feed_forward_length")
                                                  ? uint(a + "expert_shared_feed_forward_length")
                                                  : c.intermediate_size;  // llama.cpp's default
  c.raw["norm_topk_prob"] = moe.gguf_norm_topk;
}

// Phi-3's keys as llama.cpp's Phi3MiniModel converter writes them: the rotary width, the
// original context (llama.cpp picks the long factors beyond it), sliding_window (0 when null:
// llama.cpp's phi3 graph disables sliding-window attention anyway), and longrope's attention
// factor (its factor tensors: phi3_rope_factor_tensors).
void append_phi3_rope(std::vector<GgufKV>& kv, const ModelConfig& cfg, const std::string& a,
                      const std::string& config_file) {
  const ConfigFields f(cfg.raw, config_file);
  kv.push_back({a + "rope.dimension_count", u32_field(cfg.head_dim, "head_dim", config_file)});
  const std::int64_t orig = original_context_length(f).value_or(cfg.max_position_embeddings);
  kv.push_back({a + "rope.scaling.original_context_length", u32_field(orig, "original_max_position_embeddings", config_file)});
  const json* sw = f.find("sliding_window");
  const std::int64_t window = sw != nullptr && sw->is_number_integer() ? sw->get<std::int64_t>() : 0;
  kv.push_back({a + "attention.sliding_window", u32_field(window, "sliding_window", config_file)});
  if (const auto lr = read_longrope(f, cfg))
    kv.push_back({a + "rope.scaling.attn_factor", GgufValue::f32(static_cast<float>(lr->attention_factor))});
}

// Phi-3's longrope written back into config.json's form from the factor tensors and keys.
void read_phi3_rope(const GgufReader& gguf, const std::string& a, const std::string& file, ModelConfig& c) {
  const GgufTensorInfo* lf = gguf.find_tensor("rope_factors_long.weight");
  const GgufTensorInfo* sf = gguf.find_tensor("rope_factors_short.weight");
  const GgufValue* orig = gguf.find(a + "rope.scaling.original_context_length");
  if (orig != nullptr)
    if (const auto* u = std::get_if<std::uint64_t>(&orig->v)) c.raw["original_max_position_embeddings"] = *u;
  if (lf == nullptr && sf == nullptr) return;
  if (lf == nullptr || sf == nullptr)
    throw Error(file, lf == nullptr ? "rope_factors_long.weight" : "rope_factors_short.weight",
                "is missing (longrope needs both factor tensors)");
  json rope = {{"rope_type", "longrope"}};
  for (const GgufTensorInfo* t : {lf, sf}) {
    if (t->ne.size() != 1 || t->ne[0] != c.head_dim / 2)
      throw Error(file, t->name, "must hold head_dim / 2 = " + std::to_string(c.head_dim / 2) + " values");
    rope[t == lf ? "long_factor" : "short_factor"] = gguf.load_f32(*t);
  }
  const GgufValue* af = gguf.find(a + "rope.scaling.attn_factor");
  const auto* d = af != nullptr ? std::get_if<double>(&af->v) : nullptr;
  rope["attention_factor"] = d != nullptr ? *d : 1.0;
  c.raw["rope_scaling"] = rope;
}

}  // namespace

std::optional<std::vector<float>> llama3_rope_factors(const ModelConfig& cfg) {
  const ConfigFields fields(cfg.raw, "config.json");  // llama_gguf_metadata has checked them with the full path
  const auto rope = read_rope(fields);
  if (!rope || rope->type != "llama3") return std::nullopt;
  const double base = cfg.rope_theta, factor = rope->number(fields, "factor").value_or(8.0);
  const double low = rope->number(fields, "low_freq_factor").value_or(1.0);
  const double high = rope->number(fields, "high_freq_factor").value_or(4.0);
  const double old_ctx = rope->number(fields, "original_max_position_embeddings").value_or(8192.0);
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

std::vector<GgufKV> llama_gguf_metadata(const ModelConfig& cfg, const ModelFamily& family, const std::string& model_name,
                                        std::uint32_t file_type, std::int64_t n_vocab, const std::string& config_file) {
  const auto u32 = [&](std::int64_t v, const char* what) { return u32_field(v, what, config_file); };
  const std::string arch(family.gguf_architecture), a = arch + ".";
  // The keys llama.cpp's converter writes for the family (conversion/base.py TextModel and
  // llama.py LlamaModel `set_gguf_parameters`), no more: general.alignment stays at its default,
  // and key/value_length appear only when config.json gives head_dim.
  std::vector<GgufKV> kv{
      {"general.architecture", GgufValue::str(arch)},
      {"general.type", GgufValue::str("model")},
      {"general.name", GgufValue::str(model_name)},
      {"general.file_type", GgufValue::u32(file_type)},
      {"general.quantization_version", GgufValue::u32(2)},
  };
  if (family.gguf_vocab_and_rope_keys) kv.push_back({a + "vocab_size", u32(n_vocab, "vocab_size")});
  kv.insert(kv.end(), {
      {a + "context_length", u32(cfg.max_position_embeddings, "max_position_embeddings")},
      {a + "embedding_length", u32(cfg.hidden_size, "hidden_size")},
      {a + "block_count", u32(cfg.num_hidden_layers, "num_hidden_layers")},
  });
  // Qwen3.5-MoE has no dense width; the converter then leaves the key out.
  if (cfg.intermediate_size > 0 || !family.hybrid_attention)
    kv.push_back({a + "feed_forward_length", u32(cfg.intermediate_size, "intermediate_size")});
  kv.insert(kv.end(), {
      {a + "attention.head_count", u32(cfg.num_attention_heads, "num_attention_heads")},
      {a + "attention.head_count_kv", u32(cfg.num_key_value_heads, "num_key_value_heads")},
  });
  if (const auto hd = cfg.raw.find("head_dim"); (hd != cfg.raw.end() && !hd->is_null()) ||
                                                 cfg.head_dim * cfg.num_attention_heads != cfg.hidden_size ||
                                                 family.hybrid_attention || family.gemma) {
    kv.push_back({a + "attention.key_length", u32(cfg.head_dim, "head_dim")});
    kv.push_back({a + "attention.value_length", u32(cfg.head_dim, "head_dim")});
  }
  if (family.gguf_vocab_and_rope_keys) kv.push_back({a + "rope.dimension_count", u32(cfg.head_dim, "head_dim")});
  kv.insert(kv.end(), {
      {a + "rope.freq_base", GgufValue::f32(static_cast<float>(cfg.rope_theta))},
      {a + "attention.layer_norm_rms_epsilon", GgufValue::f32(static_cast<float>(cfg.rms_norm_eps))},
  });
  append_experts(kv, cfg, family, a, config_file);
  append_rope_scaling(kv, cfg, family, a, config_file);
  if (family.phi3_rope) append_phi3_rope(kv, cfg, a, config_file);
  if (family.hybrid_attention) append_hybrid_gguf_metadata(family, cfg, config_file, kv);
  if (family.gemma) append_gemma3_gguf_metadata(cfg, config_file, kv);
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
  const bool experts = arch && gguf.find(*arch + ".expert_count") != nullptr;
  const ModelFamily* family = arch ? find_gguf_family(*arch, experts) : nullptr;
  if (!family) throw Error(file, "", "general.architecture is not one of " + supported_gguf_architectures());
  if ((family->moe != nullptr) != experts)
    throw Error(file, "", "general.architecture '" + *arch + "' " + (experts ? "has no" : "needs") +
                              " experts, but the metadata " + (experts ? "counts some" : "has no expert_count"));
  const std::string a = *arch + ".";
  ModelConfig c;
  c.model_type = std::string(family->model_types.front());
  c.architecture = family->hf_architecture;
  c.hidden_size = uint(a + "embedding_length");
  // Mixtures of experts without a dense MLP (qwen35moe) may leave it out.
  const bool no_dense_mlp = family->moe != nullptr && gguf.find(a + "feed_forward_length") == nullptr;
  c.intermediate_size = no_dense_mlp ? 0 : uint(a + "feed_forward_length");
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
  read_experts(gguf, *family, a, uint, c);
  if (family->hybrid_attention) read_hybrid_gguf_fields(gguf, a, uint, file, c);
  if (family->gemma) read_gemma3_gguf_fields(gguf, a, uint, c);
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
  if (family->phi3_rope) read_phi3_rope(gguf, a, file, c);
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
