// arch: config.json's fields that depend on the model family (beyond ModelConfig), read in one
// place with read/config_fields.h for the config/tensor check, the GGUF metadata and the
// evaluator. Reading refuses what no family ramq knows allows; which values a reader of the
// config supports (rope types, sliding windows) stays its own decision.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "ramq/model_family.h"
#include "ramq/config_fields.h"

namespace ramq {

// A rope scaling object: rope_scaling, or its successor rope_parameters.
struct RopeScaling {
  std::string field;                      // "rope_scaling" or "rope_parameters"
  std::string type;                       // its "rope_type", else "type"; "default" when neither
  const nlohmann::json* object = nullptr;  // the object itself (in the config's JSON)

  // object[key] as a positive finite number; nullopt when absent or null.
  std::optional<double> number(const ConfigFields& f, const char* key) const;
  // The same, required: "is missing (needed by rope type 'linear')" when absent.
  double required(const ConfigFields& f, const char* key) const;
  // object[key] when it is a JSON integer, else nullopt.
  std::optional<std::int64_t> integer(const char* key) const;
};

// The rope scaling object in `field` ("rope_scaling" or "rope_parameters"), nullopt when absent
// or null. Throws Error naming the field when it is not an object (every Hugging Face model
// reads it as a dict) or its type is not a non-empty string.
std::optional<RopeScaling> read_rope_scaling(const ConfigFields& f, const char* field);
// rope_scaling, else rope_parameters.
std::optional<RopeScaling> read_rope(const ConfigFields& f);

// A mixture of experts' sizes and routing, read from the fields the family's MoeLayout names.
struct MoeFields {
  std::int64_t experts = 0;            // routed experts per layer
  std::int64_t experts_per_token = 0;  // num_experts_per_tok (top-k)
  std::int64_t expert_ff = 0;          // each routed expert's intermediate size
  std::int64_t shared_ff = 0;          // the shared expert's intermediate size; 0: none
  bool norm_topk = false;              // top-k weights renormalised to sum to 1
};

struct FamilyFields {
  bool attention_bias = false;  // q/k/v/o projections have biases
  bool mlp_bias = false;        // gate/up/down projections have biases
  // The family's rule: sliding_window applies (use_sliding_window where the family asks for it,
  // or any layer_types entry other than "full_attention").
  bool sliding_window_applies = false;
  std::optional<std::int64_t> sliding_window;  // nullopt when absent or null
  std::optional<MoeFields> moe;                // the family's experts; nullopt for a dense family
};

// The fields every family ramq knows has, read and checked: attention_bias, mlp_bias and
// use_sliding_window (booleans or absent), hidden_act / hidden_activation ('silu'),
// partial_rotary_factor (1), expert counts (0 unless the family has experts, then MoeFields:
// every layer sparse, 1 <= num_experts_per_tok <= experts), sliding_window (a positive integer or null),
// an even head_dim. Throws Error(f.file(), "", "field '...' ...").
FamilyFields read_family_fields(const ConfigFields& f, const ModelConfig& c, const ModelFamily& family);
// The MoeFields of a family with experts (checked as read_family_fields does).
MoeFields read_moe_fields(const ConfigFields& f, const MoeLayout& layout);

}  // namespace ramq
