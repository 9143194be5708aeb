// arch: what a tensor is, from its name alone: the one classifier of tensor roles, used by the
// plan's policies and its sensitivity model, llama-mix, the report and the GGUF writer.
//
// Names are read component by component ("model.layers.3.self_attn.q_proj.weight" ->
// model / layers / 3 / self_attn / q_proj / weight), in the Hugging Face spelling of every family
// ramq knows plus the spellings other checkpoints and llama.cpp use for the same roles:
//   q, k, v, o:   q_proj k_proj v_proj o_proj out_proj | wq wk wv wo | attn_q attn_k attn_v attn_output
//   fused:        qkv_proj attn_qkv (q, k and v), gate_up_proj (gate and up)
//   ffn:          gate_proj up_proj down_proj | w1 w3 w2 (Mixtral) | ffn_gate ffn_up ffn_down (+ _exps)
//   router:       a module named gate, router, ffn_gate_inp or shared_expert_gate, or any
//                 component containing "router"
//   linear attn:  in_proj_qkvz in_proj_qkv ssm_in (qkv) | in_proj_z attn_gate (gate) |
//                 in_proj_b in_proj_a in_proj_ba ssm_beta ssm_alpha ssm_ba (beta/alpha) |
//                 out_proj inside "linear_attn", ssm_out (out) | conv1d ssm_conv1d |
//                 A_log dt_bias ssm_a ssm_dt (parameters)
//   norms:        any component containing "norm" (q_norm / k_norm and attn_q_norm / attn_k_norm apart)
//   embedding:    a component containing "embed_tokens", or wte, tok_embeddings, token_embd
//   head:         a component containing "lm_head", or the top-level module "output" (GGUF)
// In that order of precedence: norms, embedding, head, router, then the module's own name.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ramq {

enum class TensorRole {
  Embedding,
  Head,
  TiedEmbeddingHead,  // never returned by classify_tensor: users that know the model ties its head say so
  AttnQ,
  AttnK,
  AttnV,
  AttnQkv,
  AttnOut,
  FfnGate,
  FfnUp,
  FfnGateUp,
  FfnDown,
  Router,
  // Gated DeltaNet linear attention (qwen3_next, qwen3_5): the q/k/v input projection (fused
  // with z in qwen3_next's in_proj_qkvz), the output gate z, the decay and update rates b/a
  // (beta, alpha), the output projection; the depthwise conv1d and the per-head parameters A_log
  // and dt_bias (never quantized).
  LinearQkv,
  LinearGate,
  LinearBetaAlpha,
  LinearOut,
  SsmConv,
  SsmParam,
  Norm,
  QNorm,
  KNorm,
  Other
};

// Where a tensor sits and what it does.
struct TensorPlace {
  TensorRole role = TensorRole::Other;
  bool bias = false;            // a ".bias" parameter; role is its module's ("q_proj.bias": AttnQ)
  std::int64_t layer = -1;      // index after a "layers", "blk", "h" or "blocks" component; -1 outside
  std::int64_t expert = -1;     // index after an "experts" / "switch_mlp" component, -1 if none
  bool in_experts = false;      // inside "experts" / "switch_mlp", or a stacked "*_exps" tensor
  bool shared_expert = false;   // inside "shared_expert(s)", or a "*_shexp" tensor
  std::string module;           // the last module component ("q_proj"; "" for an empty name)

  bool routed_expert() const { return in_experts && !shared_expert; }
};

TensorPlace classify_tensor(std::string_view name);

// Norms (q/k norms too), routers, and linear attention's conv1d and per-head parameters: kept in
// float by every policy of every family so far.
bool is_never_quantized(TensorRole role);
bool is_norm(TensorRole role);  // Norm, QNorm or KNorm

}  // namespace ramq
