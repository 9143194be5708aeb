// The hybrid linear-attention layout (arch/hybrid_decoder.h).
#include "arch/hybrid_decoder.h"

#include "arch/moe_decoder.h"

#include "ramq/config_fields.h"
#include "ramq/family_config.h"

namespace ramq {

namespace {

constexpr const char* kH = "hidden_size";
constexpr const char* kNv = "linear_num_value_heads";
constexpr const char* kCk = "linear_num_key_heads x linear_key_head_dim";
constexpr const char* kCv = "linear_num_value_heads x linear_value_head_dim";

ExpectedShape shape(std::vector<std::int64_t> dims, const std::string& formula) {
  return {std::move(dims), "[" + formula + "]"};
}

// Gated DeltaNet tensors ("linear_attn.*"), both spellings: qwen3_next's fused in_proj_qkvz /
// in_proj_ba, Qwen3.5's in_proj_qkv / in_proj_z / in_proj_b / in_proj_a.
std::optional<ExpectedShape> linear_attention_shape(std::string_view s, const LinearAttentionFields& la,
                                                    std::int64_t h) {
  const std::int64_t ck = la.key_dim(), cv = la.value_dim(), nv = la.value_heads;
  const std::string H = kH, Ck = kCk, Cv = kCv, Nv = kNv;
  if (s == "linear_attn.in_proj_qkvz.weight") return shape({2 * ck + 2 * cv, h}, "2 x " + Ck + " + 2 x " + Cv + ", " + H);
  if (s == "linear_attn.in_proj_ba.weight") return shape({2 * nv, h}, "2 x " + Nv + ", " + H);
  if (s == "linear_attn.in_proj_qkv.weight") return shape({2 * ck + cv, h}, "2 x " + Ck + " + " + Cv + ", " + H);
  if (s == "linear_attn.in_proj_z.weight") return shape({cv, h}, Cv + ", " + H);
  if (s == "linear_attn.in_proj_b.weight" || s == "linear_attn.in_proj_a.weight") return shape({nv, h}, Nv + ", " + H);
  if (s == "linear_attn.conv1d.weight")
    return shape({la.conv_dim(), 1, la.conv_kernel}, "2 x " + Ck + " + " + Cv + ", 1, linear_conv_kernel_dim");
  if (s == "linear_attn.dt_bias" || s == "linear_attn.A_log") return shape({nv}, Nv);
  if (s == "linear_attn.norm.weight") return shape({la.value_head_dim}, "linear_value_head_dim");
  if (s == "linear_attn.out_proj.weight") return shape({h, cv}, H + ", " + Cv);
  return std::nullopt;
}

// Router, routed experts (per expert "mlp.experts.*.<proj>"; Qwen3.5-MoE's fused 3-D stacks are
// read per expert, read/stacked_experts.h), the shared expert and its gate.
std::optional<ExpectedShape> moe_shape(std::string_view s, const MoeLayout& layout, const ConfigFields& f,
                                       std::int64_t h) {
  const MoeFields m = read_moe_fields(f, layout);
  const std::string H = kH, E(layout.experts_field), I(layout.expert_ff_field), S(layout.shared_ff_field);
  const std::string key = expert_stack_key(s);
  if (key == "mlp.gate.weight") return shape({m.experts, h}, E + ", " + H);
  if (key == "mlp.experts.*.gate_proj.weight" || key == "mlp.experts.*.up_proj.weight")
    return shape({m.expert_ff, h}, I + ", " + H);
  if (key == "mlp.experts.*.down_proj.weight") return shape({h, m.expert_ff}, H + ", " + I);
  if (key == "mlp.shared_expert.gate_proj.weight" || key == "mlp.shared_expert.up_proj.weight")
    return shape({m.shared_ff, h}, S + ", " + H);
  if (key == "mlp.shared_expert.down_proj.weight") return shape({h, m.shared_ff}, H + ", " + S);
  if (key == "mlp.shared_expert_gate.weight") return shape({1, h}, "1, " + H);
  return std::nullopt;
}

std::optional<ExpectedShape> hybrid_layer_shape(std::string_view s, const MoeLayout* moe, const ModelConfig& c) {
  const ConfigFields f(c.raw, "config.json");
  if (s.starts_with("linear_attn."))
    return linear_attention_shape(s, read_linear_attention_fields(f, c), c.hidden_size);
  // The query and its output gate, per head [q (head_dim); gate (head_dim)].
  if (s == "self_attn.q_proj.weight")
    return shape({2 * c.num_attention_heads * c.head_dim, c.hidden_size},
                 "num_attention_heads x head_dim x 2, " + std::string(kH));
  if (moe != nullptr && s.starts_with("mlp.")) return moe_shape(s, *moe, f, c.hidden_size);
  return dense_layer_shape(s, c);
}

}  // namespace

std::optional<ExpectedShape> hybrid_decoder_shape(const TensorNames& names, const MoeLayout* moe, const ModelConfig& c,
                                                  std::string_view hf_name) {
  const auto& g = names.global;
  if (hf_name == g[0].hf || hf_name == g[2].hf) return shape({c.vocab_size, c.hidden_size}, "vocab_size, hidden_size");
  if (hf_name == g[1].hf) return shape({c.hidden_size}, kH);
  if (!hf_name.starts_with(names.hf_layer_prefix)) return std::nullopt;
  hf_name.remove_prefix(names.hf_layer_prefix.size());
  if (!take_layer_index(hf_name)) return std::nullopt;
  return hybrid_layer_shape(hf_name, moe, c);
}

ModelFamily hybrid_decoder_family(std::string_view name, std::span<const std::string_view> model_types,
                                  std::string_view gguf_architecture, std::string_view hf_architecture,
                                  const TensorNames& names, const MoeLayout* moe) {
  ModelFamily f = dense_decoder_family(name, model_types, gguf_architecture, hf_architecture);
  f.names = &names;
  f.moe = moe;
  f.hybrid_attention = true;
  f.qk_norm = false;  // q_norm / k_norm are in the full-attention layers only (Presence::FullAttention)
  f.left_out = hybrid_left_out;
  return f;
}

bool hybrid_left_out(std::string_view hf_name) {
  return hf_name.starts_with("model.visual") || hf_name.starts_with("vision_tower") ||
         hf_name.find("mtp.") != std::string_view::npos;
}

std::string qwen3_5_mlx_path(std::string_view hf_name) {
  constexpr std::string_view kHf = "model.language_model.";
  if (hybrid_left_out(hf_name)) return "";
  if (hf_name == "lm_head.weight") return "language_model.lm_head.weight";
  if (!hf_name.starts_with(kHf)) return std::string(hf_name);
  return moe_mlx_path("language_model.model." + std::string(hf_name.substr(kHf.size())), {});
}

}  // namespace ramq
