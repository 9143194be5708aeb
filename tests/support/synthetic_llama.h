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

  // Other Llama-family variants. The defaults write exactly the Llama checkpoint above (same
  // tensors, same random values, same config.json); every extra random draw comes after a
  // layer's existing ones.
  //  * model_type "qwen2": architectures ["Qwen2ForCausalLM"], q/k/v_proj.bias ~ N(0, qkv_bias_sd);
  //  * model_type "qwen3": architectures ["Qwen3ForCausalLM"], per-head RMSNorm weights
  //    self_attn.q_norm.weight / k_norm.weight [head_dim] = 1 + N(0, qk_norm_sd), no biases;
  //  * head_dim > 0 is written to config.json (it may differ from hidden / heads);
  //  * rope_scaling (a JSON object, e.g. {"rope_type":"llama3", ...}) is written when not null.
  std::string model_type = "llama";
  int head_dim = 0;                   // 0: hidden / heads, not written to config.json
  double rope_theta = 10000.0;
  nlohmann::json rope_scaling = nullptr;  // null: no rope_scaling key
  int max_position_embeddings = 1024;
  double qkv_bias_sd = 1.0;           // qwen2 only
  double qk_norm_sd = 0.5;            // qwen3 only
  double norm_sd = 0.0;               // > 0: input/post-attention/final norm weights 1 + N(0, norm_sd)
  double embed_sd = 1.0;              // embed_tokens ~ N(0, embed_sd) (tied: also the head)
  DType dtype = DType::BF16;          // BF16 or F32 (the checkpoint's storage dtype)
  // Mixtures of experts (model_type "mixtral", "qwen2_moe", "qwen3_moe"): the MLP of every layer
  // is a router and `experts` routed experts of `expert_ffn` (Mixtral: ffn), top
  // `experts_per_tok`, plus for qwen2_moe a shared expert of `shared_ffn` with its gate; drawn in
  // place of the dense MLP. qwen2_moe has qwen2's biases, qwen3_moe qwen3's q/k norms.
  int experts = 4, experts_per_tok = 2, expert_ffn = 256, shared_ffn = 512;
  double router_scale = 2.0;          // router: router_scale / sqrt(hidden) (larger: sharper routing)
  bool norm_topk_prob = true;         // written for the Qwen MoE types
  // The routed experts stored as transformers 5 saves them, one stack per layer and projection,
  // "mlp.experts.gate_up_proj" [E, 2F, hidden] and "mlp.experts.down_proj" [E, hidden, F] (F:
  // expert_ffn, Mixtral ffn; Mixtral's router then is "mlp.gate.weight"), holding the same values
  // as the per-expert tensors. `transposed_stacks`: stored [E, in, out] instead, [E, hidden, 2F]
  // (gate in columns 0..F-1) and [E, F, hidden].
  bool stacked_experts = false;
  bool transposed_stacks = false;
};

inline bool is_moe_type(const std::string& t) { return t == "mixtral" || t == "qwen2_moe" || t == "qwen3_moe"; }

// The stacks of one layer's routed experts ("<m>gate_up_proj", "<m>down_proj"), drawn in the
// per-expert order (gate, up, down of expert 0, then expert 1, ...).
template <class Gaussian>
void add_expert_stacks(SafetensorsBuilder& b, const std::string& m, const SyntheticLlama& s, std::int64_t f,
                       Gaussian& gaussian) {
  const std::int64_t h = s.hidden, E = s.experts;
  const double proj = 1.0 / std::sqrt(static_cast<double>(h));
  std::vector<float> gate_up(static_cast<std::size_t>(E * 2 * f * h)), down(static_cast<std::size_t>(E * h * f));
  for (std::int64_t e = 0; e < E; ++e) {
    for (std::int64_t half = 0; half < 2; ++half) {  // gate, then up: [f, h] each
      const auto v = gaussian(f, h, proj);
      for (std::int64_t r = 0; r < f; ++r)
        for (std::int64_t c = 0; c < h; ++c) {
          const std::int64_t out = half * f + r;  // the fused row
          const std::int64_t at = s.transposed_stacks ? (e * h + c) * 2 * f + out : (e * 2 * f + out) * h + c;
          gate_up[static_cast<std::size_t>(at)] = v[static_cast<std::size_t>(r * h + c)];
        }
    }
    const auto d = gaussian(h, f, 1.0 / std::sqrt(double(f)));  // [h, f]
    for (std::int64_t r = 0; r < h; ++r)
      for (std::int64_t c = 0; c < f; ++c) {
        const std::int64_t at = s.transposed_stacks ? (e * f + c) * h + r : (e * h + r) * f + c;
        down[static_cast<std::size_t>(at)] = d[static_cast<std::size_t>(r * f + c)];
      }
  }
  const std::vector<std::int64_t> gu = s.transposed_stacks ? std::vector<std::int64_t>{E, h, 2 * f}
                                                           : std::vector<std::int64_t>{E, 2 * f, h};
  const std::vector<std::int64_t> dn = s.transposed_stacks ? std::vector<std::int64_t>{E, f, h}
                                                           : std::vector<std::int64_t>{E, h, f};
  b.add_rounded(m + "gate_up_proj", s.dtype, gu, gate_up);
  b.add_rounded(m + "down_proj", s.dtype, dn, down);
}

