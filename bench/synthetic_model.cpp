#include "synthetic_model.h"

namespace ramq::bench {

namespace {
struct Preset {
  const char* name;
  ModelShape shape;
};
// hidden, layers, heads, kv_heads, ffn, vocab, tied
constexpr Preset kPresets[] = {
    {"tiny", {512, 8, 8, 4, 1536, 16000, false}},        // 41.6M params, 83 MB BF16
    {"1b", {2048, 16, 32, 8, 8192, 128256, true}},       // 1.236B params, 2.47 GB (Llama-3.2-1B)
    {"8b", {4096, 32, 32, 8, 14336, 128256, false}},     // 8.030B params, 16.06 GB (Llama-3-8B)
    {"30gb", {6144, 35, 48, 8, 16384, 128256, false}},   // 15.22B params, 30.45 GB
    // Qwen3-30B-A3B: hidden 2048, 32 heads of 128, 4 kv heads, 128 experts of 768, top-8, vocab
    // 151936, untied; 4 layers instead of 48 (3.11B params, 6.22 GB).
    {"30b-a3b", {2048, 4, 32, 4, 6144, 151936, false, 128, 8, 768, 128}},
    // Qwen3.5-397B-A17B: hidden 4096, 512 experts of 1024 (and a shared one), top-10, vocab
    // 248320, untied; full attention 32 heads / 2 kv heads of 256; Gated DeltaNet 16 key / 64
    // value heads of 128; 2 layers instead of 60, full attention every 2nd instead of every 4th
    // so that both kinds occur (13.1B params, 26.2 GB of BF16 in the layers, 4.1 GB embeddings).
    {"397b-a17b", {4096, 2, 32, 2, 1024, 248320, false, 512, 10, 1024, 256, true, 16, 64, 128, 2}},
};
}  // namespace

std::optional<ModelShape> preset_shape(const std::string& name) {
  for (const auto& p : kPresets)
    if (name == p.name) return p.shape;
  return std::nullopt;
}

std::vector<std::string> preset_names() {
  std::vector<std::string> v;
  for (const auto& p : kPresets) v.emplace_back(p.name);
  return v;
}

std::vector<TensorSpec> qwen3_5_moe_tensors(const ModelShape& s) {
  const std::int64_t h = s.hidden, hd = s.head_dim(), ck = s.linear_heads * s.linear_head_dim;
  const std::int64_t cv = s.linear_value_heads * s.linear_head_dim;
  std::vector<TensorSpec> t;
  t.push_back({"model.language_model.embed_tokens.weight", {s.vocab, h}, false});
  for (std::int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "model.language_model.layers." + std::to_string(l) + ".";
    t.push_back({p + "input_layernorm.weight", {h}, true});
    if ((l + 1) % s.full_attention_interval != 0) {
      const std::string a = p + "linear_attn.";
      t.push_back({a + "in_proj_qkv.weight", {2 * ck + cv, h}, false});
      t.push_back({a + "in_proj_z.weight", {cv, h}, false});
      t.push_back({a + "in_proj_b.weight", {s.linear_value_heads, h}, false});
      t.push_back({a + "in_proj_a.weight", {s.linear_value_heads, h}, false});
      t.push_back({a + "conv1d.weight", {2 * ck + cv, 1, 4}, false});
      t.push_back({a + "dt_bias", {s.linear_value_heads}, true});
      t.push_back({a + "A_log", {s.linear_value_heads}, false});
      t.push_back({a + "norm.weight", {s.linear_head_dim}, true});
      t.push_back({a + "out_proj.weight", {h, cv}, false});
    } else {
      t.push_back({p + "self_attn.q_proj.weight", {2 * s.heads * hd, h}, false});
      t.push_back({p + "self_attn.k_proj.weight", {s.kv_heads * hd, h}, false});
      t.push_back({p + "self_attn.v_proj.weight", {s.kv_heads * hd, h}, false});
      t.push_back({p + "self_attn.o_proj.weight", {h, s.heads * hd}, false});
      t.push_back({p + "self_attn.q_norm.weight", {hd}, true});
      t.push_back({p + "self_attn.k_norm.weight", {hd}, true});
    }
    t.push_back({p + "post_attention_layernorm.weight", {h}, true});
    t.push_back({p + "mlp.gate.weight", {s.experts, h}, false});
    t.push_back({p + "mlp.experts.gate_up_proj", {s.experts, 2 * s.expert_ffn, h}, false});
    t.push_back({p + "mlp.experts.down_proj", {s.experts, h, s.expert_ffn}, false});
    t.push_back({p + "mlp.shared_expert.gate_proj.weight", {s.expert_ffn, h}, false});
    t.push_back({p + "mlp.shared_expert.up_proj.weight", {s.expert_ffn, h}, false});
    t.push_back({p + "mlp.shared_expert.down_proj.weight", {h, s.expert_ffn}, false});
    t.push_back({p + "mlp.shared_expert_gate.weight", {1, h}, false});
  }
  t.push_back({"model.language_model.norm.weight", {h}, true});
  if (!s.tied) t.push_back({"lm_head.weight", {s.vocab, h}, false});
  return t;
}

std::vector<TensorSpec> llama_tensors(const ModelShape& s) {
  if (s.hybrid) return qwen3_5_moe_tensors(s);
  const std::int64_t q = s.heads * s.head_dim(), kv = s.kv_heads * s.head_dim();
  std::vector<TensorSpec> t;
  t.push_back({"model.embed_tokens.weight", {s.vocab, s.hidden}, false});
  for (std::int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    t.push_back({p + "input_layernorm.weight", {s.hidden}, true});
    t.push_back({p + "self_attn.q_proj.weight", {q, s.hidden}, false});
    t.push_back({p + "self_attn.k_proj.weight", {kv, s.hidden}, false});
    t.push_back({p + "self_attn.v_proj.weight", {kv, s.hidden}, false});
    t.push_back({p + "self_attn.o_proj.weight", {s.hidden, q}, false});
    t.push_back({p + "post_attention_layernorm.weight", {s.hidden}, true});
    if (s.experts == 0) {
      t.push_back({p + "mlp.gate_proj.weight", {s.ffn, s.hidden}, false});
      t.push_back({p + "mlp.up_proj.weight", {s.ffn, s.hidden}, false});
      t.push_back({p + "mlp.down_proj.weight", {s.hidden, s.ffn}, false});
      continue;
    }
    t.push_back({p + "self_attn.q_norm.weight", {s.head_dim()}, true});
    t.push_back({p + "self_attn.k_norm.weight", {s.head_dim()}, true});
    t.push_back({p + "mlp.gate.weight", {s.experts, s.hidden}, false});
    for (std::int64_t e = 0; e < s.experts; ++e) {
      const std::string x = p + "mlp.experts." + std::to_string(e) + ".";
      t.push_back({x + "gate_proj.weight", {s.expert_ffn, s.hidden}, false});
      t.push_back({x + "up_proj.weight", {s.expert_ffn, s.hidden}, false});
      t.push_back({x + "down_proj.weight", {s.hidden, s.expert_ffn}, false});
    }
  }
  t.push_back({"model.norm.weight", {s.hidden}, true});
  if (!s.tied) t.push_back({"lm_head.weight", {s.vocab, s.hidden}, false});
  return t;
}

}  // namespace ramq::bench
