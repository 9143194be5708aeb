// Tensor names -> (layer, role, expert), for Hugging Face and llama.cpp spellings.
#include "report/tensor_role.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <vector>

namespace ramq::report {

namespace {

std::vector<std::string> split_dots(const std::string& s) {
  std::vector<std::string> out(1);
  for (const char c : s) {
    if (c == '.') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

bool is_number(const std::string& s) {
  return !s.empty() && s.size() < 10 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// Projection names (Hugging Face, Mixtral's w1/w2/w3, llama.cpp) -> base role.
const std::map<std::string, std::string>& projection_roles() {
  static const std::map<std::string, std::string> m = {
      {"q_proj", "q"},         {"attn_q", "q"},        {"wq", "q"},
      {"k_proj", "k"},         {"attn_k", "k"},        {"wk", "k"},
      {"v_proj", "v"},         {"attn_v", "v"},        {"wv", "v"},
      {"o_proj", "o"},         {"attn_output", "o"},   {"wo", "o"},          {"out_proj", "o"},
      {"qkv_proj", "qkv"},     {"attn_qkv", "qkv"},    {"gate_proj", "gate"}, {"ffn_gate", "gate"},
      {"w1", "gate"},          {"ffn_gate_exps", "gate"}, {"up_proj", "up"},  {"ffn_up", "up"},
      {"w3", "up"},            {"ffn_up_exps", "up"},  {"down_proj", "down"}, {"ffn_down", "down"},
      {"w2", "down"},          {"ffn_down_exps", "down"}, {"gate_up_proj", "gate_up"},
      {"gate", "router"},      {"router", "router"},   {"ffn_gate_inp", "router"},
      {"shared_expert_gate", "router"},
  };
  return m;
}

std::string layer_role(const std::vector<std::string>& parts, std::int64_t& expert) {
  if (parts.empty()) return "other";
  if (parts.back() == "bias") return "bias";
  std::vector<std::string> mod = parts;
  if (mod.back() == "weight" && mod.size() > 1) mod.pop_back();
  bool in_experts = false, shared = false;
  for (std::size_t i = 0; i < mod.size(); ++i) {
    if (mod[i].find("norm") != std::string::npos) return "norm";
    if (mod[i] == "experts" || mod[i] == "switch_mlp") {
      in_experts = true;
      if (i + 1 < mod.size() && is_number(mod[i + 1])) expert = std::stoll(mod[i + 1]);
    }
    if (mod[i] == "shared_expert" || mod[i] == "shared_experts") shared = true;
  }
  const std::string& last = mod.back();
  if (last.size() > 5 && last.compare(last.size() - 5, 5, "_exps") == 0) in_experts = true;
  if (last.size() > 6 && last.compare(last.size() - 6, 6, "_shexp") == 0) shared = true;
  std::string base_name = last;
  if (shared && last.size() > 6 && last.compare(last.size() - 6, 6, "_shexp") == 0) base_name = last.substr(0, last.size() - 6);
  const auto it = projection_roles().find(base_name);
  if (it == projection_roles().end()) return last;
  if (it->second == "router") return "router";
  if (in_experts) return "exp." + it->second;
  if (shared) return "shared." + it->second;
  return it->second;
}

}  // namespace

TensorRole classify_tensor(const std::string& name) {
  const auto parts = split_dots(name);
  TensorRole r;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    if ((parts[i] == "layers" || parts[i] == "blk" || parts[i] == "h" || parts[i] == "blocks") && is_number(parts[i + 1])) {
      r.layer = std::stoll(parts[i + 1]);
      r.role = layer_role(std::vector<std::string>(parts.begin() + static_cast<std::ptrdiff_t>(i) + 2, parts.end()), r.expert);
      return r;
    }
  }
  auto has = [&](const char* s) { return name.find(s) != std::string::npos; };
  if (has("norm")) {
    r.role = "norm";
  } else if (has("embed_tokens") || has("token_embd") || has("wte")) {
    r.role = "embed";
  } else if (has("lm_head") || name == "output.weight") {
    r.role = "head";
  } else {
    r.role = "other";
  }
  return r;
}

std::string role_family(const std::string& role) {
  if (role.rfind("exp.", 0) == 0) return "experts";
  if (role.rfind("shared.", 0) == 0) return "shared expert";
  if (role == "norm" || role == "bias") return "norms & biases";
  return role;
}

}  // namespace ramq::report
