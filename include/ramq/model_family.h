// arch: what ramq knows about a model family, in one description per family (src/arch/<family>.cpp)
// and one registry of them (src/arch/registry.cpp). Adding a family: its file, which defines
// `ModelFamily <family>_family()`, and its row in the registry.
//
//   family   model_type       GGUF architecture  facts
//   llama    llama, mistral   llama              q_proj/k_proj rows permuted (llama_permute_qk)
//   qwen2    qwen2            qwen2              q/k/v biases in every layer
//   qwen3    qwen3            qwen3              q_norm/k_norm in every layer
//   mistral3 mistral3         mistral3           llama's text model (text_config) under language_model., vision tower left out
//   mixtral  mixtral          llama              llama with 8 routed experts (w1/w2/w3) per layer
//   qwen2_moe qwen2_moe       qwen2moe           qwen2 with routed experts and a gated shared expert
//   qwen3_moe qwen3_moe       qwen3moe           qwen3 with routed experts
//   qwen3_next qwen3_next     qwen3next          hybrid: 3 of 4 layers gated linear attention, MoE + shared expert
//   qwen3_5   qwen3_5         qwen35             hybrid as qwen3_next, dense MLP, multimodal wrapper (text_config)
//   qwen3_5_moe qwen3_5_moe   qwen35moe          hybrid, MoE with fused expert tensors, multimodal wrapper
//   phi3     phi3             phi3               fused qkv_proj and gate_up_proj (kept fused), longrope
//   gemma3_text gemma3_text   gemma3             (1 + w) norms around attention and MLP, GeGLU, 5:1 sliding/global
//   gemma3    gemma3          gemma3             gemma3_text under "language_model.", vision tower left out
// The hybrid families (ModelFamily::hybrid_attention) are checked against config.json, written
// as MLX (write/mlx_hybrid.h) and GGUF (write/gguf_hybrid.h), read back from GGUF
// (arch/gguf_hybrid_config.h, evaluate/gguf_hybrid_tensors.h) and evaluated
// (evaluate/hybrid_forward.h).
//
// Per-layer names of routed experts hold "*" where the checkpoint has the expert index
// ("mlp.experts.*.gate_proj.weight"); their GGUF name is the stacked 3-D tensor of all experts
// ("ffn_gate_exps.weight", ne [in, out, experts]).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ramq/tensor_role.h"
#include "ramq/safetensors.h"

