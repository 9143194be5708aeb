// plan stage: a data-free estimate of how much a tensor's reconstruction error hurts the model's
// output. The budget policy minimises sum over tensors of weight * relative squared error.
// The model (src/plan/sensitivity.cpp, constants in kSensitivity):
//   weight = role * share * depth * expert
// role: what the tensor feeds (q/k/v/o, gate/up/down, embedding, head, router); share: a k/v
// projection serves heads / kv_heads query heads (grouped-query attention), so its error is
// counted that many times; depth: from depth_first at the first layer to depth_last at the last
// (linear); expert: routed experts are seen by a fraction of the tokens. (A factor 1 + 0.5 S of
// the SWAN composite score was tried and changed no plan's quality on the example model, so the
// budget policy does without the SWAN metrics and their randomized SVDs.)
#pragma once

#include <string>

#include "ramq/tensor_role.h"  // TensorRole (src/arch: the one tensor-role classifier)
#include "ramq/analysis.h"

namespace ramq {

// The constants of the model, all in one place.
struct SensitivityConstants {
  double embedding = 1.0;  // an input row per token: like one layer's output
  double head = 4.0;       // errors go straight into the logits
  double attn_q = 0.25, attn_k = 0.25;  // through the softmax, which damps small logit errors
  double attn_v = 0.25;    // (k and v are further multiplied by the GQA share)
  double attn_out = 0.25;  // one head mix per layer, written into the residual stream
  double ffn_gate = 1.0, ffn_up = 1.0;  // the MLP holds two thirds of a layer's weights and most
  double ffn_down = 1.0;                // of its contribution to the residual stream
  double router = 4.0;     // a routing error replaces a whole expert's output
  double other = 1.0;
  double depth_first = 1.0, depth_last = 1.5;  // linear in the layer index
  double routed_expert = 0.75;  // routed experts (each token sees top-k of them); shared experts 1
};
inline constexpr SensitivityConstants kSensitivity{};

struct Sensitivity {
  TensorRole role = TensorRole::Other;
  int layer = -1;              // decoder layer index, -1 outside the layers
  bool routed_expert = false;  // tensor of a routed MoE expert
  double role_weight = 1, share_weight = 1, depth_weight = 1, expert_weight = 1;
  double weight = 1;           // the product (or, with --probe self, the measured KL per relative error)
  bool probed = false;         // weight comes from --probe self
  std::string describe() const;  // e.g. "attn_v, layer 0 of 5 (edge x1.5), S=0.41 (x1.21): 3.63"
};

// The role the model weighs a tensor by (classify_tensor's; norms count as Other, the embedding
// as TiedEmbeddingHead when tied_embeddings).
TensorRole tensor_role(const std::string& name, bool tied_embeddings);
const char* tensor_role_name(TensorRole r);
// Decoder layer index from "...layers.N..." (also "blk.N", "h.N", "blocks.N"); -1 if none.
int tensor_layer(const std::string& name);

// What the model needs to know about the model: layers, GQA share, tied head.
struct SensitivityContext {
  std::int64_t num_layers = 0;
  std::int64_t kv_share = 1;     // num_attention_heads / num_key_value_heads
  // Rows of the q and of the k (= v) slice of a fused qkv projection (heads x head_dim,
  // kv_heads x head_dim); 0: unknown, the slices then count equally.
  std::int64_t q_rows = 0, kv_rows = 0;
  bool tied_embeddings = false;  // the embedding matrix is also the output head
};
SensitivityContext sensitivity_context(const ModelAnalysis& a);

// The weight of one tensor.
Sensitivity tensor_sensitivity(const TensorAnalysis& t, const SensitivityContext& ctx,
                               const SensitivityConstants& k = kSensitivity);

// True when the model's head is its embedding matrix: config says so, or there is no lm_head.
bool has_tied_embeddings(const ModelAnalysis& a);

}  // namespace ramq
