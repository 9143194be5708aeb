// arch, internal: what the hybrid linear-attention families (qwen3_next, qwen3_5, qwen3_5_moe)
// share: layers of two kinds (config.json's layer_types, else full_attention_interval), gated
// full attention whose q_proj holds the query and its output gate ([heads x head_dim x 2,
// hidden_size], per head [q; gate]), Gated DeltaNet linear attention (conv1d, A_log, dt_bias,
// a gated RMSNorm, out_proj), zero-centred RMSNorms, and the shapes config.json implies.
// Facts: /work/notes/qwen35_facts.md (transformers modeling_qwen3_next.py / modeling_qwen3_5.py,
// llama.cpp src/models/qwen3next.cpp / qwen35.cpp, mlx_lm models/qwen3_next.py / qwen3_5.py).
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "arch/dense_decoder.h"

namespace ramq {

// Every layer's norms and the full-attention layers' projections and q/k norms. llama.cpp names
// post_attention_layernorm "post_attention_norm" in these architectures (not "ffn_norm").
inline constexpr std::array<TensorName, 8> kHybridAttentionNames{{
    {"input_layernorm.weight", "attn_norm.weight"},
    {"post_attention_layernorm.weight", "post_attention_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight", Presence::FullAttention},
    {"self_attn.k_proj.weight", "attn_k.weight", Presence::FullAttention},
    {"self_attn.v_proj.weight", "attn_v.weight", Presence::FullAttention},
    {"self_attn.o_proj.weight", "attn_output.weight", Presence::FullAttention},
    {"self_attn.q_norm.weight", "attn_q_norm.weight", Presence::FullAttention},
    {"self_attn.k_norm.weight", "attn_k_norm.weight", Presence::FullAttention},
}};

// The linear-attention rows both spellings share. dt_bias and A_log have no ".weight" suffix;
// llama.cpp stores dt_bias as "ssm_dt.bias" and -exp(A_log) as "ssm_a".
inline constexpr std::array<TensorName, 5> kLinearAttentionCommonNames{{
    {"linear_attn.conv1d.weight", "ssm_conv1d.weight", Presence::LinearAttention},
    {"linear_attn.dt_bias", "ssm_dt.bias", Presence::LinearAttention},
    {"linear_attn.A_log", "ssm_a", Presence::LinearAttention},
    {"linear_attn.norm.weight", "ssm_norm.weight", Presence::LinearAttention},
    {"linear_attn.out_proj.weight", "ssm_out.weight", Presence::LinearAttention},
}};

// The shared expert and its gate (qwen3_next, qwen3_5_moe).
inline constexpr std::array<TensorName, 4> kSharedExpertNames{{
    {"mlp.shared_expert_gate.weight", "ffn_gate_inp_shexp.weight"},
    {"mlp.shared_expert.gate_proj.weight", "ffn_gate_shexp.weight"},
    {"mlp.shared_expert.up_proj.weight", "ffn_up_shexp.weight"},
    {"mlp.shared_expert.down_proj.weight", "ffn_down_shexp.weight"},
}};

// The shape config.json implies for a Hugging Face tensor of a hybrid family (`moe` nullptr: a
// dense MLP of intermediate_size); nullopt for names of no known role (vision tower, mtp.*).
// names.global is [embedding, final norm, head].
std::optional<ExpectedShape> hybrid_decoder_shape(const TensorNames& names, const MoeLayout* moe, const ModelConfig& c,
                                                  std::string_view hf_name);

// mlx_lm's parameter path of a Qwen3.5 / Qwen3.5-MoE tensor after sanitize() (mlx_lm
// models/qwen3_5.py, qwen3_5_moe.py at d78bf58e): "model.language_model." -> "language_model.model.",
// "lm_head.weight" -> "language_model.lm_head.weight", a routed expert's
// "mlp.experts.E.<proj>.weight" -> its stack "mlp.switch_mlp.<proj>.weight" (sanitize splits the
// fused gate_up_proj into switch_mlp.gate_proj / up_proj). The vision tower ("model.visual.*") and
// the multi-token-prediction block ("mtp.*"), which sanitize drops: "". Other names unchanged.
std::string qwen3_5_mlx_path(std::string_view hf_name);

// The vision tower ("model.visual.*", "vision_tower.*") and the multi-token-prediction block
// ("mtp.*"): ModelFamily::left_out of the hybrid families.
bool hybrid_left_out(std::string_view hf_name);

// A hybrid family with its names and experts; the family's file sets expected_shape (calling
// hybrid_decoder_shape with its tables) and mlx_path. Norms, routers, conv1d, A_log and dt_bias
// are never quantized.
ModelFamily hybrid_decoder_family(std::string_view name, std::span<const std::string_view> model_types,
                                  std::string_view gguf_architecture, std::string_view hf_architecture,
                                  const TensorNames& names, const MoeLayout* moe);

// The GGUF metadata llama.cpp's hybrid architectures read beyond the common decoder keys:
// rope.dimension_count (the rotated width), rope.dimension_sections (qwen35, qwen35moe), ssm.*
// (conv_kernel, state_size, group_count, time_step_rank, inner_size),
// attention.recurrent_layers (when config.json has layer_types) and full_attention_interval.
// Appended to kvs (src/arch/hybrid_gguf_metadata.cpp). Throws Error(config_file, "", ...) for a
// config llama.cpp cannot run (key and value head widths that differ).
void append_hybrid_gguf_metadata(const ModelFamily& family, const ModelConfig& cfg, const std::string& config_file,
                                 std::vector<struct GgufKV>& kvs);

}  // namespace ramq
