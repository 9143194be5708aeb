// Validation of config.json for the Llama-family forward pass, and the rotary frequencies
// (Hugging Face ROPE_INIT_FUNCTIONS: default, linear, dynamic (within the original context),
// llama3).
#include <cmath>
#include <numbers>
#include <string>

#include "arch/gguf_metadata.h"
#include "arch/model_family.h"
#include "evaluate/llama_forward.h"
#include "ramq/error.h"
#include "read/config_fields.h"

namespace ramq::eval {

namespace {

using json = nlohmann::json;

std::string show(const json& j) { return show_json_value(j); }

using Fields = ConfigFields;

void check_rope(const Fields& f, const ModelConfig& c, int ctx, LlamaSpec& s) {
  const std::size_t half = static_cast<std::size_t>(c.head_dim / 2);
  s.inv_freq.resize(half);
  for (std::size_t i = 0; i < half; ++i)
    s.inv_freq[i] = std::pow(c.rope_theta, -2.0 * static_cast<double>(i) / static_cast<double>(c.head_dim));
  s.rope = "default";

  // GGUF files carry Llama 3 scaling as per-frequency factors (model_config_from_gguf).
  if (const json* ff = f.find(kRopeFreqFactorsKey)) {
    if (!ff->is_array() || ff->size() != half) f.fail(kRopeFreqFactorsKey, "must hold head_dim / 2 numbers");
    for (std::size_t i = 0; i < half; ++i) s.inv_freq[i] /= (*ff)[i].get<double>();
    s.rope = "frequency factors (rope_freqs.weight)";
    return;
  }

  std::string field = "rope_scaling";
  const json* sc = f.find("rope_scaling");
  if (sc == nullptr) {
    field = "rope_parameters";
    sc = f.find("rope_parameters");
  }
  if (sc == nullptr) return;
  if (!sc->is_object()) f.fail(field, "must be an object, got " + show(*sc));
  std::string type = "default";
  for (const char* key : {"rope_type", "type"}) {
    const auto it = sc->find(key);
    if (it == sc->end() || it->is_null()) continue;
    if (!it->is_string()) f.fail(field + "." + key, "must be a string, got " + show(*it));
    type = it->get<std::string>();
    break;
  }
  if (const auto it = sc->find("partial_rotary_factor"); it != sc->end() && it->is_number() && it->get<double>() != 1.0)
    f.fail(field + ".partial_rotary_factor", "is not supported by the evaluator (only full rotary embeddings)");
  if (type == "default") return;
  if (type == "linear") {
    const double factor = f.positive_number(*sc, field, "factor");
    for (auto& v : s.inv_freq) v /= factor;
    s.rope = "linear x" + show((*sc)["factor"]);
    return;
  }
  if (type == "dynamic") {
    // Dynamic NTK scaling changes nothing while the sequence fits the original context.
    if (ctx > c.max_position_embeddings)
      f.fail(field + ".rope_type", "'dynamic' is supported only for windows within max_position_embeddings (" +
                                       std::to_string(c.max_position_embeddings) + "), not ctx " +
                                       std::to_string(ctx));
    s.rope = "dynamic (inactive)";
    return;
  }
  if (type == "llama3") {
    const double factor = f.positive_number(*sc, field, "factor");
    const double low = f.positive_number(*sc, field, "low_freq_factor");
    const double high = f.positive_number(*sc, field, "high_freq_factor");
    const double old_ctx = f.positive_number(*sc, field, "original_max_position_embeddings");
    if (!(high > low)) f.fail(field + ".high_freq_factor", "must be larger than low_freq_factor");
    const double low_wavelen = old_ctx / low;
    const double high_wavelen = old_ctx / high;
    for (auto& v : s.inv_freq) {
      const double wavelen = 2.0 * std::numbers::pi / v;
      if (wavelen > low_wavelen) {
        v /= factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth = (old_ctx / wavelen - low) / (high - low);
        v = (1.0 - smooth) * v / factor + smooth * v;
      }
    }
    s.rope = "llama3 x" + show((*sc)["factor"]);
    return;
  }
  f.fail(field + ".rope_type",
         "is '" + type + "': the evaluator supports rope scaling default, linear, llama3 and dynamic (within the "
                         "original context) only");
}

}  // namespace

LlamaSpec llama_spec(const ModelConfig& c, const std::string& file, int ctx) {
  const Fields f(c.raw, file);
  LlamaSpec s;
  s.model_type = c.model_type;
  const ModelFamily* family = find_family(s.model_type);
  if (family == nullptr)
    f.fail("model_type", "is '" + s.model_type + "': the evaluator supports Llama-family decoders only (" +
                             supported_model_types() + ")");
  for (const char* act : {"hidden_act", "hidden_activation"})
    if (const json* j = f.find(act); j != nullptr && !(j->is_string() && j->get<std::string>() == "silu"))
      f.fail(act, "is " + show(*j) + ": only 'silu' is supported");
  for (const char* moe : {"num_local_experts", "num_experts", "n_routed_experts", "num_experts_per_tok"})
    if (const json* j = f.find(moe); j != nullptr && !(j->is_number() && j->get<double>() == 0))
      f.fail(moe, "is " + show(*j) + ": mixture-of-experts models are not supported by the evaluator");
  if (const json* j = f.find("partial_rotary_factor"); j != nullptr && !(j->is_number() && j->get<double>() == 1.0))
    f.fail("partial_rotary_factor", "is " + show(*j) + ": only full rotary embeddings are supported");

  // Sliding-window attention equals full attention while the window covers the whole context.
  bool sliding = family->sliding_window_flag ? f.flag("use_sliding_window", false) : true;
  if (const json* lt = f.find("layer_types"); lt != nullptr && lt->is_array())
    for (const auto& t : *lt)
      if (!(t.is_string() && t.get<std::string>() == "full_attention")) sliding = true;
  if (const json* sw = f.find("sliding_window"); sliding && sw != nullptr) {
    if (!sw->is_number_integer()) f.fail("sliding_window", "must be an integer or null, got " + show(*sw));
    if (sw->get<std::int64_t>() < ctx)
      f.fail("sliding_window", "is " + show(*sw) + ", shorter than the evaluation window (" + std::to_string(ctx) +
                                   "): sliding-window attention is not supported by the evaluator");
  }

  if (c.head_dim % 2 != 0) f.fail("head_dim", "must be even for rotary embeddings, got " + std::to_string(c.head_dim));
  s.hidden = c.hidden_size;
  s.intermediate = c.intermediate_size;
  s.layers = c.num_hidden_layers;
  s.heads = c.num_attention_heads;
  s.kv_heads = c.num_key_value_heads;
  s.head_dim = c.head_dim;
  s.vocab = c.vocab_size;
  s.rms_eps = c.rms_norm_eps;
  s.tie_word_embeddings = c.tie_word_embeddings;
  s.attention_bias = f.flag("attention_bias", false);
  s.mlp_bias = f.flag("mlp_bias", false);
  s.qkv_bias = family->qkv_bias;
  s.qk_norm = family->qk_norm;
  check_rope(f, c, ctx, s);
  return s;
}

}  // namespace ramq::eval
