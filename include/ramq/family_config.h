// arch: config.json's fields that depend on the model family (beyond ModelConfig), read in one
// place with read/config_fields.h for the config/tensor check, the GGUF metadata and the
// evaluator. Reading refuses what no family ramq knows allows; which values a reader of the
// config supports (rope types, sliding windows) stays its own decision.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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

// The gated-DeltaNet linear attention of a hybrid family (ModelFamily::hybrid_attention), with
// transformers' defaults (Qwen3NextConfig, Qwen3_5TextConfig, Qwen3_5MoeTextConfig: all the same).
struct LinearAttentionFields {
  std::int64_t key_heads = 16;       // linear_num_key_heads (nk)
  std::int64_t value_heads = 32;     // linear_num_value_heads (nv), a multiple of nk
  std::int64_t key_head_dim = 128;   // linear_key_head_dim (dk)
  std::int64_t value_head_dim = 128; // linear_value_head_dim (dv)
  std::int64_t conv_kernel = 4;      // linear_conv_kernel_dim (K)
  // Per layer: true for "linear_attention", false for "full_attention". config.json's
  // layer_types when given, else layer i is linear iff (i + 1) % full_attention_interval != 0
  // (default interval 4), as transformers derives it.
  std::vector<bool> linear_layer;
  std::int64_t full_attention_interval = 4;

  std::int64_t key_dim() const { return key_heads * key_head_dim; }        // Ck
  std::int64_t value_dim() const { return value_heads * value_head_dim; }  // Cv
  std::int64_t conv_dim() const { return 2 * key_dim() + value_dim(); }    // C: conv1d channels
};

struct FamilyFields {
  bool attention_bias = false;  // q/k/v/o projections have biases
  bool mlp_bias = false;        // gate/up/down projections have biases
  // The family's rule: sliding_window applies (use_sliding_window where the family asks for it,
  // or any layer_types entry other than "full_attention").
  bool sliding_window_applies = false;
  std::optional<std::int64_t> sliding_window;  // nullopt when absent or null
  std::optional<MoeFields> moe;                // the family's experts; nullopt for a dense family
  std::optional<LinearAttentionFields> linear;  // hybrid families only
  // The rotated width of each head: head_dim, or int(head_dim x partial_rotary_factor) for the
  // hybrid families (transformers' default factor 0.25; Qwen3.5 gives it in rope_parameters).
  std::int64_t rotary_dims = 0;
};

// The fields every family ramq knows has, read and checked: attention_bias, mlp_bias and
// use_sliding_window (booleans or absent), hidden_act / hidden_activation ('silu'),
// partial_rotary_factor (1; hybrid families: 0 < factor <= 1 with an even, non-zero rotary
// width int(head_dim x factor), and attention_bias false, and LinearAttentionFields), expert counts (0 unless the family has experts, then MoeFields:
// every layer sparse, 1 <= num_experts_per_tok <= experts), sliding_window (a positive integer or null),
// an even head_dim. Throws Error(f.file(), "", "field '...' ...").
FamilyFields read_family_fields(const ConfigFields& f, const ModelConfig& c, const ModelFamily& family);
// The MoeFields of a family with experts (checked as read_family_fields does).
MoeFields read_moe_fields(const ConfigFields& f, const MoeLayout& layout);
// The linear-attention fields of a hybrid family with c.num_hidden_layers layers: positive sizes,
// linear_num_value_heads a multiple of linear_num_key_heads, layer_types an array of
// num_hidden_layers strings "linear_attention" / "full_attention".
LinearAttentionFields read_linear_attention_fields(const ConfigFields& f, const ModelConfig& c);

}  // namespace ramq
