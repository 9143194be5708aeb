// The Gemma 3 families: Hugging Face model_type "gemma3_text" (Gemma3ForCausalLM, e.g.
// gemma-3-1b) and "gemma3" (Gemma3ForConditionalGeneration, 4B/12B/27B: config.json wraps the
// text model's fields in "text_config", read there (read/config_fields.h), and its released
// checkpoints hold the text model under "language_model.model."; the vision tower
// "vision_tower.*" and "multi_modal_projector.*" are left out, as mlx_lm's gemma3.py sanitize()
// pops them and llama.cpp's text graph never runs them). llama.cpp architecture "gemma3" for both.
//
// Facts (transformers modeling_gemma3.py; llama.cpp src/models/gemma3.cpp and
// conversion/gemma.py Gemma3Model; mlx_lm models/gemma3_text.py):
//  * every RMSNorm scales by (1 + w) (Hugging Face and mlx_lm store w; the converter writes
//    w + 1, norm_shift on names ending "norm.weight"), including q_norm/k_norm and the final norm;
//  * four norms per layer: input_layernorm (attn_norm) and post_attention_layernorm
//    (post_attention_norm) around attention, pre_feedforward_layernorm (ffn_norm) and
//    post_feedforward_layernorm (post_ffw_norm) around the MLP;
//  * GeGLU MLP with the tanh GELU ("gelu_pytorch_tanh"); embeddings scaled by sqrt(hidden_size);
//  * tied embeddings unless config.json says otherwise (Gemma3TextConfig's default is true);
//  * no q/k permutation (NeoX rotary halves).
#include "arch/dense_decoder.h"

namespace ramq {

namespace {

constexpr std::string_view kTextTypes[] = {"gemma3_text"};
constexpr std::string_view kWrappedTypes[] = {"gemma3"};

// In llama.cpp's load order (src/models/gemma3.cpp load_arch_tensors).
constexpr std::array<TensorName, 13> kLayerNames{{
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"post_attention_layernorm.weight", "post_attention_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"pre_feedforward_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"},
}};

constexpr TensorName kTextGlobals[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight", Presence::Untied},
};

constexpr TensorName kWrappedGlobals[] = {
    {"language_model.model.embed_tokens.weight", "token_embd.weight"},
    {"language_model.model.norm.weight", "output_norm.weight"},
    {"language_model.lm_head.weight", "output.weight", Presence::Untied},
};

const TensorNames& text_names() {
  static const TensorNames n{"model.layers.", "blk.", kTextGlobals, kLayerNames, decoder_unused_names()};
  return n;
}
const TensorNames& wrapped_names() {
  static const TensorNames n{"language_model.model.layers.", "blk.", kWrappedGlobals, kLayerNames,
                             decoder_unused_names()};
  return n;
}

// The shape of a Gemma 3 tensor under `names`' prefixes: the dense decoder's, plus the two norms
// around the MLP.
std::optional<ExpectedShape> gemma3_shape(const TensorNames& names, const ModelConfig& c, std::string_view n) {
  const TensorName& embed = names.global[0];
  const TensorName& norm = names.global[1];
  const TensorName& head = names.global[2];
  if (n == embed.hf || n == head.hf) return ExpectedShape{{c.vocab_size, c.hidden_size}, "[vocab_size, hidden_size]"};
  if (n == norm.hf) return ExpectedShape{{c.hidden_size}, "[hidden_size]"};
  if (!n.starts_with(names.hf_layer_prefix)) return std::nullopt;
  n.remove_prefix(names.hf_layer_prefix.size());
  if (!take_layer_index(n)) return std::nullopt;
  if (n == "pre_feedforward_layernorm.weight" || n == "post_feedforward_layernorm.weight")
    return ExpectedShape{{c.hidden_size}, "[hidden_size]"};
  return dense_layer_shape(n, c);
}

bool is_vision(std::string_view hf_name) {
  return hf_name.starts_with("vision_tower.") || hf_name.starts_with("multi_modal_projector.");
}

ModelFamily gemma3_base(std::string_view name, std::span<const std::string_view> types, std::string_view hf_arch,
                        const TensorNames& names) {
  ModelFamily f = dense_decoder_family(name, types, "gemma3", hf_arch);
  f.names = &names;
  f.qk_norm = true;
  f.gemma = true;
  f.activation = "gelu_pytorch_tanh";
  return f;
}

}  // namespace

ModelFamily gemma3_text_family() {
  ModelFamily f = gemma3_base("gemma3_text", kTextTypes, "Gemma3ForCausalLM", text_names());
  f.expected_shape = [](const ModelConfig& c, std::string_view n) { return gemma3_shape(text_names(), c, n); };
  return f;
}

ModelFamily gemma3_family() {
  ModelFamily f = gemma3_base("gemma3", kWrappedTypes, "Gemma3ForConditionalGeneration", wrapped_names());
  f.expected_shape = [](const ModelConfig& c, std::string_view n) { return gemma3_shape(wrapped_names(), c, n); };
  f.left_out = is_vision;
  // mlx_lm's gemma3.py keeps "language_model.*" (its Model holds gemma3_text's Model there) and
  // pops vision_tower / multi_modal_projector.
  f.mlx_path = [](std::string_view hf_name) { return is_vision(hf_name) ? std::string() : std::string(hf_name); };
  return f;
}

}  // namespace ramq
