// Test support: mlx_lm's loading rules for the Gemma 3 families (mlx_loader_check.h), from
// mlx-lm d78bf58e:
//  * models/gemma3_text.py: ModelArgs defaults (lines 16-32: head_dim 256, vocab_size 262144,
//    num_attention_heads 4, num_key_value_heads 1); Attention (lines 35-54: q/k/v/o Linear, no
//    bias; q_norm/k_norm RMSNorm(head_dim)); its own RMSNorm (lines 104-111: weight (dims,),
//    applied as 1 + weight); MLP (lines 114-121: gate/down/up Linear, no bias);
//    TransformerBlock (lines 135-149: input_layernorm, post_attention_layernorm,
//    pre_feedforward_layernorm, post_feedforward_layernorm); Gemma3Model (line 164: embed_tokens,
//    layers, norm); Model (lines 215-222: model, lm_head Linear(hidden, vocab)) and sanitize
//    (lines 237-241: without "lm_head.weight" the model is tied and lm_head popped);
//  * models/gemma3.py: ModelArgs (lines 15-27: top-level vocab_size, default 262208, replaces
//    text_config's; num_attention_heads 8 / num_key_value_heads 4 by default); Model (line 35:
//    language_model = gemma3_text.Model(text_config)); sanitize (lines 49-56: pops vision_tower
//    and multi_modal_projector, then gemma3_text's sanitize under "language_model").
#include <string>

#include "support/mlx_loader_rules.h"

namespace ramq::testkit::mlx_rules {

namespace {

std::int64_t field_or(const json& c, const char* key, std::int64_t dflt) {
  return c.contains(key) && !c[key].is_null() ? field(c, key) : dflt;
}

// The prefix of the text model's modules: "language_model." in the multimodal wrapper.
std::string text_prefix(const json& c) { return c.value("model_type", "") == "gemma3" ? "language_model." : ""; }

// gemma3_text's ModelArgs as the wrapper builds them (gemma3.py ModelArgs.__post_init__).
json text_args(const json& c) {
  if (c.value("model_type", "") != "gemma3") return c;
  json t = c.at("text_config");
  t["vocab_size"] = c.contains("vocab_size") ? c["vocab_size"] : json(262208);
  if (!t.contains("num_attention_heads")) t["num_attention_heads"] = 8;
  if (!t.contains("num_key_value_heads")) t["num_key_value_heads"] = 4;
  return t;
}

}  // namespace

bool is_gemma3(const std::string& model_type) { return model_type == "gemma3" || model_type == "gemma3_text"; }

Modules gemma3_modules(const json& config) {
  const json c = text_args(config);
  const std::string top = text_prefix(config), p0 = top + "model.";
  const std::int64_t h = field_or(c, "hidden_size", 1152), vocab = field_or(c, "vocab_size", 262144);
  const std::int64_t heads = field_or(c, "num_attention_heads", 4), kv = field_or(c, "num_key_value_heads", 1);
  const std::int64_t hd = field_or(c, "head_dim", 256), ff = field_or(c, "intermediate_size", 6912);
  Modules m;
  m[p0 + "embed_tokens"] = {MlxModule::Kind::Embedding, {vocab, h}, false};
  for (std::int64_t l = 0; l < field_or(c, "num_hidden_layers", 26); ++l) {
    const std::string p = p0 + "layers." + std::to_string(l);
    linear(m, p + ".self_attn.q_proj", h, heads * hd);
    linear(m, p + ".self_attn.k_proj", h, kv * hd);
    linear(m, p + ".self_attn.v_proj", h, kv * hd);
    linear(m, p + ".self_attn.o_proj", heads * hd, h);
    norm(m, p + ".self_attn.q_norm", hd);
    norm(m, p + ".self_attn.k_norm", hd);
    mlp(m, p + ".mlp", h, ff);
    for (const char* n : {".input_layernorm", ".post_attention_layernorm", ".pre_feedforward_layernorm",
                          ".post_feedforward_layernorm"})
      norm(m, p + n, h);
  }
  norm(m, p0 + "norm", h);
  linear(m, top + "lm_head", h, vocab);
  return m;
}

void gemma3_sanitize(std::map<std::string, MlxArray>& w, Modules& modules, const json& config) {
  const std::string top = text_prefix(config);
  if (!top.empty())
    for (auto it = w.begin(); it != w.end();)
      it = it->first.starts_with("vision_tower.") || it->first.starts_with("multi_modal_projector.") ? w.erase(it)
                                                                                                       : std::next(it);
  if (!w.count(top + "lm_head.weight")) modules.erase(top + "lm_head");
}

}  // namespace ramq::testkit::mlx_rules
