// Test support: a small hybrid linear-attention Hugging Face checkpoint (qwen3_next, qwen3_5,
// qwen3_5_moe) with the family's real tensor names and config.json fields, deterministic random
// weights. Layouts (notes: /work/notes/qwen35_facts.md §2-3):
//  * qwen3_next: flat config.json (Qwen3NextForCausalLM), "model.layers.N.", per-expert tensors
//    "mlp.experts.E.{gate,up,down}_proj.weight", fused in_proj_qkvz / in_proj_ba; layer kinds from
//    full_attention_interval (no layer_types);
//  * qwen3_5 / qwen3_5_moe: Qwen3_5(Moe)ForConditionalGeneration, the text model's fields under
//    "text_config" (with layer_types and rope_parameters), tensors under
//    "model.language_model.", a small vision tower "model.visual.*" and an "mtp.*" block (both
//    of no use to a text model), unfused in_proj_qkv / in_proj_z / in_proj_b / in_proj_a;
//    qwen3_5_moe's experts fused into 3-D "mlp.experts.gate_up_proj" / "mlp.experts.down_proj".
// Defaults: 4 layers (linear, linear, linear, full), 4 experts (not 8: llama.cpp's quantization
// rules single out exactly 8), every matrix row a multiple of 256 (K-quants): hidden 256,
// heads 2 x head_dim 128, linear heads 2 key / 4 value of dim 64 (key_dim 128, value_dim 256,
// conv channels 512), expert and shared-expert width 256, dense MLP 512.
// Stored as Hugging Face stores them: RMSNorm weights zero-centred (applied as 1 + w) except
// linear_attn.norm (applied as w), A_log in F32 (the log of decay rates in [1, 16]), the rest BF16.
#pragma once

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramq/rng.h"
#include "support/safetensors_builder.h"

namespace ramq::testkit {

struct SyntheticHybrid {
  std::string model_type = "qwen3_5_moe";  // "qwen3_next", "qwen3_5", "qwen3_5_moe"
  int hidden = 256, heads = 2, kv_heads = 1, head_dim = 128, layers = 4, vocab = 512;
  int key_heads = 2, value_heads = 4, key_head_dim = 64, value_head_dim = 64, conv_kernel = 4;
  int experts = 4, top_k = 2, expert_ffn = 256, shared_ffn = 256, dense_ffn = 512;
  int full_attention_interval = 4;
  bool tied = false;
  bool extras = true;  // qwen3_5*: the vision tower and mtp.* tensors
  std::string omit;    // a tensor name left out (tests of the config/tensor check)
  std::uint64_t seed = 35;

