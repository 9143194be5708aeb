// Validation of config.json for the Llama-family forward pass, and the rotary frequencies
// (Hugging Face ROPE_INIT_FUNCTIONS: default, linear, dynamic (within the original context),
// llama3).
#include <cmath>
#include <numbers>
#include <string>

#include "ramq/family_config.h"
#include "ramq/gguf_metadata.h"
#include "ramq/longrope.h"
#include "ramq/model_family.h"
#include "evaluate/llama_forward.h"
#include "ramq/error.h"
#include "ramq/config_fields.h"

namespace ramq::eval {

namespace {

using json = nlohmann::json;

std::string show(const json& j) { return show_json_value(j); }

using Fields = ConfigFields;

// Llama 3's rule: low frequencies divided by factor, high ones kept, a blend in between.
void apply_llama3_rope(const Fields& f, const RopeScaling& rope, LlamaSpec& s) {
  const double factor = rope.required(f, "factor");
  const double low = rope.required(f, "low_freq_factor");
  const double high = rope.required(f, "high_freq_factor");
  const double old_ctx = rope.required(f, "original_max_position_embeddings");
  if (!(high > low)) f.fail(rope.field + ".high_freq_factor", "must be larger than low_freq_factor");
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
  s.rope = "llama3 x" + show(rope.object->at("factor"));
}

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

  const auto rope = read_rope(f);
  if (!rope) return;
  if (const auto pr = rope->number(f, "partial_rotary_factor"); pr && *pr != 1.0)
    f.fail(rope->field + ".partial_rotary_factor", "is not supported by the evaluator (only full rotary embeddings)");
  const std::string& type = rope->type;
  if (type == "default") return;
  if (type == "linear") {
    const double factor = rope->required(f, "factor");
    for (auto& v : s.inv_freq) v /= factor;
    s.rope = "linear x" + show(rope->object->at("factor"));
    return;
  }
  if (type == "dynamic") {
    // Dynamic NTK scaling changes nothing while the sequence fits the original context.
    if (ctx > c.max_position_embeddings)
      f.fail(rope->field + ".rope_type", "'dynamic' is supported only for windows within max_position_embeddings (" +
                                             std::to_string(c.max_position_embeddings) + "), not ctx " +
                                             std::to_string(ctx));
    s.rope = "dynamic (inactive)";
    return;
  }
  if (type == "llama3") {
    apply_llama3_rope(f, *rope, s);
    return;
  }
  if (is_longrope_type(type)) {  // Phi-3: per-frequency divisors, short or long by the window
    const LongRope lr = *read_longrope(f, c);
    const std::vector<float>& factors = lr.factors_for(ctx);
    for (std::size_t i = 0; i < half; ++i) s.inv_freq[i] /= static_cast<double>(factors[i]);
    s.rope_attention_factor = lr.attention_factor;
    s.rope = std::string("longrope (") + (&factors == &lr.long_factor ? "long" : "short") + " factors)";
    return;
  }
  f.fail(rope->field + ".rope_type",
         "is '" + type + "': the evaluator supports rope scaling default, linear, llama3, longrope and dynamic "
                         "(within the original context) only");
}

}  // namespace

DecoderDims decoder_dims(const ModelConfig& c) {
  DecoderDims d;
  d.model_type = c.model_type;
  d.hidden = c.hidden_size;
  d.intermediate = c.intermediate_size;
  d.layers = c.num_hidden_layers;
  d.heads = c.num_attention_heads;
  d.kv_heads = c.num_key_value_heads;
  d.head_dim = c.head_dim;
  d.vocab = c.vocab_size;
  d.rms_eps = c.rms_norm_eps;
  d.tie_word_embeddings = c.tie_word_embeddings;
  return d;
}

LlamaSpec llama_spec(const ModelConfig& c, const std::string& file, int ctx) {
  const Fields f(c.raw, file);
  LlamaSpec s;
  const ModelFamily* family = find_family(c.model_type);
  if (family == nullptr || family->hybrid_attention)
    f.fail("model_type", "is '" + c.model_type + "': the evaluator supports Llama-family decoders only (" +
                             supported_model_types() + ")");
  // hidden_act, experts, partial rotary embeddings, an even head_dim: as the config/tensor check.
  const FamilyFields fields = read_family_fields(f, c, *family);
  // Sliding-window attention equals full attention while the window covers the whole context.
  if (!family->gemma && fields.sliding_window_applies && fields.sliding_window && *fields.sliding_window < ctx)
    f.fail("sliding_window", "is " + std::to_string(*fields.sliding_window) + ", shorter than the evaluation window (" +
                                 std::to_string(ctx) + "): sliding-window attention is not supported by the evaluator");
  static_cast<DecoderDims&>(s) = decoder_dims(c);
  s.attention_bias = fields.attention_bias;
  s.mlp_bias = fields.mlp_bias;
  s.qkv_bias = family->qkv_bias;
  s.qk_norm = family->qk_norm;
  s.moe = fields.moe;
  check_rope(f, c, ctx, s);
  if (family->gemma) {
    s.gemma = read_gemma3_fields(f, c);
    for (std::int64_t i = 0; i < c.head_dim / 2; ++i)
      s.local_inv_freq.push_back(
          std::pow(s.gemma->rope_local_base, -2.0 * static_cast<double>(i) / static_cast<double>(c.head_dim)));
  }
  return s;
}

}  // namespace ramq::eval