namespace ramq {

// The Hugging Face shape config.json implies for a tensor, with the formula in config.json's
// field names ("[num_key_value_heads x head_dim, hidden_size]").
struct ExpectedShape {
  std::vector<std::int64_t> shape;
  std::string formula;
};

// When a checkpoint of the family holds a tensor.
enum class Presence {
  Always,         // every checkpoint
  Untied,         // unless tie_word_embeddings (the output head)
  QkvBias,        // the family has q/k/v biases (ModelFamily::qkv_bias), or attention_bias is true
  AttentionBias,  // attention_bias is true
  MlpBias,        // mlp_bias is true
  QkNorm,         // the family has q/k norms (ModelFamily::qk_norm); else both or neither
  // Hybrid families: in the layers config.json's layer_types (else full_attention_interval)
  // makes "linear_attention" / "full_attention" layers, and only there.
  LinearAttention,
  FullAttention,
};

// A mixture-of-experts layout: where config.json gives its sizes, and what llama.cpp's
// architecture computes whatever a file says.
struct MoeLayout {
  std::string_view experts_field;    // "num_experts" (Qwen) or "num_local_experts" (Mixtral)
  std::string_view expert_ff_field;  // "moe_intermediate_size", or "intermediate_size" (Mixtral)
  std::string_view shared_ff_field;  // "shared_expert_intermediate_size", or "" (no shared expert)
  // Whether the top-k routing weights are renormalised to sum to 1: fixed by the family
  // (Mixtral: its top-k softmax), else config.json's norm_topk_prob with this default
  // (transformers' configuration classes).
  std::optional<bool> norm_topk_fixed;
  bool norm_topk_default = false;
  // What llama.cpp's architecture does (its graph hard-codes it): a config that asks otherwise
  // cannot be written to GGUF.
  bool gguf_norm_topk = true;
};

// One tensor in both spellings, Hugging Face and llama.cpp (GGUF), and when it is there.
struct TensorName {
  std::string_view hf, gguf;
  Presence presence = Presence::Always;
};

// A family's tensor names. Per-layer names are what follows "<prefix><layer index>.".
struct TensorNames {
  std::string_view hf_layer_prefix;    // "model.layers."
  std::string_view gguf_layer_prefix;  // "blk."
  std::span<const TensorName> global;  // whole names: "model.embed_tokens.weight" <-> "token_embd.weight"
  std::span<const TensorName> layer;   // "self_attn.q_proj.weight" <-> "attn_q.weight", in llama.cpp's file order
  std::span<const std::string_view> unused;  // per-layer Hugging Face buffers llama.cpp has no use for
};

struct ModelFamily {
  std::string_view name;                          // "llama"
  std::span<const std::string_view> model_types;  // config.json model_type values it covers
  std::string_view gguf_architecture;             // general.architecture
  std::string_view hf_architecture;               // architectures[0] of a config read back from GGUF
  bool permute_qk = false;   // q_proj/k_proj rows permuted to llama.cpp's interleaved rotary pairs
  bool qkv_bias = false;     // every layer has q/k/v biases, whatever attention_bias says
  bool qk_norm = false;      // every layer has q_norm and k_norm
  bool llama3_rope = false;  // rope_scaling "llama3" is written to GGUF (as rope_freqs.weight)
  // Phi-3's rope keys (rope.dimension_count from partial_rotary_factor, original context length,
  // sliding_window) and its rope_scaling "longrope" (rope_factors_long/short.weight tensors and
  // rope.scaling.attn_factor), as llama.cpp's Phi3MiniModel converter writes them.
  bool phi3_rope = false;
  // llama.cpp's converter writes [arch].vocab_size and [arch].rope.dimension_count for the family
  // (its LlamaModel does; its Qwen models leave both to their defaults).
  bool gguf_vocab_and_rope_keys = false;
  // config.json's sliding_window applies only when use_sliding_window is true (else always).
  bool sliding_window_flag = false;
  const TensorNames* names = nullptr;
  const MoeLayout* moe = nullptr;  // nullptr: a dense model
  // Gated-DeltaNet linear attention in most layers, gated full attention (q_proj rows doubled,
  // partial rotary embeddings) in the others: qwen3_next, qwen3_5, qwen3_5_moe.
  bool hybrid_attention = false;
  // Gemma 3: RMSNorms scale by (1 + w) (llama.cpp's converter stores w + 1), norms before and
  // after attention and the MLP, embeddings scaled by sqrt(hidden_size), sliding-window layers
  // with their own rope base (rope_local_base_freq), attention scale query_pre_attn_scalar^-0.5.
  bool gemma = false;
  // The MLP activation config.json's hidden_act / hidden_activation must name, the one every
  // path computes: "silu" (SwiGLU) or "gelu_pytorch_tanh" (GeGLU with the tanh approximation).
  std::string_view activation = "silu";
  // The shape config.json implies for a Hugging Face tensor name; nullopt for names of no known
  // role (the layer index is not checked here).
  std::optional<ExpectedShape> (*expected_shape)(const ModelConfig&, std::string_view hf_name) = nullptr;
  // Tensors of this role are kept in float by every policy.
  bool (*never_quantized)(TensorRole) = nullptr;
  // Tensors no output carries, because neither runtime runs them for text (a vision tower, a
  // multi-token-prediction block: mlx_lm's sanitize() drops them, llama.cpp's main graph does
  // not execute them); nullptr: none.
  bool (*left_out)(std::string_view hf_name) = nullptr;
  // A multimodal wrapper's text model: the model_type values config.json's text_config may name
  // (its other values describe another decoder, refused with one line); empty: no check.
  std::span<const std::string_view> text_model_types;
  // The mlx_lm parameter path of a Hugging Face tensor (after mlx_lm's sanitize()); "" for a
  // tensor left out (left_out above).
  std::string (*mlx_path)(std::string_view hf_name) = nullptr;
  // llama.cpp's LLM_TYPE_70B, the only model size its quantization rules look at; nullptr: the
  // architecture has no such size.
  bool (*llama_cpp_70b)(const ModelConfig&) = nullptr;
};

// Every family, in registry order.
std::span<const ModelFamily> model_families();
// The family of a config.json model_type, or of a GGUF general.architecture (the mixture-of-
// experts family of that architecture when `experts`, e.g. "llama" with experts: mixtral);
// nullptr if none.
const ModelFamily* find_family(std::string_view model_type);
const ModelFamily* find_gguf_family(std::string_view gguf_architecture, bool experts = false);
// The family of cfg.model_type; throws Error(file, "", "model_type 'x' is not supported for
// <purpose> (supported: llama, mistral, qwen2, ...)").
const ModelFamily& family_for(const ModelConfig& cfg, const std::string& file, std::string_view purpose);
// Whether the family of model_type leaves tensor `name` out of every output
// (ModelFamily::left_out): such tensors are not analysed, get no plan decision and are not
// written.
bool is_left_out(std::string_view model_type, std::string_view name);
// "12." at the start of s (a per-layer name after its layer prefix) -> 12, s advanced past the
// dot; nullopt unless a plain decimal index (no sign, no leading zero, at most 9 digits).
std::optional<std::int64_t> take_layer_index(std::string_view& s);
// "mlp.experts.*.gate_proj.weight" for "mlp.experts.12.gate_proj.weight" (the component after
// "experts" replaced by "*"), and the index (12); the name itself and -1 for other names.
std::string expert_stack_key(std::string_view name, std::int64_t* expert = nullptr);

// "llama, mistral, qwen2, qwen3" and "llama, qwen2, qwen3", for messages.
std::string supported_model_types();
std::string supported_gguf_architectures();

}  // namespace ramq