inline void write_synthetic_llama(const std::filesystem::path& dir, const SyntheticLlama& s) {
  std::filesystem::create_directories(dir);
  Rng rng(s.seed);
  auto gaussian = [&](std::int64_t rows, std::int64_t cols, double sd) {
    std::vector<float> v(static_cast<std::size_t>(rows * cols));
    for (auto& x : v) x = static_cast<float>(rng.normal() * sd);
    return v;
  };
  auto around_one = [&](std::int64_t n, double sd) {
    std::vector<float> v(static_cast<std::size_t>(n), 1.0f);
    if (sd > 0)
      for (auto& x : v) x = static_cast<float>(1.0 + rng.normal() * sd);
    return v;
  };
  const bool moe = is_moe_type(s.model_type);
  const bool qwen2 = s.model_type == "qwen2" || s.model_type == "qwen2_moe",
             qwen3 = s.model_type == "qwen3" || s.model_type == "qwen3_moe";
  const int head_dim = s.head_dim > 0 ? s.head_dim : s.hidden / s.heads;
  const std::int64_t q_dim = std::int64_t{s.heads} * head_dim, kv_dim = std::int64_t{s.kv_heads} * head_dim;
  const double proj = 1.0 / std::sqrt(static_cast<double>(s.hidden));
  const DType dt = s.dtype;
  SafetensorsBuilder b;
  b.add_rounded("model.embed_tokens.weight", dt, {s.vocab, s.hidden}, gaussian(s.vocab, s.hidden, s.embed_sd));
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    b.add_rounded(p + "self_attn.q_proj.weight", dt, {q_dim, s.hidden}, gaussian(q_dim, s.hidden, s.qk_scale * proj));
    b.add_rounded(p + "self_attn.k_proj.weight", dt, {kv_dim, s.hidden}, gaussian(kv_dim, s.hidden, s.qk_scale * proj));
    b.add_rounded(p + "self_attn.v_proj.weight", dt, {kv_dim, s.hidden}, gaussian(kv_dim, s.hidden, proj));
    b.add_rounded(p + "self_attn.o_proj.weight", dt, {s.hidden, q_dim},
                  gaussian(s.hidden, q_dim, 1.0 / std::sqrt(static_cast<double>(q_dim))));
    const auto mlp = [&](const std::string& gate, const std::string& up, const std::string& down, int ffn) {
      b.add_rounded(gate, dt, {ffn, s.hidden}, gaussian(ffn, s.hidden, proj));
      b.add_rounded(up, dt, {ffn, s.hidden}, gaussian(ffn, s.hidden, proj));
      b.add_rounded(down, dt, {s.hidden, ffn}, gaussian(s.hidden, ffn, 1.0 / std::sqrt(double(ffn))));
    };
    if (!moe) {
      mlp(p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight", p + "mlp.down_proj.weight", s.ffn);
    } else {
      const bool mixtral = s.model_type == "mixtral";
      const std::string m = p + (mixtral && !s.stacked_experts ? "block_sparse_moe." : "mlp.");
      b.add_rounded(m + "gate.weight", dt, {s.experts, s.hidden}, gaussian(s.experts, s.hidden, s.router_scale * proj));
      const int f = mixtral ? s.ffn : s.expert_ffn;
      if (s.stacked_experts) {
        add_expert_stacks(b, m + "experts.", s, f, gaussian);
      } else {
        for (int e = 0; e < s.experts; ++e) {
          const std::string x = m + "experts." + std::to_string(e) + ".";
          if (mixtral) mlp(x + "w1.weight", x + "w3.weight", x + "w2.weight", f);
          else mlp(x + "gate_proj.weight", x + "up_proj.weight", x + "down_proj.weight", f);
        }
      }
      if (s.model_type == "qwen2_moe") {
        const std::string x = p + "mlp.shared_expert.";
        mlp(x + "gate_proj.weight", x + "up_proj.weight", x + "down_proj.weight", s.shared_ffn);
        b.add_rounded(p + "mlp.shared_expert_gate.weight", dt, {1, s.hidden}, gaussian(1, s.hidden, proj));
      }
    }
    b.add_rounded(p + "input_layernorm.weight", dt, {s.hidden}, around_one(s.hidden, s.norm_sd));
    b.add_rounded(p + "post_attention_layernorm.weight", dt, {s.hidden}, around_one(s.hidden, s.norm_sd));
    if (qwen2) {
      b.add_rounded(p + "self_attn.q_proj.bias", dt, {q_dim}, gaussian(q_dim, 1, s.qkv_bias_sd));
      b.add_rounded(p + "self_attn.k_proj.bias", dt, {kv_dim}, gaussian(kv_dim, 1, s.qkv_bias_sd));
      b.add_rounded(p + "self_attn.v_proj.bias", dt, {kv_dim}, gaussian(kv_dim, 1, s.qkv_bias_sd));
    }
    if (qwen3) {
      b.add_rounded(p + "self_attn.q_norm.weight", dt, {head_dim}, around_one(head_dim, s.qk_norm_sd));
      b.add_rounded(p + "self_attn.k_norm.weight", dt, {head_dim}, around_one(head_dim, s.qk_norm_sd));
    }
  }
  b.add_rounded("model.norm.weight", dt, {s.hidden}, around_one(s.hidden, s.norm_sd));
  if (!s.tied) b.add_rounded("lm_head.weight", dt, {s.vocab, s.hidden}, gaussian(s.vocab, s.hidden, s.head_scale * proj));
  const char* arch = s.model_type == "mixtral"     ? "MixtralForCausalLM"
                     : s.model_type == "qwen2_moe" ? "Qwen2MoeForCausalLM"
                     : s.model_type == "qwen3_moe" ? "Qwen3MoeForCausalLM"
                     : qwen2                       ? "Qwen2ForCausalLM"
                     : qwen3                       ? "Qwen3ForCausalLM"
                                                   : "LlamaForCausalLM";
  nlohmann::json cfg = {{"architectures", {arch}}, {"model_type", s.model_type}, {"hidden_size", s.hidden},
                        {"intermediate_size", s.ffn}, {"num_hidden_layers", s.layers}, {"num_attention_heads", s.heads},
                        {"num_key_value_heads", s.kv_heads}, {"vocab_size", s.vocab},
                        {"max_position_embeddings", s.max_position_embeddings}, {"rms_norm_eps", 1e-5},
                        {"rope_theta", s.rope_theta}, {"tie_word_embeddings", s.tied}, {"hidden_act", "silu"},
                        {"torch_dtype", dt == DType::F32 ? "float32" : dt == DType::F16 ? "float16" : "bfloat16"}};
  if (s.head_dim > 0) cfg["head_dim"] = s.head_dim;
  if (!s.rope_scaling.is_null()) cfg["rope_scaling"] = s.rope_scaling;
  if (qwen3) cfg["attention_bias"] = false;
  if (s.model_type == "mixtral") {
    cfg["num_local_experts"] = s.experts;
    cfg["num_experts_per_tok"] = s.experts_per_tok;
  } else if (moe) {
    cfg["num_experts"] = s.experts;
    cfg["num_experts_per_tok"] = s.experts_per_tok;
    cfg["moe_intermediate_size"] = s.expert_ffn;
    cfg["norm_topk_prob"] = s.norm_topk_prob;
    cfg["decoder_sparse_step"] = 1;
    cfg["mlp_only_layers"] = nlohmann::json::array();
    if (s.model_type == "qwen2_moe") cfg["shared_expert_intermediate_size"] = s.shared_ffn;
  }
  write_model(dir, b, cfg.dump(2));
}

// A small model whose matrices are wider than 512 both ways, so that the spectral metric takes
// the randomized SVD path (seeded sketches, QR, power iterations).
inline SyntheticLlama randomized_svd_llama() {
  return {.hidden = 576, .heads = 4, .kv_heads = 4, .ffn = 1152, .layers = 2, .vocab = 640};
}

// Deterministic pseudo-random token ids in [0, vocab).

inline std::vector<std::uint32_t> random_tokens(std::size_t n, std::uint32_t vocab, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::uint32_t> t(n);
  for (auto& x : t) x = static_cast<std::uint32_t>(rng.next_u64() % vocab);
  return t;
}

}  // namespace ramq::testkit
