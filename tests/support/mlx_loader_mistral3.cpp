// mlx_lm's rules for mistral3 (support/mlx_loader_rules.h). Sources: ml-explore/mlx-lm at
// d78bf58e, mlx_lm/models/mistral3.py and mlx_lm/models/llama.py; read for facts only.
#include <utility>

#include "support/mlx_loader_rules.h"

namespace ramq::testkit::mlx_rules {

namespace {

// mistral3.py ModelArgs.__post_init__ (lines 18-20): tie_word_embeddings defaults to False in
// text_config (llama.py's own default, line 33, is True).
json text_config(const json& c) {
  if (!c.contains("text_config") || !c["text_config"].is_object())
    throw Violation("config.json: mistral3 ModelArgs needs the object 'text_config'");
  json t = c["text_config"];
  if (!t.contains("tie_word_embeddings")) t["tie_word_embeddings"] = false;
  return t;
}

}  // namespace

bool is_mistral3(const std::string& model_type) { return model_type == "mistral3"; }

// mistral3.py Model.__init__ (lines 28-36): language_model = llama.Model(text_config) unless its
// model_type is "ministral3". llama.py: Attention (lines 53-64: head_dim = args.head_dim or
// hidden // heads; q/k/v/o Linear with attention_bias), MLP (lines 111-118: gate/down/up with
// mlp_bias), TransformerBlock norms (lines 132-134), LlamaModel embed_tokens / layers / norm
// (lines 160-165), Model.lm_head unless tied (lines 206-207).
Modules mistral3_modules(const json& config) {
  const json c = text_config(config);
  if (c.value("model_type", "") == "ministral3") throw Violation("config.json: this check knows mistral3's llama text model only");
  Modules m;
  const std::int64_t h = field(c, "hidden_size"), heads = field(c, "num_attention_heads"), vocab = field(c, "vocab_size");
  const std::int64_t kv = c.contains("num_key_value_heads") ? field(c, "num_key_value_heads") : heads;
  const std::int64_t hd = c.contains("head_dim") && !c["head_dim"].is_null() ? field(c, "head_dim") : h / heads;
  const bool attention_bias = flag(c, "attention_bias", false), mlp_bias = flag(c, "mlp_bias", false);
  const std::int64_t ff = field(c, "intermediate_size");
  const std::string lm = "language_model.";
  m[lm + "model.embed_tokens"] = {MlxModule::Kind::Embedding, {vocab, h}, false};
  for (std::int64_t l = 0; l < field(c, "num_hidden_layers"); ++l) {
    const std::string p = lm + "model.layers." + std::to_string(l);
    linear(m, p + ".self_attn.q_proj", h, heads * hd, attention_bias);
    linear(m, p + ".self_attn.k_proj", h, kv * hd, attention_bias);
    linear(m, p + ".self_attn.v_proj", h, kv * hd, attention_bias);
    linear(m, p + ".self_attn.o_proj", heads * hd, h, attention_bias);
    linear(m, p + ".mlp.gate_proj", h, ff, mlp_bias);
    linear(m, p + ".mlp.down_proj", ff, h, mlp_bias);
    linear(m, p + ".mlp.up_proj", h, ff, mlp_bias);
    norm(m, p + ".input_layernorm", h);
    norm(m, p + ".post_attention_layernorm", h);
  }
  norm(m, lm + "model.norm", h);
  if (!c["tie_word_embeddings"].get<bool>()) linear(m, lm + "lm_head", h, vocab);
  return m;
}

// mistral3.py Model.sanitize (lines 46-51): pops "vision_tower" and "multi_modal_projector",
// then runs llama.py Model.sanitize (lines 222-229: drops *.self_attn.rotary_emb.inv_freq, and
// lm_head.weight when tied) on the weights under "language_model" (a KeyError without any).
void mistral3_sanitize(std::map<std::string, MlxArray>& w, const json& config) {
  const json c = text_config(config);
  std::map<std::string, MlxArray> kept;
  bool language_model = false;
  for (auto& [name, array] : w) {
    if (name.starts_with("vision_tower.") || name.starts_with("multi_modal_projector.")) continue;
    if (name.find("self_attn.rotary_emb.inv_freq") != std::string::npos) continue;
    if (name == "language_model.lm_head.weight" && c["tie_word_embeddings"].get<bool>()) continue;
    language_model = language_model || name.starts_with("language_model.");
    kept[name] = std::move(array);
  }
  if (!language_model) throw Violation("sanitize: KeyError, 'language_model'");
  w = std::move(kept);
}

}  // namespace ramq::testkit::mlx_rules
