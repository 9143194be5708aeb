// Validation of config.json for the hybrid linear-attention forward pass
// (evaluate/hybrid_forward.h).
#include <cmath>
#include <string>

#include "evaluate/hybrid_forward.h"
#include "ramq/config_fields.h"
#include "ramq/error.h"
#include "ramq/family_config.h"
#include "ramq/model_family.h"

namespace ramq::eval {

HybridSpec hybrid_spec(const ModelConfig& c, const std::string& file) {
  const ConfigFields f(c.raw, file);
  const ModelFamily* family = find_family(c.model_type);
  if (family == nullptr || !family->hybrid_attention)
    f.fail("model_type", "is '" + c.model_type + "': not a hybrid linear-attention family");
  const FamilyFields fields = read_family_fields(f, c, *family);
  HybridSpec s;
  static_cast<DecoderDims&>(s) = decoder_dims(c);
  s.rotary_dims = fields.rotary_dims;
  s.linear = *fields.linear;
  s.moe = fields.moe;
  s.fused_projections = family->name == "qwen3_next";
  s.layer_prefix = std::string(family->names->hf_layer_prefix);
  s.embed_name = std::string(family->names->global[0].hf);
  s.norm_name = std::string(family->names->global[1].hf);
  s.head_name = std::string(family->names->global[2].hf);
  if (!s.moe && s.intermediate <= 0) f.fail("intermediate_size", "is missing (the dense MLP's width)");
  // Qwen3.5's interleaved M-RoPE is plain rotate_half rotary for text (the same position in
  // every section); other scalings are not computed here.
  if (const auto rope = read_rope(f); rope && rope->type != "default")
    f.fail(rope->field + ".rope_type",
           "is '" + rope->type + "': the evaluator supports the default rotary embedding of " + c.model_type + " only");
  const std::size_t half = static_cast<std::size_t>(s.rotary_dims / 2);
  s.inv_freq.resize(half);
  for (std::size_t i = 0; i < half; ++i)
    s.inv_freq[i] = std::pow(c.rope_theta, -2.0 * static_cast<double>(i) / static_cast<double>(s.rotary_dims));
  return s;
}

}  // namespace ramq::eval
