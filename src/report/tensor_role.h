// Where a tensor sits in the model, from its name (Hugging Face or llama.cpp/GGUF spelling):
// its layer, its role (q, k, v, o, gate, up, down, experts, ...) and its expert index.
#pragma once

#include <cstdint>
#include <string>

namespace ramq::report {

struct TensorRole {
  std::int64_t layer = -1;  // -1: not inside a numbered layer (embeddings, head, final norm)
  // Layer roles: "q", "k", "v", "o", "qkv", "gate", "up", "down", "gate_up", "exp.gate",
  // "exp.up", "exp.down", "shared.gate", "shared.up", "shared.down", "router", "norm", "bias",
  // or the module's own name. Outside layers: "embed", "head", "norm", "other".
  std::string role;
  std::int64_t expert = -1;  // per-expert tensors: the expert's index
};

TensorRole classify_tensor(const std::string& name);

// The group a role is counted in for the bytes-by-role chart: roles of experts ("exp.*") become
// "experts", shared experts "shared expert", norms and biases "norms & biases".
std::string role_family(const std::string& role);

}  // namespace ramq::report
