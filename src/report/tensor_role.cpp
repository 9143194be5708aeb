// Tensor names -> (layer, role, expert) in the report's words (report/tensor_role.h).
#include "report/tensor_role.h"

#include "ramq/tensor_role.h"

namespace ramq::report {

namespace {

// The report's short name of a projection's role; nullptr for other roles.
const char* projection_name(TensorRole r) {
  switch (r) {
    case TensorRole::AttnQ: return "q";
    case TensorRole::AttnK: return "k";
    case TensorRole::AttnV: return "v";
    case TensorRole::AttnOut: return "o";
    case TensorRole::AttnQkv: return "qkv";
    case TensorRole::FfnGate: return "gate";
    case TensorRole::FfnUp: return "up";
    case TensorRole::FfnDown: return "down";
    case TensorRole::FfnGateUp: return "gate_up";
    case TensorRole::LinearQkv: return "lin.qkv";
    case TensorRole::LinearGate: return "lin.z";
    case TensorRole::LinearBetaAlpha: return "lin.ba";
    case TensorRole::LinearOut: return "lin.out";
    default: return nullptr;
  }
}

std::string layer_role(const TensorPlace& p) {
  if (p.bias) return "bias";
  if (is_norm(p.role)) return "norm";
  if (p.role == TensorRole::Router) return "router";
  const char* projection = projection_name(p.role);
  if (projection == nullptr) return p.module.empty() ? "other" : p.module;
  if (p.in_experts) return std::string("exp.") + projection;
  if (p.shared_expert) return std::string("shared.") + projection;
  return projection;
}

std::string global_role(const TensorPlace& p) {
  if (is_norm(p.role)) return "norm";
  if (p.role == TensorRole::Embedding) return "embed";
  if (p.role == TensorRole::Head) return "head";
  return "other";
}

}  // namespace

TensorSite tensor_site(const std::string& name) {
  const TensorPlace p = classify_tensor(name);
  TensorSite s;
  s.layer = p.layer;
  if (p.layer >= 0) {
    s.role = layer_role(p);
    s.expert = p.expert;
  } else {
    s.role = global_role(p);
  }
  return s;
}

std::string role_family(const std::string& role) {
  if (role.rfind("exp.", 0) == 0) return "experts";
  if (role.rfind("shared.", 0) == 0) return "shared expert";
  if (role == "norm" || role == "bias") return "norms & biases";
  return role;
}

}  // namespace ramq::report
