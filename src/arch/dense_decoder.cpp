// The dense decoder layout shared by the llama, qwen2 and qwen3 families (arch/dense_decoder.h).
#include "arch/dense_decoder.h"

namespace ramq {

namespace {

constexpr TensorName kGlobalNames[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight", Presence::Untied},
};

constexpr std::array<TensorName, 6> kMlpNames{{
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.gate_proj.bias", "ffn_gate.bias", Presence::MlpBias},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.up_proj.bias", "ffn_up.bias", Presence::MlpBias},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"mlp.down_proj.bias", "ffn_down.bias", Presence::MlpBias},
}};

constexpr auto kLayerNames = concat_names(kDecoderAttentionNames, kMlpNames);

// Rotary frequency buffers some checkpoints store; llama.cpp computes them.
constexpr std::string_view kUnused[] = {"self_attn.rotary_emb.inv_freq"};

constexpr TensorNames kNames{"model.layers.", "blk.", kGlobalNames, kLayerNames, kUnused};

ExpectedShape matrix(std::int64_t rows, std::int64_t cols, const char* rows_formula, const char* cols_formula) {
  return {{rows, cols}, std::string("[") + rows_formula + ", " + cols_formula + "]"};
}
ExpectedShape vector(std::int64_t n, const char* formula) { return {{n}, std::string("[") + formula + "]"}; }

}  // namespace

std::optional<ExpectedShape> dense_layer_shape(std::string_view s, const ModelConfig& c) {
  const std::int64_t h = c.hidden_size, q = c.num_attention_heads * c.head_dim,
                     kv = c.num_key_value_heads * c.head_dim, ff = c.intermediate_size;
  const char *H = "hidden_size", *Q = "num_attention_heads x head_dim", *KV = "num_key_value_heads x head_dim",
             *F = "intermediate_size";
  if (s == "input_layernorm.weight" || s == "post_attention_layernorm.weight") return vector(h, H);
  if (s == "self_attn.q_proj.weight") return matrix(q, h, Q, H);
  if (s == "self_attn.k_proj.weight" || s == "self_attn.v_proj.weight") return matrix(kv, h, KV, H);
  if (s == "self_attn.o_proj.weight") return matrix(h, q, H, Q);
  if (s == "self_attn.q_proj.bias") return vector(q, Q);
  if (s == "self_attn.k_proj.bias" || s == "self_attn.v_proj.bias") return vector(kv, KV);
  if (s == "self_attn.o_proj.bias" || s == "mlp.down_proj.bias") return vector(h, H);
  if (s == "self_attn.q_norm.weight" || s == "self_attn.k_norm.weight") return vector(c.head_dim, "head_dim");
  if (s == "mlp.gate_proj.weight" || s == "mlp.up_proj.weight") return matrix(ff, h, F, H);
  if (s == "mlp.down_proj.weight") return matrix(h, ff, H, F);
  if (s == "mlp.gate_proj.bias" || s == "mlp.up_proj.bias") return vector(ff, F);
  return std::nullopt;
}

const TensorNames& dense_decoder_names() { return kNames; }
std::span<const TensorName> dense_decoder_layer_names() { return kLayerNames; }
std::span<const TensorName> decoder_global_names() { return kGlobalNames; }
std::span<const std::string_view> decoder_unused_names() { return kUnused; }

std::optional<ExpectedShape> dense_decoder_shape(const ModelConfig& c, std::string_view hf_name) {
  if (hf_name == "model.embed_tokens.weight" || hf_name == "lm_head.weight")
    return ExpectedShape{{c.vocab_size, c.hidden_size}, "[vocab_size, hidden_size]"};
  if (hf_name == "model.norm.weight") return ExpectedShape{{c.hidden_size}, "[hidden_size]"};
  if (!hf_name.starts_with(kNames.hf_layer_prefix)) return std::nullopt;
  hf_name.remove_prefix(kNames.hf_layer_prefix.size());
  if (!take_layer_index(hf_name)) return std::nullopt;
  return dense_layer_shape(hf_name, c);
}

ModelFamily dense_decoder_family(std::string_view name, std::span<const std::string_view> model_types,
                                 std::string_view gguf_architecture, std::string_view hf_architecture) {
  ModelFamily f;
  f.name = name;
  f.model_types = model_types;
  f.gguf_architecture = gguf_architecture;
  f.hf_architecture = hf_architecture;
  f.names = &kNames;
  f.expected_shape = dense_decoder_shape;
  f.never_quantized = is_never_quantized;
  f.mlx_path = [](std::string_view hf_name) { return std::string(hf_name); };  // mlx_lm's sanitize() keeps them
  return f;
}

}  // namespace ramq
