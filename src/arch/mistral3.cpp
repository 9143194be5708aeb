// The mistral3 family: Hugging Face model_type "mistral3" (Mistral3ForConditionalGeneration:
// Mistral Small 3.1 and 3.2), llama.cpp architecture "mistral3". config.json wraps the text
// model's fields in "text_config" (model_type "mistral", read there, read/config_fields.h); the
// released checkpoints hold the text model as Hugging Face's Llama layout under
// "language_model." (language_model.model.layers.N..., language_model.lm_head.weight) beside the
// Pixtral vision tower ("vision_tower.*") and the projector ("multi_modal_projector.*"), which no
// output carries (mlx_lm's mistral3 sanitize() pops both; llama.cpp's converter writes them to
// the mmproj file, not the text model). llama.cpp's converter (conversion/mistral3.py,
// Ministral3Model) is its LlamaModel with MODEL_ARCH.MISTRAL3: q/k rows permuted, vocab_size and
// rope.dimension_count written, Llama 3 rope factors as rope_freqs.weight; its graph is llama's
// (LLAMA_ROPE_TYPE_NORM). mlx_lm (models/mistral3.py) keeps the "language_model." names and
// loads them into its llama model. Ministral 3 text models (text_config model_type "ministral3",
// yarn rope with attention temperature scaling) are refused with one line.
#include "arch/dense_decoder.h"

namespace ramq {

namespace {

constexpr std::string_view kModelTypes[] = {"mistral3"};
constexpr std::string_view kTextModelTypes[] = {"mistral"};

constexpr TensorName kGlobalNames[] = {
    {"language_model.model.embed_tokens.weight", "token_embd.weight"},
    {"language_model.model.norm.weight", "output_norm.weight"},
    {"language_model.lm_head.weight", "output.weight", Presence::Untied},
};

const TensorNames& names() {
  static const TensorNames n{"language_model.model.layers.", "blk.", kGlobalNames, dense_decoder_layer_names(),
                             decoder_unused_names()};
  return n;
}

bool is_vision(std::string_view hf_name) {
  return hf_name.starts_with("vision_tower.") || hf_name.starts_with("multi_modal_projector.");
}

std::optional<ExpectedShape> shape(const ModelConfig& c, std::string_view hf_name) {
  if (hf_name == kGlobalNames[0].hf || hf_name == kGlobalNames[2].hf)
    return ExpectedShape{{c.vocab_size, c.hidden_size}, "[vocab_size, hidden_size]"};
  if (hf_name == kGlobalNames[1].hf) return ExpectedShape{{c.hidden_size}, "[hidden_size]"};
  if (!hf_name.starts_with(names().hf_layer_prefix)) return std::nullopt;
  hf_name.remove_prefix(names().hf_layer_prefix.size());
  if (!take_layer_index(hf_name)) return std::nullopt;
  return dense_layer_shape(hf_name, c);
}

}  // namespace

ModelFamily mistral3_family() {
  ModelFamily f = dense_decoder_family("mistral3", kModelTypes, "mistral3", "Mistral3ForConditionalGeneration");
  f.names = &names();
  f.expected_shape = shape;
  f.text_model_types = kTextModelTypes;
  f.permute_qk = true;
  f.gguf_vocab_and_rope_keys = true;
  f.llama3_rope = true;
  f.left_out = is_vision;
  f.mlx_path = [](std::string_view hf_name) { return is_vision(hf_name) ? std::string() : std::string(hf_name); };
  return f;
}

}  // namespace ramq
