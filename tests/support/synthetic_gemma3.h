// Test support: a small Gemma 3 Hugging Face checkpoint with the family's real tensor names and
// config.json fields, deterministic random weights.
//  * gemma3_text: flat config.json (Gemma3ForCausalLM), tensors under "model.";
//  * gemma3: Gemma3ForConditionalGeneration, the text model's fields under "text_config"
//    (model_type "gemma3_text"), its tensors under "language_model.model.", and a token vision
//    tower "vision_tower.vision_model.*" and "multi_modal_projector.*" (no use to a text model).
// Defaults: 6 layers with sliding_window_pattern 6 (layers 0-4 sliding, 5 global, the pattern
// llama.cpp assumes when the GGUF has none), sliding_window 16, rope_theta 1e6 (global) and
// rope_local_base_freq 1e4 (sliding), rows a multiple of 256 (K-quants): hidden 256, 2 heads x
// head_dim 128, 1 kv head, MLP 512, vocab 512, query_pre_attn_scalar = head_dim (llama.cpp's
// scale for every size but 27B), tied embeddings (no tie_word_embeddings field: Gemma 3's
// default). Stored as Hugging Face stores them: RMSNorm weights w around 0 (applied as 1 + w),
// everything BF16.
#pragma once

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramq/rng.h"
#include "support/safetensors_builder.h"

namespace ramq::testkit {

struct SyntheticGemma3 {
  std::string model_type = "gemma3_text";  // or "gemma3" (the multimodal wrapper)
  int hidden = 256, heads = 2, kv_heads = 1, head_dim = 128, layers = 6, vocab = 512, ffn = 512;
  int sliding_window = 16, pattern = 6;
  double norm_sd = 0.1;
  std::string omit;  // a tensor name left out (tests of the config/tensor check)
  std::uint64_t seed = 3;

  bool wrapped() const { return model_type == "gemma3"; }
  std::string text_prefix() const { return wrapped() ? "language_model.model." : "model."; }
  std::string layer_prefix(int i) const { return text_prefix() + "layers." + std::to_string(i) + "."; }
};

inline nlohmann::json synthetic_gemma3_text_config(const SyntheticGemma3& s) {
  nlohmann::json c = {{"model_type", "gemma3_text"}, {"hidden_size", s.hidden}, {"intermediate_size", s.ffn},
                      {"num_hidden_layers", s.layers}, {"num_attention_heads", s.heads},
                      {"num_key_value_heads", s.kv_heads}, {"head_dim", s.head_dim}, {"vocab_size", s.vocab},
                      {"max_position_embeddings", 32768}, {"rms_norm_eps", 1e-6},
                      {"hidden_activation", "gelu_pytorch_tanh"}, {"attention_bias", false},
                      {"attention_dropout", 0.0}, {"attn_logit_softcapping", nullptr},
                      {"final_logit_softcapping", nullptr}, {"query_pre_attn_scalar", s.head_dim},
                      {"rope_theta", 1000000.0}, {"rope_local_base_freq", 10000.0}, {"rope_scaling", nullptr},
                      {"sliding_window", s.sliding_window}, {"sliding_window_pattern", s.pattern},
                      {"cache_implementation", "hybrid"}, {"initializer_range", 0.02}, {"use_cache", true},
                      {"bos_token_id", 2}, {"eos_token_id", 1}, {"pad_token_id", 0}};
  if (!s.wrapped()) {
    c["architectures"] = {"Gemma3ForCausalLM"};
    c["torch_dtype"] = "bfloat16";
  }
  return c;
}

inline nlohmann::json synthetic_gemma3_config(const SyntheticGemma3& s) {
  if (!s.wrapped()) return synthetic_gemma3_text_config(s);
  return {{"architectures", {"Gemma3ForConditionalGeneration"}},
          {"model_type", "gemma3"},
          {"text_config", synthetic_gemma3_text_config(s)},
          {"vision_config", {{"model_type", "siglip_vision_model"}, {"hidden_size", 16}, {"num_hidden_layers", 1}}},
          {"mm_tokens_per_image", 256}, {"boi_token_index", 255999}, {"eoi_token_index", 256000},
          {"image_token_index", 262144}, {"initializer_range", 0.02}, {"torch_dtype", "bfloat16"},
          // mlx_lm's gemma3.py ModelArgs takes the vocabulary from here (default 262208, the
          // released models' own), overriding text_config's.
          {"vocab_size", s.vocab}};
}

inline void write_synthetic_gemma3(const std::filesystem::path& dir, const SyntheticGemma3& s) {
  std::filesystem::create_directories(dir);
  Rng rng(s.seed);
  SafetensorsBuilder b;
  auto add = [&](const std::string& name, std::vector<std::int64_t> shape, double sd) {
    std::int64_t n = 1;
    for (const auto d : shape) n *= d;
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = static_cast<float>(rng.normal() * sd);
    if (name != s.omit) b.add_rounded(name, DType::BF16, shape, v);
  };
  const std::int64_t h = s.hidden, hd = s.head_dim, q = std::int64_t{s.heads} * hd, kv = std::int64_t{s.kv_heads} * hd;
  const double sd = 1.0 / std::sqrt(static_cast<double>(h));
  // Gemma scales embeddings by sqrt(hidden) before the first layer: rows of norm ~1 after it.
  add(s.text_prefix() + "embed_tokens.weight", {s.vocab, h}, 1.0 / std::sqrt(static_cast<double>(h)));
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = s.layer_prefix(l);
    add(p + "input_layernorm.weight", {h}, s.norm_sd);
    add(p + "self_attn.q_proj.weight", {q, h}, sd);
    add(p + "self_attn.k_proj.weight", {kv, h}, sd);
    add(p + "self_attn.v_proj.weight", {kv, h}, sd);
    add(p + "self_attn.o_proj.weight", {h, q}, 1.0 / std::sqrt(static_cast<double>(q)));
    add(p + "self_attn.q_norm.weight", {hd}, s.norm_sd);
    add(p + "self_attn.k_norm.weight", {hd}, s.norm_sd);
    add(p + "post_attention_layernorm.weight", {h}, s.norm_sd);
    add(p + "pre_feedforward_layernorm.weight", {h}, s.norm_sd);
    add(p + "mlp.gate_proj.weight", {s.ffn, h}, sd);
    add(p + "mlp.up_proj.weight", {s.ffn, h}, sd);
    add(p + "mlp.down_proj.weight", {h, s.ffn}, 1.0 / std::sqrt(static_cast<double>(s.ffn)));
    add(p + "post_feedforward_layernorm.weight", {h}, s.norm_sd);
  }
  add(s.text_prefix() + "norm.weight", {h}, s.norm_sd);
  if (s.wrapped()) {
    add("vision_tower.vision_model.embeddings.patch_embedding.weight", {16, 3, 2, 2}, 0.1);
    add("vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight", {16, 16}, 0.1);
    add("multi_modal_projector.mm_input_projection_weight", {16, h}, 0.1);
    add("multi_modal_projector.mm_soft_emb_norm.weight", {16}, 0.1);
  }
  write_model(dir, b, synthetic_gemma3_config(s).dump(2));
}

}  // namespace ramq::testkit
