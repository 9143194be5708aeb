// Test support: a small Phi-3 / Phi-4 Hugging Face checkpoint (model_type "phi3") with
// Phi-3's config.json fields and tensor names: fused self_attn.qkv_proj [(4 + 2 x 2) x 64, 256]
// and mlp.gate_up_proj [2 x 512, 256] (rows of 256: every K-quant applies), 3 layers,
// grouped-query attention, untied head, F32 (or another dtype). Without longrope it is Phi-4's
// configuration (rope_scaling and sliding_window null); with it, Phi-3.5's (rope_scaling
// longrope, short factors 1 to 3 and long factors 4 to 40, original_max_position_embeddings 512
// of 4096).
#pragma once

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramq/rng.h"
#include "support/safetensors_builder.h"

namespace ramq::testkit {

inline constexpr int kHidden = 256, kHeads = 4, kKvHeads = 2, kHeadDim = 64, kFfn = 512, kLayers = 3, kVocab = 512;

struct Phi3Shape {
  bool longrope = false;
  bool k_before_q = false;     // mutation: qkv_proj rows stored k, q, v
  bool up_before_gate = false; // mutation: gate_up_proj rows stored up, gate
  std::uint64_t seed = 7;
  DType dtype = DType::F32;    // the checkpoint's storage dtype (values rounded to it)
};

inline std::vector<float> phi3_factors(double lo, double hi) {
  std::vector<float> f(kHeadDim / 2);
  for (std::size_t i = 0; i < f.size(); ++i)
    f[i] = static_cast<float>(lo * std::pow(hi / lo, static_cast<double>(i) / static_cast<double>(f.size() - 1)));
  return f;
}

// Rows [a | b | c] of a fused tensor from its parts, each [rows_i, kHidden].
inline std::vector<float> phi3_stack(const std::vector<std::vector<float>>& parts) {
  std::vector<float> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

inline void write_phi3(const std::filesystem::path& dir, const Phi3Shape& s) {
  std::filesystem::create_directories(dir);
  Rng rng(s.seed);
  auto gaussian = [&](std::int64_t n, double sd) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = static_cast<float>(rng.normal() * sd);
    return v;
  };
  auto around_one = [&](std::int64_t n) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = static_cast<float>(1.0 + rng.normal() * 0.3);
    return v;
  };
  const DType dt = s.dtype;
  const std::int64_t q = kHeads * kHeadDim, kv = kKvHeads * kHeadDim, h = kHidden;
  const double proj = 1.0 / std::sqrt(double(h));
  SafetensorsBuilder b;
  b.add_rounded("model.embed_tokens.weight", dt, {kVocab, h}, gaussian(kVocab * h, 1.0));
  for (int l = 0; l < kLayers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const auto wq = gaussian(q * h, 2 * proj), wk = gaussian(kv * h, 2 * proj), wv = gaussian(kv * h, proj);
    b.add_rounded(p + "self_attn.qkv_proj.weight", dt, {q + 2 * kv, h},
                  s.k_before_q ? phi3_stack({wk, wq, wv}) : phi3_stack({wq, wk, wv}));
    b.add_rounded(p + "self_attn.o_proj.weight", dt, {h, q}, gaussian(h * q, 1.0 / std::sqrt(double(q))));
    const auto gate = gaussian(kFfn * h, proj), up = gaussian(kFfn * h, proj);
    b.add_rounded(p + "mlp.gate_up_proj.weight", dt, {2 * kFfn, h},
                  s.up_before_gate ? phi3_stack({up, gate}) : phi3_stack({gate, up}));
    b.add_rounded(p + "mlp.down_proj.weight", dt, {h, kFfn}, gaussian(h * kFfn, 1.0 / std::sqrt(double(kFfn))));
    b.add_rounded(p + "input_layernorm.weight", dt, {h}, around_one(h));
    b.add_rounded(p + "post_attention_layernorm.weight", dt, {h}, around_one(h));
  }
  b.add_rounded("model.norm.weight", dt, {h}, around_one(h));
  b.add_rounded("lm_head.weight", dt, {kVocab, h}, gaussian(kVocab * h, 4 * proj));
  nlohmann::json cfg = {{"architectures", {"Phi3ForCausalLM"}}, {"model_type", "phi3"}, {"hidden_size", kHidden},
              {"intermediate_size", kFfn}, {"num_hidden_layers", kLayers}, {"num_attention_heads", kHeads},
              {"num_key_value_heads", kKvHeads}, {"vocab_size", kVocab}, {"hidden_act", "silu"},
              {"rms_norm_eps", 1e-5}, {"rope_theta", 10000.0}, {"tie_word_embeddings", false},
              {"attention_dropout", 0.0}, {"embd_pdrop", 0.0}, {"resid_pdrop", 0.0}, {"initializer_range", 0.02},
              {"bos_token_id", 1}, {"eos_token_id", 2}, {"pad_token_id", 0}, {"use_cache", true},
              {"torch_dtype", dt == DType::F32 ? "float32" : dt == DType::F16 ? "float16" : "bfloat16"}};
  if (s.longrope) {
    cfg["max_position_embeddings"] = 4096;
    cfg["original_max_position_embeddings"] = 512;
    cfg["sliding_window"] = 262144;
    cfg["rope_scaling"] = {{"type", "longrope"},
                           {"short_factor", phi3_factors(1.0, 3.0)},
                           {"long_factor", phi3_factors(4.0, 40.0)}};
  } else {  // Phi-4
    cfg["max_position_embeddings"] = 16384;
    cfg["original_max_position_embeddings"] = 16384;
    cfg["sliding_window"] = nullptr;
    cfg["rope_scaling"] = nullptr;
  }
  write_model(dir, b, cfg.dump(2));
}

}  // namespace ramq::testkit
