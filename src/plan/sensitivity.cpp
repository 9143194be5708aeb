// The data-free sensitivity model of the budget policy (include/ramq/sensitivity.h).
#include "ramq/sensitivity.h"

#include <algorithm>
#include <cstdio>

namespace ramq {

namespace {

// The model has no weight of its own for norms (never quantized anyway).
TensorRole weighed_role(TensorRole r, bool tied_embeddings) {
  if (r == TensorRole::Embedding && tied_embeddings) return TensorRole::TiedEmbeddingHead;
  return is_norm(r) ? TensorRole::Other : r;
}

double role_weight(TensorRole r, const SensitivityConstants& k) {
  switch (r) {
    case TensorRole::Embedding: return k.embedding;
    case TensorRole::Head: return k.head;
    case TensorRole::TiedEmbeddingHead: return k.embedding + k.head;
    case TensorRole::AttnQ: return k.attn_q;
    case TensorRole::AttnK: return k.attn_k;
    case TensorRole::AttnV: return k.attn_v;
    case TensorRole::AttnQkv: return (k.attn_q + k.attn_k + k.attn_v) / 3;  // refined by fused_qkv_weights
    case TensorRole::AttnOut: return k.attn_out;
    case TensorRole::FfnGate: return k.ffn_gate;
    case TensorRole::FfnUp: return k.ffn_up;
    case TensorRole::FfnGateUp: return (k.ffn_gate + k.ffn_up) / 2;
    case TensorRole::FfnDown: return k.ffn_down;
    case TensorRole::Router: return k.router;
    // Provisional (issue 19): linear attention weighed as its full-attention counterparts; b/a
    // set per-head decay and update rates, as small and as sensitive as a router.
    case TensorRole::LinearQkv: return (k.attn_q + k.attn_k + k.attn_v) / 3;
    case TensorRole::LinearGate: return k.attn_q;
    case TensorRole::LinearBetaAlpha: return k.router;
    case TensorRole::LinearOut: return k.attn_out;
    default: return k.other;
  }
}

// A fused q/k/v projection (Phi-3's qkv_proj, llama.cpp's attn_qkv): its error spreads over its
// rows, so each row slice counts with its own role and share, in proportion to its rows:
//   role x share = (q_rows x attn_q + kv_rows x (attn_k + attn_v) x kv_share) / all rows,
// split into role = the row-weighted role constants and share = the rest. (A fused gate/up
// projection has equal gate and up halves: its role (gate + up) / 2 is already row-weighted.)
void fused_qkv_weights(const SensitivityContext& ctx, const SensitivityConstants& k, Sensitivity& s) {
  if (ctx.q_rows <= 0 || ctx.kv_rows <= 0) return;
  const double q = static_cast<double>(ctx.q_rows), kv = static_cast<double>(ctx.kv_rows);
  const double role_rows = q * k.attn_q + kv * (k.attn_k + k.attn_v);
  s.role_weight = role_rows / (q + 2 * kv);
  s.share_weight = (q * k.attn_q + kv * (k.attn_k + k.attn_v) * static_cast<double>(ctx.kv_share)) / role_rows;
}

}  // namespace

TensorRole tensor_role(const std::string& name, bool tied_embeddings) {
  return weighed_role(classify_tensor(name).role, tied_embeddings);
}

const char* tensor_role_name(TensorRole r) {
  switch (r) {
    case TensorRole::Embedding: return "embedding";
    case TensorRole::Head: return "head";
    case TensorRole::TiedEmbeddingHead: return "embedding+head (tied)";
    case TensorRole::AttnQ: return "attn_q";
    case TensorRole::AttnK: return "attn_k";
    case TensorRole::AttnV: return "attn_v";
    case TensorRole::AttnQkv: return "attn_qkv";
    case TensorRole::AttnOut: return "attn_output";
    case TensorRole::FfnGate: return "ffn_gate";
    case TensorRole::FfnUp: return "ffn_up";
    case TensorRole::FfnGateUp: return "ffn_gate_up";
    case TensorRole::FfnDown: return "ffn_down";
    case TensorRole::Router: return "router";
    case TensorRole::LinearQkv: return "linear_qkv";
    case TensorRole::LinearGate: return "linear_gate";
    case TensorRole::LinearBetaAlpha: return "linear_beta_alpha";
    case TensorRole::LinearOut: return "linear_out";
    case TensorRole::SsmConv: return "ssm_conv1d";
    case TensorRole::SsmParam: return "ssm_param";
    default: return "other";
  }
}

int tensor_layer(const std::string& name) { return static_cast<int>(classify_tensor(name).layer); }

bool has_tied_embeddings(const ModelAnalysis& a) {
  if (a.config.tie_word_embeddings) return true;
  return std::none_of(a.tensors.begin(), a.tensors.end(),
                      [](const TensorAnalysis& t) { return classify_tensor(t.name).role == TensorRole::Head; });
}

SensitivityContext sensitivity_context(const ModelAnalysis& a) {
  SensitivityContext c;
  c.num_layers = a.config.num_hidden_layers;
  if (a.config.num_key_value_heads > 0 && a.config.num_attention_heads % a.config.num_key_value_heads == 0)
    c.kv_share = a.config.num_attention_heads / a.config.num_key_value_heads;
  c.tied_embeddings = has_tied_embeddings(a);
  if (a.config.head_dim > 0) {
    c.q_rows = a.config.num_attention_heads * a.config.head_dim;
    c.kv_rows = a.config.num_key_value_heads * a.config.head_dim;
  }
  return c;
}

Sensitivity tensor_sensitivity(const TensorAnalysis& t, const SensitivityContext& ctx, const SensitivityConstants& k) {
  Sensitivity s;
  const TensorPlace place = classify_tensor(t.name);
  s.role = weighed_role(place.role, ctx.tied_embeddings);
  s.layer = static_cast<int>(place.layer);
  s.role_weight = role_weight(s.role, k);
  if (s.role == TensorRole::AttnK || s.role == TensorRole::AttnV) s.share_weight = static_cast<double>(ctx.kv_share);
  if (s.role == TensorRole::AttnQkv) fused_qkv_weights(ctx, k, s);
  if (s.layer >= 0 && ctx.num_layers > 0) {
    const double f = ctx.num_layers > 1 ? static_cast<double>(std::min<std::int64_t>(s.layer, ctx.num_layers - 1)) /
                                              static_cast<double>(ctx.num_layers - 1)
                                        : 1.0;
    s.depth_weight = k.depth_first + (k.depth_last - k.depth_first) * f;
  }
  s.routed_expert = place.routed_expert();
  if (s.routed_expert) s.expert_weight = k.routed_expert;
  s.weight = s.role_weight * s.share_weight * s.depth_weight * s.expert_weight;
  return s;
}

std::string Sensitivity::describe() const {
  char buf[160];
  if (probed) {
    std::snprintf(buf, sizeof buf, "%s, probe self: KL divergence %.4g per unit relative error", tensor_role_name(role), weight);
    return buf;
  }
  std::string where = layer >= 0 ? ", layer " + std::to_string(layer) : "";
  if (depth_weight != 1.0) {
    std::snprintf(buf, sizeof buf, " (depth x%.3g)", depth_weight);
    where += buf;
  }
  if (share_weight != 1.0 && role == TensorRole::AttnQkv) {
    std::snprintf(buf, sizeof buf, ", k/v rows shared (x%.3g)", share_weight);
    where += buf;
  } else if (share_weight != 1.0) {
    std::snprintf(buf, sizeof buf, ", shared by %.0f query heads", share_weight);
    where += buf;
  }
  if (routed_expert) {
    std::snprintf(buf, sizeof buf, ", routed expert x%.2g", expert_weight);
    where += buf;
  }
  std::snprintf(buf, sizeof buf, "%s x%.3g%s: weight %.4g", tensor_role_name(role), role_weight, where.c_str(), weight);
  return buf;
}

}  // namespace ramq