  bool moe() const { return model_type != "qwen3_5"; }
  bool wrapped() const { return model_type != "qwen3_next"; }  // multimodal wrapper, text_config
  bool linear_layer(int i) const { return (i + 1) % full_attention_interval != 0; }
  std::string layer_prefix(int i) const {
    return (wrapped() ? "model.language_model.layers." : "model.layers.") + std::to_string(i) + ".";
  }
  std::string text_prefix() const { return wrapped() ? "model.language_model." : "model."; }
};

// The text model's fields (qwen3_next: the whole config).
inline nlohmann::json synthetic_hybrid_text_config(const SyntheticHybrid& s) {
  nlohmann::json c = {{"hidden_size", s.hidden}, {"num_hidden_layers", s.layers},
                      {"num_attention_heads", s.heads}, {"num_key_value_heads", s.kv_heads},
                      {"head_dim", s.head_dim}, {"vocab_size", s.vocab}, {"max_position_embeddings", 32768},
                      {"rms_norm_eps", 1e-6}, {"hidden_act", "silu"}, {"attention_bias", false},
                      {"attention_dropout", 0.0}, {"initializer_range", 0.02}, {"use_cache", true},
                      {"linear_conv_kernel_dim", s.conv_kernel}, {"linear_key_head_dim", s.key_head_dim},
                      {"linear_value_head_dim", s.value_head_dim}, {"linear_num_key_heads", s.key_heads},
                      {"linear_num_value_heads", s.value_heads},
                      {"full_attention_interval", s.full_attention_interval}};
  if (s.moe()) {
    c["num_experts"] = s.experts;
    c["num_experts_per_tok"] = s.top_k;
    c["moe_intermediate_size"] = s.expert_ffn;
    c["shared_expert_intermediate_size"] = s.shared_ffn;
    c["router_aux_loss_coef"] = 0.001;
    c["output_router_logits"] = false;
  }
  if (!s.wrapped()) {
    c["model_type"] = "qwen3_next";
    c["architectures"] = {"Qwen3NextForCausalLM"};
    c["intermediate_size"] = s.dense_ffn;
    c["rope_theta"] = 10000000.0;
    c["partial_rotary_factor"] = 0.25;
    c["rope_scaling"] = nullptr;
    c["decoder_sparse_step"] = 1;
    c["mlp_only_layers"] = nlohmann::json::array();
    c["norm_topk_prob"] = true;
    c["tie_word_embeddings"] = s.tied;
    c["torch_dtype"] = "bfloat16";
    c["bos_token_id"] = 1;
    c["eos_token_id"] = 2;
    return c;
  }
  c["model_type"] = s.moe() ? "qwen3_5_moe_text" : "qwen3_5_text";
  if (!s.moe()) c["intermediate_size"] = s.dense_ffn;
  nlohmann::json types = nlohmann::json::array();
  for (int i = 0; i < s.layers; ++i) types.push_back(s.linear_layer(i) ? "linear_attention" : "full_attention");
  c["layer_types"] = types;
  // mrope_section scaled down to the tiny head: its sum is at most rotary dims / 2 (32 / 2).
  c["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 10000000.0}, {"partial_rotary_factor", 0.25},
                          {"mrope_section", {6, 5, 5}}, {"mrope_interleaved", true}};
  c["attn_output_gate"] = true;
  c["mamba_ssm_dtype"] = "float32";
  c["mtp_num_hidden_layers"] = 1;
  c["mtp_use_dedicated_embeddings"] = false;
  c["dtype"] = "bfloat16";
  c["eos_token_id"] = 2;
  return c;
}

inline nlohmann::json synthetic_hybrid_config(const SyntheticHybrid& s) {
  if (!s.wrapped()) return synthetic_hybrid_text_config(s);
  const bool moe = s.moe();
  return {{"architectures", {moe ? "Qwen3_5MoeForConditionalGeneration" : "Qwen3_5ForConditionalGeneration"}},
          {"model_type", moe ? "qwen3_5_moe" : "qwen3_5"},
          {"text_config", synthetic_hybrid_text_config(s)},
          {"vision_config", {{"depth", 1}, {"hidden_size", 16}, {"model_type", moe ? "qwen3_5_moe" : "qwen3_5"}}},
          {"image_token_id", 248056}, {"video_token_id", 248057}, {"vision_start_token_id", 248053},
          {"vision_end_token_id", 248054}, {"tie_word_embeddings", s.tied}};
}

// Adds the tensors of one layer (prefix p) through `add(name, shape, sd, mean)`.
template <class Add>
void add_synthetic_hybrid_layer(const SyntheticHybrid& s, int layer, Add&& add, SafetensorsBuilder& b, Rng& rng) {
  const std::string p = s.layer_prefix(layer);
  const std::int64_t h = s.hidden, hd = s.head_dim, nv = s.value_heads;
  const std::int64_t ck = std::int64_t{s.key_heads} * s.key_head_dim, cv = nv * s.value_head_dim;
  const double sd = 1.0 / std::sqrt(static_cast<double>(h));
  add(p + "input_layernorm.weight", {h}, 0.1, 0.0);
  add(p + "post_attention_layernorm.weight", {h}, 0.1, 0.0);
  if (s.linear_layer(layer)) {
    const std::string a = p + "linear_attn.";
    if (s.wrapped()) {
      add(a + "in_proj_qkv.weight", {2 * ck + cv, h}, sd, 0.0);
      add(a + "in_proj_z.weight", {cv, h}, sd, 0.0);
      add(a + "in_proj_b.weight", {nv, h}, sd, 0.0);
      add(a + "in_proj_a.weight", {nv, h}, sd, 0.0);
    } else {
      add(a + "in_proj_qkvz.weight", {2 * ck + 2 * cv, h}, sd, 0.0);
      add(a + "in_proj_ba.weight", {2 * nv, h}, sd, 0.0);
    }
    add(a + "conv1d.weight", {2 * ck + cv, 1, s.conv_kernel}, 0.5, 0.0);
    add(a + "dt_bias", {nv}, 0.1, 1.0);
    std::vector<float> a_log(static_cast<std::size_t>(nv));
    for (auto& x : a_log) x = static_cast<float>(std::log(1.0 + 15.0 * rng.uniform()));
    if (s.omit != a + "A_log") b.add_rounded(a + "A_log", DType::F32, {nv}, a_log);
    add(a + "norm.weight", {std::int64_t{s.value_head_dim}}, 0.1, 1.0);
    add(a + "out_proj.weight", {h, cv}, 1.0 / std::sqrt(static_cast<double>(cv)), 0.0);
  } else {
    add(p + "self_attn.q_proj.weight", {2 * s.heads * hd, h}, sd, 0.0);
    add(p + "self_attn.k_proj.weight", {s.kv_heads * hd, h}, sd, 0.0);
    add(p + "self_attn.v_proj.weight", {s.kv_heads * hd, h}, sd, 0.0);
    add(p + "self_attn.o_proj.weight", {h, s.heads * hd}, 1.0 / std::sqrt(static_cast<double>(s.heads * hd)), 0.0);
    add(p + "self_attn.q_norm.weight", {hd}, 0.1, 0.0);
    add(p + "self_attn.k_norm.weight", {hd}, 0.1, 0.0);
  }
  const double down_sd = 1.0 / std::sqrt(static_cast<double>(s.moe() ? s.expert_ffn : s.dense_ffn));
  if (!s.moe()) {
    add(p + "mlp.gate_proj.weight", {s.dense_ffn, h}, sd, 0.0);
    add(p + "mlp.up_proj.weight", {s.dense_ffn, h}, sd, 0.0);
    add(p + "mlp.down_proj.weight", {h, s.dense_ffn}, down_sd, 0.0);
    return;
  }
  add(p + "mlp.gate.weight", {s.experts, h}, sd, 0.0);
  if (s.wrapped()) {
    add(p + "mlp.experts.gate_up_proj", {s.experts, 2 * s.expert_ffn, h}, sd, 0.0);
    add(p + "mlp.experts.down_proj", {s.experts, h, s.expert_ffn}, down_sd, 0.0);
  } else {
    for (int e = 0; e < s.experts; ++e) {
      const std::string x = p + "mlp.experts." + std::to_string(e) + ".";
      add(x + "gate_proj.weight", {s.expert_ffn, h}, sd, 0.0);
      add(x + "up_proj.weight", {s.expert_ffn, h}, sd, 0.0);
      add(x + "down_proj.weight", {h, s.expert_ffn}, down_sd, 0.0);
    }
  }
  add(p + "mlp.shared_expert.gate_proj.weight", {s.shared_ffn, h}, sd, 0.0);
  add(p + "mlp.shared_expert.up_proj.weight", {s.shared_ffn, h}, sd, 0.0);
  add(p + "mlp.shared_expert.down_proj.weight", {h, s.shared_ffn}, 1.0 / std::sqrt(double(s.shared_ffn)), 0.0);
  add(p + "mlp.shared_expert_gate.weight", {1, h}, sd, 0.0);
}

inline void write_synthetic_hybrid(const std::filesystem::path& dir, const SyntheticHybrid& s) {
  std::filesystem::create_directories(dir);
  Rng rng(s.seed);
  SafetensorsBuilder b;
  auto add = [&](const std::string& name, std::vector<std::int64_t> shape, double sd, double mean) {
    std::int64_t n = 1;
    for (const auto d : shape) n *= d;
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = static_cast<float>(mean + rng.normal() * sd);
    if (name != s.omit) b.add_rounded(name, DType::BF16, shape, v);
  };
  const std::int64_t h = s.hidden;
  add(s.text_prefix() + "embed_tokens.weight", {s.vocab, h}, 1.0, 0.0);
  for (int l = 0; l < s.layers; ++l) add_synthetic_hybrid_layer(s, l, add, b, rng);
  add(s.text_prefix() + "norm.weight", {h}, 0.1, 0.0);
  if (!s.tied) add("lm_head.weight", {s.vocab, h}, 1.0 / std::sqrt(static_cast<double>(h)), 0.0);
  if (s.wrapped() && s.extras) {
    add("model.visual.patch_embed.proj.weight", {16, 3, 2, 2, 2}, 0.1, 0.0);
    add("model.visual.blocks.0.attn.qkv.weight", {48, 16}, 0.1, 0.0);
    add("mtp.fc.weight", {h, 2 * h}, 0.05, 0.0);
    add("mtp.norm.weight", {h}, 0.1, 0.0);
    add("mtp.layers.0.input_layernorm.weight", {h}, 0.1, 0.0);
  }
  write_model(dir, b, synthetic_hybrid_config(s).dump(2));
}

}  // namespace ramq::testkit
