// evaluate stage, internal: float32 forward pass of the hybrid linear-attention families
// (qwen3_next, qwen3_5, qwen3_5_moe) in the Hugging Face conventions (transformers'
// modeling_qwen3_next.py / modeling_qwen3_5.py; facts: /work/notes/qwen35_facts.md §4):
//  * zero-centred RMSNorms applied as x * rsqrt(mean(x^2) + eps) * (1 + w) (input_layernorm,
//    post_attention_layernorm, model.norm, q_norm, k_norm); linear_attn.norm applied as w;
//  * Gated DeltaNet layers: projections (qwen3_next's fused in_proj_qkvz / in_proj_ba regrouped
//    per key head into [q | k | v], z, b, a), a causal depthwise conv1d with SiLU over the
//    [q | k | v] channels, q and k l2-normalised per head (eps 1e-6), q scaled by dk^-1/2,
//    beta = sigmoid(b), g = -exp(A_log) softplus(a + dt_bias), and the exact recurrent gated delta
//    rule token by token (value head h reads key head h / (nv / nk)); the output RMS-normed per
//    head, times linear_attn.norm and silu(z), then out_proj;
//  * gated full-attention layers: q_proj holds per head [q; gate], q/k norms, rotary embeddings
//    (rotate_half) on the first int(head_dim x partial_rotary_factor) dimensions only, causal
//    grouped-query attention, times sigmoid(gate), then o_proj;
//  * a dense SwiGLU MLP (qwen3_5) or the experts (softmax, top-k renormalised) plus the shared
//    expert scaled by sigmoid(shared_expert_gate . x).
// The state carried between append() calls is, per layer, the conv1d inputs of the last K-1
// tokens and the float32 recurrent state [nv, dk, dv] (linear layers), or the keys and values
// (full-attention layers).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "evaluate/llama_forward.h"
#include "ramq/eval.h"
#include "ramq/family_config.h"

namespace ramq::eval {

// What the hybrid forward pass needs from config.json, validated.
struct HybridSpec : DecoderDims {
  std::int64_t rotary_dims = 0;  // int(head_dim x partial_rotary_factor)
  bool fused_projections = false;  // qwen3_next: in_proj_qkvz / in_proj_ba
  std::string layer_prefix;        // "model.layers." or "model.language_model.layers."
  std::string embed_name, norm_name, head_name;
  LinearAttentionFields linear;
  std::optional<MoeFields> moe;  // every layer's MLP is a mixture of experts (qwen3_next, qwen3_5_moe)
  std::vector<double> inv_freq;  // rotary_dims / 2 frequencies
};

// Validates the configuration of a hybrid family (ModelFamily::hybrid_attention) for the
// forward pass. Throws ramq::Error(config_file, "", "field '...' ...") for what it does not
// compute: rope types other than default, a qwen3_next with dense layers (mlp_only_layers,
// decoder_sparse_step), key and value head sizes that differ.
HybridSpec hybrid_spec(const ModelConfig& config, const std::string& config_file);

// The model over `weights` (every tensor validated now, matrices decoded a row chunk at a time
// at each use, as make_llama_model). forward() starts from empty states; append() continues
// from the states of the tokens appended before. Logits do not depend on the thread count.
std::unique_ptr<IncrementalModel> make_hybrid_model(std::unique_ptr<WeightSource> weights, const EvalOptions& opt);

// The position limit of a hybrid model (nullopt for other models).
std::optional<PositionLimit> hybrid_position_limit(const LanguageModel& model);

}  // namespace ramq::eval
