// The tensor-role classifier (arch/tensor_role.h).
#include "ramq/tensor_role.h"

#include <algorithm>
#include <vector>

namespace ramq {

namespace {

std::vector<std::string_view> split_dots(std::string_view s) {
  std::vector<std::string_view> out;
  for (std::size_t start = 0;;) {
    const std::size_t dot = s.find('.', start);
    out.push_back(s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) return out;
    start = dot + 1;
  }
}

// A layer or expert index: 1 to 9 decimal digits.
bool is_index(std::string_view s) {
  return !s.empty() && s.size() < 10 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}
std::int64_t index_value(std::string_view s) {
  std::int64_t v = 0;
  for (const char c : s) v = v * 10 + (c - '0');
  return v;
}

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

struct Spelling {
  std::string_view module;
  TensorRole role;
};
// Module names of one role (the module is the last component before "weight"/"bias").
constexpr Spelling kModuleRoles[] = {
    {"q_proj", TensorRole::AttnQ},           {"wq", TensorRole::AttnQ},          {"attn_q", TensorRole::AttnQ},
    {"k_proj", TensorRole::AttnK},           {"wk", TensorRole::AttnK},          {"attn_k", TensorRole::AttnK},
    {"v_proj", TensorRole::AttnV},           {"wv", TensorRole::AttnV},          {"attn_v", TensorRole::AttnV},
    {"o_proj", TensorRole::AttnOut},         {"out_proj", TensorRole::AttnOut},  {"wo", TensorRole::AttnOut},
    {"attn_output", TensorRole::AttnOut},    {"qkv_proj", TensorRole::AttnQkv},  {"attn_qkv", TensorRole::AttnQkv},
    {"gate_proj", TensorRole::FfnGate},      {"w1", TensorRole::FfnGate},        {"ffn_gate", TensorRole::FfnGate},
    {"ffn_gate_exps", TensorRole::FfnGate},  {"up_proj", TensorRole::FfnUp},     {"w3", TensorRole::FfnUp},
    {"ffn_up", TensorRole::FfnUp},           {"ffn_up_exps", TensorRole::FfnUp}, {"down_proj", TensorRole::FfnDown},
    {"w2", TensorRole::FfnDown},             {"ffn_down", TensorRole::FfnDown},  {"ffn_down_exps", TensorRole::FfnDown},
    {"gate_up_proj", TensorRole::FfnGateUp}, {"gate", TensorRole::Router},
    {"ffn_gate_inp", TensorRole::Router},    {"shared_expert_gate", TensorRole::Router},
    {"in_proj_qkvz", TensorRole::LinearQkv}, {"in_proj_qkv", TensorRole::LinearQkv},
    {"ssm_in", TensorRole::LinearQkv},       {"in_proj_z", TensorRole::LinearGate},
    {"attn_gate", TensorRole::LinearGate},   {"in_proj_b", TensorRole::LinearBetaAlpha},
    {"in_proj_a", TensorRole::LinearBetaAlpha}, {"in_proj_ba", TensorRole::LinearBetaAlpha},
    {"ssm_beta", TensorRole::LinearBetaAlpha},  {"ssm_alpha", TensorRole::LinearBetaAlpha},
    {"ssm_ba", TensorRole::LinearBetaAlpha}, {"ssm_out", TensorRole::LinearOut},
    {"conv1d", TensorRole::SsmConv},         {"ssm_conv1d", TensorRole::SsmConv},
    {"A_log", TensorRole::SsmParam},         {"dt_bias", TensorRole::SsmParam},
    {"ssm_a", TensorRole::SsmParam},         {"ssm_dt", TensorRole::SsmParam},
};

TensorRole module_role(std::string_view module) {
  for (const auto& s : kModuleRoles)
    if (module == s.module) return s.role;
  return TensorRole::Other;
}

TensorRole norm_role(std::string_view module) {
  if (module == "q_norm" || module == "attn_q_norm") return TensorRole::QNorm;
  if (module == "k_norm" || module == "attn_k_norm") return TensorRole::KNorm;
  return TensorRole::Norm;
}

bool is_embedding_component(std::string_view c) {
  return contains(c, "embed_tokens") || c == "wte" || c == "tok_embeddings" || c == "token_embd";
}

// The role from the module path (the name without "weight"/"bias") and its last module's base
// name (without "_shexp").
TensorRole role_of(const std::vector<std::string_view>& path, std::string_view base) {
  const auto any = [&](auto pred) { return std::any_of(path.begin(), path.end(), pred); };
  if (any([](std::string_view c) { return contains(c, "norm"); })) return norm_role(base);
  if (any(is_embedding_component)) return TensorRole::Embedding;
  if (any([](std::string_view c) { return contains(c, "lm_head"); }) || (path.size() == 1 && path[0] == "output"))
    return TensorRole::Head;
  if (any([](std::string_view c) { return contains(c, "router"); })) return TensorRole::Router;
  if (base == "out_proj" && any([](std::string_view c) { return c == "linear_attn"; })) return TensorRole::LinearOut;
  return module_role(base);
}

void find_layer(const std::vector<std::string_view>& parts, TensorPlace& p) {
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    const std::string_view c = parts[i];
    if ((c == "layers" || c == "blk" || c == "h" || c == "blocks") && is_index(parts[i + 1])) {
      p.layer = index_value(parts[i + 1]);
      return;
    }
  }
}

void find_experts(const std::vector<std::string_view>& path, TensorPlace& p) {
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == "experts" || path[i] == "switch_mlp") {
      p.in_experts = true;
      if (i + 1 < path.size() && is_index(path[i + 1])) p.expert = index_value(path[i + 1]);
    }
    if (path[i] == "shared_expert" || path[i] == "shared_experts") p.shared_expert = true;
  }
  if (path.empty()) return;
  const std::string_view last = path.back();
  if (last.size() > 5 && last.ends_with("_exps")) p.in_experts = true;
  if (last.size() > 6 && last.ends_with("_shexp")) p.shared_expert = true;
}

}  // namespace

TensorPlace classify_tensor(std::string_view name) {
  TensorPlace p;
  std::vector<std::string_view> path = split_dots(name);
  find_layer(path, p);
  if (path.size() > 1 && (path.back() == "weight" || path.back() == "bias")) {
    p.bias = path.back() == "bias";
    path.pop_back();
  }
  find_experts(path, p);
  const std::string_view last = path.back();
  p.module = std::string(last);
  const bool shexp = last.size() > 6 && last.ends_with("_shexp");
  p.role = role_of(path, shexp ? last.substr(0, last.size() - 6) : last);
  return p;
}

bool is_norm(TensorRole role) {
  return role == TensorRole::Norm || role == TensorRole::QNorm || role == TensorRole::KNorm;
}

bool is_never_quantized(TensorRole role) {
  return is_norm(role) || role == TensorRole::Router || role == TensorRole::SsmConv || role == TensorRole::SsmParam;
}

}  // namespace ramq
