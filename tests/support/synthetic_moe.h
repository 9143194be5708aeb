// Test support: a small mixture-of-experts Hugging Face checkpoint (mixtral, qwen2_moe,
// qwen3_moe) with the family's real tensor names and config.json fields (as the published
// Mixtral-8x7B, Qwen1.5-MoE-A2.7B and Qwen3-30B-A3B configs spell them), deterministic random
// BF16 weights.
#pragma once

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramq/rng.h"
#include "support/safetensors_builder.h"

namespace ramq::testkit {

struct SyntheticMoe {
  std::string model_type = "qwen3_moe";  // "mixtral", "qwen2_moe", "qwen3_moe"
  int hidden = 256, heads = 4, kv_heads = 2, head_dim = 64, layers = 2, vocab = 512;
  int experts = 4, top_k = 2, expert_ffn = 128, shared_ffn = 256, dense_ffn = 512;
  std::uint64_t seed = 99;
  bool inv_freq = false;  // write self_attn.rotary_emb.inv_freq (F32 [head_dim / 2]) in every layer
};

// The Hugging Face name of expert e's projection ("gate", "up", "down") in layer prefix p.
inline std::string moe_expert_name(const std::string& type, const std::string& p, int e, const std::string& proj) {
  if (type == "mixtral") {
    const std::string w = proj == "gate" ? "w1" : proj == "down" ? "w2" : "w3";
    return p + "block_sparse_moe.experts." + std::to_string(e) + "." + w + ".weight";
  }
  return p + "mlp.experts." + std::to_string(e) + "." + proj + "_proj.weight";
}

inline nlohmann::json synthetic_moe_config(const SyntheticMoe& s) {
  nlohmann::json c = {{"model_type", s.model_type}, {"hidden_size", s.hidden}, {"num_hidden_layers", s.layers},
                      {"num_attention_heads", s.heads}, {"num_key_value_heads", s.kv_heads}, {"vocab_size", s.vocab},
                      {"max_position_embeddings", 4096}, {"rms_norm_eps", 1e-6}, {"rope_theta", 1000000.0},
                      {"tie_word_embeddings", false}, {"hidden_act", "silu"}, {"torch_dtype", "bfloat16"},
                      {"num_experts_per_tok", s.top_k}, {"initializer_range", 0.02}, {"use_cache", true}};
  if (s.model_type == "mixtral") {
    c["architectures"] = {"MixtralForCausalLM"};
    c["intermediate_size"] = s.expert_ffn;
    c["num_local_experts"] = s.experts;
    c["sliding_window"] = nullptr;
    c["router_aux_loss_coef"] = 0.02;
    c["output_router_logits"] = false;
    return c;
  }
  c["num_experts"] = s.experts;
  c["moe_intermediate_size"] = s.expert_ffn;
  c["intermediate_size"] = s.dense_ffn;
  c["decoder_sparse_step"] = 1;
  c["mlp_only_layers"] = nlohmann::json::array();
  c["router_aux_loss_coef"] = 0.001;
  c["output_router_logits"] = false;
  c["use_sliding_window"] = false;
  c["sliding_window"] = 4096;
  c["max_window_layers"] = s.layers;
  if (s.model_type == "qwen2_moe") {
    c["architectures"] = {"Qwen2MoeForCausalLM"};
    c["shared_expert_intermediate_size"] = s.shared_ffn;
    c["norm_topk_prob"] = false;
  } else {
    c["architectures"] = {"Qwen3MoeForCausalLM"};
    c["head_dim"] = s.head_dim;
    c["norm_topk_prob"] = true;
    c["attention_bias"] = false;
  }
  return c;
}

inline void write_synthetic_moe(const std::filesystem::path& dir, const SyntheticMoe& s) {
  std::filesystem::create_directories(dir);
  Rng rng(s.seed);
  SafetensorsBuilder b;
  auto add = [&](const std::string& name, std::vector<std::int64_t> shape, double sd, double mean = 0.0) {
    std::int64_t n = 1;
    for (const auto d : shape) n *= d;
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = static_cast<float>(mean + rng.normal() * sd);
    b.add_rounded(name, DType::BF16, shape, v);
  };
  const bool qwen2 = s.model_type == "qwen2_moe", qwen3 = s.model_type == "qwen3_moe";
  const std::int64_t hd = qwen3 ? s.head_dim : s.hidden / s.heads, h = s.hidden;
  const std::int64_t q = std::int64_t{s.heads} * hd, kv = std::int64_t{s.kv_heads} * hd;
  const double sd = 1.0 / std::sqrt(static_cast<double>(h));
  add("model.embed_tokens.weight", {s.vocab, h}, 1.0);
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "self_attn.q_proj.weight", {q, h}, sd);
    add(p + "self_attn.k_proj.weight", {kv, h}, sd);
    add(p + "self_attn.v_proj.weight", {kv, h}, sd);
    add(p + "self_attn.o_proj.weight", {h, q}, sd);
    if (qwen2)
      for (const char* n : {"q", "k", "v"}) add(p + "self_attn." + n + "_proj.bias", {n[0] == 'q' ? q : kv}, 0.5);
    if (qwen3) {
      add(p + "self_attn.q_norm.weight", {hd}, 0.1, 1.0);
      add(p + "self_attn.k_norm.weight", {hd}, 0.1, 1.0);
    }
    if (s.inv_freq) {
      std::vector<float> f(static_cast<std::size_t>(hd / 2));
      for (std::size_t i = 0; i < f.size(); ++i) f[i] = static_cast<float>(std::pow(1e6, -2.0 * double(i) / double(hd)));
      b.add_rounded(p + "self_attn.rotary_emb.inv_freq", DType::F32, {hd / 2}, f);
    }
    add(p + "input_layernorm.weight", {h}, 0.1, 1.0);
    add(p + "post_attention_layernorm.weight", {h}, 0.1, 1.0);
    add(p + (s.model_type == "mixtral" ? "block_sparse_moe.gate.weight" : "mlp.gate.weight"), {s.experts, h}, sd);
    for (int e = 0; e < s.experts; ++e) {
      add(moe_expert_name(s.model_type, p, e, "gate"), {s.expert_ffn, h}, sd);
      add(moe_expert_name(s.model_type, p, e, "up"), {s.expert_ffn, h}, sd);
      add(moe_expert_name(s.model_type, p, e, "down"), {h, s.expert_ffn}, 1.0 / std::sqrt(double(s.expert_ffn)));
    }
    if (qwen2) {
      add(p + "mlp.shared_expert.gate_proj.weight", {s.shared_ffn, h}, sd);
      add(p + "mlp.shared_expert.up_proj.weight", {s.shared_ffn, h}, sd);
      add(p + "mlp.shared_expert.down_proj.weight", {h, s.shared_ffn}, 1.0 / std::sqrt(double(s.shared_ffn)));
      add(p + "mlp.shared_expert_gate.weight", {1, h}, sd);
    }
  }
  add("model.norm.weight", {h}, 0.1, 1.0);
  add("lm_head.weight", {s.vocab, h}, sd);
  write_model(dir, b, synthetic_moe_config(s).dump(2));
}

}  // namespace ramq::testkit
