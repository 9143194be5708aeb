// The shape of a synthetic Llama-architecture checkpoint and its tensor list (names, shapes,
// shard assignment), shared by bench/make_synthetic_model.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ramq::bench {

struct ModelShape {
  std::int64_t hidden = 0, layers = 0, heads = 0, kv_heads = 0, ffn = 0, vocab = 0;
  bool tied = false;
  // A mixture of experts (a qwen3_moe checkpoint: q/k norms, router "mlp.gate", experts
  // "mlp.experts.E.{gate,up,down}_proj" in every layer) when experts > 0.
  std::int64_t experts = 0, experts_per_tok = 0, expert_ffn = 0;
  std::int64_t explicit_head_dim = 0;  // 0: hidden / heads
  // A Qwen3.5-MoE checkpoint (model_type qwen3_5_moe, its real tensor names and fused 3-D expert
  // stacks, a shared expert of expert_ffn, Gated DeltaNet layers with linear_heads key heads and
  // linear_value_heads value heads of linear_head_dim, every full_attention_interval-th layer
  // gated full attention) when hybrid.
  bool hybrid = false;
  std::int64_t linear_heads = 0, linear_value_heads = 0, linear_head_dim = 0, full_attention_interval = 0;
  std::int64_t head_dim() const { return explicit_head_dim > 0 ? explicit_head_dim : hidden / heads; }
};

// "tiny" (CI, ~83 MB of BF16), "1b" (Llama-3.2-1B-like), "8b" (Llama-3-8B-like), "30gb"
// (Llama-shaped, ~30.4 GB of BF16: larger than this machine's RAM), "30b-a3b" (Qwen3-30B-A3B's
// layer shape, 128 experts top-8, with 4 of its 48 layers: 6.2 GB of BF16), "397b-a17b"
// (Qwen3.5-397B-A17B's shapes, 512 experts of 1024 top-10, with 2 of its 60 layers, one of each
// kind: 30.3 GB of BF16).
std::optional<ModelShape> preset_shape(const std::string& name);
std::vector<std::string> preset_names();

struct TensorSpec {
  std::string name;
  std::vector<std::int64_t> shape;  // [rows, cols] or [n] (norms)
  bool norm = false;                // filled with 1.0
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

// Tensors of a hybrid shape (qwen3_5_moe names, "model.language_model." prefix), in file order.
std::vector<TensorSpec> qwen3_5_moe_tensors(const ModelShape& s);

// Tensors in file order: embed_tokens, per layer (input_layernorm, q/k/v/o, post_attention_layernorm,
// gate/up/down), model.norm, lm_head (unless tied). The tensor index (position in this list) is
// part of each tensor's random stream.
std::vector<TensorSpec> llama_tensors(const ModelShape& s);

}  // namespace ramq::bench
