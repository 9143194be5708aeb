// Test support: a small Llama-architecture Hugging Face checkpoint with deterministic random
// weights, shaped so that every GGUF block size fits (row lengths multiples of 256). Weights are
// scaled to give unit-variance activations and peaked logits, so that any layout error (wrong
// permutation, wrong block decoding) changes the model's predictions visibly.
#pragma once

#include <cmath>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "ramq/rng.h"
#include "support/safetensors_builder.h"

namespace ramq::testkit {

struct SyntheticLlama {
  int hidden = 256, heads = 4, kv_heads = 2, ffn = 512, layers = 8, vocab = 512;
  bool tied = false;
  std::uint64_t seed = 1234;
  double qk_scale = 2.0;    // q/k weights: qk_scale / sqrt(hidden) (larger: sharper attention)
  double head_scale = 1.5;  // lm_head: head_scale / sqrt(hidden) (larger: more peaked logits)
};

inline void write_synthetic_llama(const std::filesystem::path& dir, const SyntheticLlama& s) {
  std::filesystem::create_directories(dir);
  Rng rng(s.seed);
  auto gaussian = [&](std::int64_t rows, std::int64_t cols, double sd) {
    std::vector<float> v(static_cast<std::size_t>(rows * cols));
    for (auto& x : v) x = static_cast<float>(rng.normal() * sd);
    return v;
  };
  const int head_dim = s.hidden / s.heads;
  const double proj = 1.0 / std::sqrt(static_cast<double>(s.hidden));
  SafetensorsBuilder b;
  b.add_rounded("model.embed_tokens.weight", DType::BF16, {s.vocab, s.hidden}, gaussian(s.vocab, s.hidden, 1.0));
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    b.add_rounded(p + "self_attn.q_proj.weight", DType::BF16, {s.heads * head_dim, s.hidden}, gaussian(s.heads * head_dim, s.hidden, s.qk_scale * proj));
    b.add_rounded(p + "self_attn.k_proj.weight", DType::BF16, {s.kv_heads * head_dim, s.hidden}, gaussian(s.kv_heads * head_dim, s.hidden, s.qk_scale * proj));
    b.add_rounded(p + "self_attn.v_proj.weight", DType::BF16, {s.kv_heads * head_dim, s.hidden}, gaussian(s.kv_heads * head_dim, s.hidden, proj));
    b.add_rounded(p + "self_attn.o_proj.weight", DType::BF16, {s.hidden, s.heads * head_dim}, gaussian(s.hidden, s.heads * head_dim, proj));
    b.add_rounded(p + "mlp.gate_proj.weight", DType::BF16, {s.ffn, s.hidden}, gaussian(s.ffn, s.hidden, proj));
    b.add_rounded(p + "mlp.up_proj.weight", DType::BF16, {s.ffn, s.hidden}, gaussian(s.ffn, s.hidden, proj));
    b.add_rounded(p + "mlp.down_proj.weight", DType::BF16, {s.hidden, s.ffn}, gaussian(s.hidden, s.ffn, 1.0 / std::sqrt(double(s.ffn))));
    b.add_rounded(p + "input_layernorm.weight", DType::BF16, {s.hidden}, std::vector<float>(static_cast<std::size_t>(s.hidden), 1.0f));
    b.add_rounded(p + "post_attention_layernorm.weight", DType::BF16, {s.hidden}, std::vector<float>(static_cast<std::size_t>(s.hidden), 1.0f));
  }
  b.add_rounded("model.norm.weight", DType::BF16, {s.hidden}, std::vector<float>(static_cast<std::size_t>(s.hidden), 1.0f));
  if (!s.tied) b.add_rounded("lm_head.weight", DType::BF16, {s.vocab, s.hidden}, gaussian(s.vocab, s.hidden, s.head_scale * proj));
  nlohmann::json cfg = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_size", s.hidden},
                        {"intermediate_size", s.ffn}, {"num_hidden_layers", s.layers}, {"num_attention_heads", s.heads},
                        {"num_key_value_heads", s.kv_heads}, {"vocab_size", s.vocab}, {"max_position_embeddings", 1024},
                        {"rms_norm_eps", 1e-5}, {"rope_theta", 10000.0}, {"tie_word_embeddings", s.tied},
                        {"hidden_act", "silu"}, {"torch_dtype", "bfloat16"}};
  write_model(dir, b, cfg.dump(2));
}

// Deterministic pseudo-random token ids in [0, vocab).
inline std::vector<std::uint32_t> random_tokens(std::size_t n, std::uint32_t vocab, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::uint32_t> t(n);
  for (auto& x : t) x = static_cast<std::uint32_t>(rng.next_u64() % vocab);
  return t;
}

}  // namespace ramq::testkit
