// The data-free sensitivity model of the budget policy (include/ramq/sensitivity.h).
#include "ramq/sensitivity.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string_view>

namespace ramq {

namespace {

bool has(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

// Module path of a parameter: "model.layers.0.mlp.gate.weight" -> "model.layers.0.mlp.gate".
std::string_view module_of(std::string_view name) {
  return name.ends_with(".weight") ? name.substr(0, name.size() - 7) : name;
}

double role_weight(TensorRole r, const SensitivityConstants& k) {
  switch (r) {
    case TensorRole::Embedding: return k.embedding;
    case TensorRole::Head: return k.head;
    case TensorRole::TiedEmbeddingHead: return k.embedding + k.head;
    case TensorRole::AttnQ: return k.attn_q;
    case TensorRole::AttnK: return k.attn_k;
    case TensorRole::AttnV: return k.attn_v;
    case TensorRole::AttnQkv: return (k.attn_q + k.attn_k + k.attn_v) / 3;
    case TensorRole::AttnOut: return k.attn_out;
    case TensorRole::FfnGate: return k.ffn_gate;
    case TensorRole::FfnUp: return k.ffn_up;
    case TensorRole::FfnGateUp: return (k.ffn_gate + k.ffn_up) / 2;
    case TensorRole::FfnDown: return k.ffn_down;
    case TensorRole::Router: return k.router;
    default: return k.other;
  }
}

}  // namespace

TensorRole tensor_role(const std::string& name, bool tied_embeddings) {
  const std::string_view m = module_of(name);
  if (has(m, "embed_tokens") || has(m, "wte") || has(m, "tok_embeddings"))
    return tied_embeddings ? TensorRole::TiedEmbeddingHead : TensorRole::Embedding;
  if (has(m, "lm_head")) return TensorRole::Head;
  if (has(m, "router") || m.ends_with(".gate")) return TensorRole::Router;  // MoE router ("mlp.gate")
  if (has(m, "qkv_proj")) return TensorRole::AttnQkv;
  if (has(m, "q_proj")) return TensorRole::AttnQ;
  if (has(m, "k_proj")) return TensorRole::AttnK;
  if (has(m, "v_proj")) return TensorRole::AttnV;
  if (has(m, "o_proj") || has(m, "out_proj")) return TensorRole::AttnOut;
  if (has(m, "gate_up_proj")) return TensorRole::FfnGateUp;
  if (has(m, "gate_proj") || m.ends_with(".w1")) return TensorRole::FfnGate;
  if (has(m, "up_proj") || m.ends_with(".w3")) return TensorRole::FfnUp;
  if (has(m, "down_proj") || m.ends_with(".w2")) return TensorRole::FfnDown;
  return TensorRole::Other;
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
    default: return "other";
  }
}

int tensor_layer(const std::string& name) {
  for (const std::string_view key : {"layers.", "h.", "blocks."}) {
    for (std::size_t p = name.find(key); p != std::string::npos; p = name.find(key, p + 1)) {
      if (p > 0 && name[p - 1] != '.') continue;  // a whole path component
      std::size_t i = p + key.size();
      int v = 0;
      bool digits = false;
      while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])) && v < 1'000'000) {
        v = v * 10 + (name[i++] - '0');
        digits = true;
      }
      if (digits && (i == name.size() || name[i] == '.')) return v;
    }
  }
  return -1;
}

bool has_tied_embeddings(const ModelAnalysis& a) {
  if (a.config.tie_word_embeddings) return true;
  return std::none_of(a.tensors.begin(), a.tensors.end(), [](const TensorAnalysis& t) { return has(t.name, "lm_head"); });
}

SensitivityContext sensitivity_context(const ModelAnalysis& a) {
  SensitivityContext c;
  c.num_layers = a.config.num_hidden_layers;
  if (a.config.num_key_value_heads > 0 && a.config.num_attention_heads % a.config.num_key_value_heads == 0)
    c.kv_share = a.config.num_attention_heads / a.config.num_key_value_heads;
  c.tied_embeddings = has_tied_embeddings(a);
  return c;
}

Sensitivity tensor_sensitivity(const TensorAnalysis& t, const SensitivityContext& ctx, const SensitivityConstants& k) {
  Sensitivity s;
  s.role = tensor_role(t.name, ctx.tied_embeddings);
  s.layer = tensor_layer(t.name);
  s.role_weight = role_weight(s.role, k);
  if (s.role == TensorRole::AttnK || s.role == TensorRole::AttnV) s.share_weight = static_cast<double>(ctx.kv_share);
  if (s.layer >= 0 && ctx.num_layers > 0) {
    const double f = ctx.num_layers > 1 ? static_cast<double>(std::min<std::int64_t>(s.layer, ctx.num_layers - 1)) /
                                              static_cast<double>(ctx.num_layers - 1)
                                        : 1.0;
    s.depth_weight = k.depth_first + (k.depth_last - k.depth_first) * f;
  }
  s.routed_expert = has(t.name, ".experts.") && !has(t.name, "shared_expert");
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
  if (share_weight != 1.0) {
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
