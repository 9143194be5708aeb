// Where a tensor sits in the model, for the report's tables and charts: its layer, its role as
// the report names it (q, k, v, o, gate, up, down, experts, ...) and its expert index, from the
// one tensor-role classifier (arch/tensor_role.h), Hugging Face or llama.cpp/GGUF spelling.
#pragma once

#include <cstdint>
#include <string>

namespace ramq::report {

struct TensorSite {
  std::int64_t layer = -1;  // -1: not inside a numbered layer (embeddings, head, final norm)
  // Layer roles: "q", "k", "v", "o", "qkv", "gate", "up", "down", "gate_up", "exp.gate",
  // "exp.up", "exp.down", "shared.gate", "shared.up", "shared.down", "router", "norm", "bias",
  // or the module's own name. Outside layers: "embed", "head", "norm", "other".
  std::string role;
  std::int64_t expert = -1;  // per-expert tensors: the expert's index
};

TensorSite tensor_site(const std::string& name);

// The group a role is counted in for the bytes-by-role chart: roles of experts ("exp.*") become
// "experts", shared experts "shared expert", norms and biases "norms & biases".
std::string role_family(const std::string& role);

}  // namespace ramq::report
