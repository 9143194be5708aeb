// evaluate stage, internal: the pieces the float32 forward passes share (llama_forward.cpp for
// the Llama-family decoders, hybrid_forward.cpp for the hybrid linear-attention families):
// weight matrices decoded a row chunk at a time into pooled scratch buffers, the chunked
// matrix product, RMSNorm, SwiGLU, causal grouped-query attention, and the mixture-of-experts
// MLP with its router. Every split of work depends only on the sizes, never on the thread
// count, so results do not either.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "evaluate/weights.h"
#include "ramq/eval.h"
#include "ramq/family_config.h"

namespace ramq::eval {

inline int to_int(std::int64_t v) { return static_cast<int>(v); }
inline std::size_t sz(std::int64_t v) { return static_cast<std::size_t>(v); }

struct Linear {
  std::int64_t out = 0, in = 0;
  std::unique_ptr<WeightTensor> w;  // [out, in], decoded a row chunk at a time
  std::vector<float> b;             // [out] or empty
};

// Buffers for decoded weight chunks, kept between calls: one per task running at a time, so at
// most `threads` of them, each as large as the largest chunk decoded into it.
class ScratchPool {
 public:
  class Lease {
   public:
    explicit Lease(ScratchPool& pool) : pool_(pool), buf_(pool.take()) {}
    ~Lease() { pool_.give(std::move(buf_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    std::vector<float>& buf() { return *buf_; }

   private:
    ScratchPool& pool_;
    std::unique_ptr<std::vector<float>> buf_;
  };

 private:
  std::unique_ptr<std::vector<float>> take();
  void give(std::unique_ptr<std::vector<float>> b);
  std::mutex mu_;
  std::vector<std::unique_ptr<std::vector<float>>> free_;
};

// A mixture-of-experts MLP: the router, the routed experts' projections (by expert), and the
// shared expert with its sigmoid gate (qwen2_moe, qwen3_next, qwen3_5_moe; empty otherwise).
struct Experts {
  Linear router;
  std::vector<Linear> gate, up, down;
  Linear shared_gate, shared_up, shared_down;
  std::vector<float> shared_router;  // [hidden]
};

// The routed experts of each of n tokens and their weights, from router logits [n, E]: softmax,
// the top k (ties to the lower index), renormalised to sum to 1 when `norm` (HF Qwen2/3-MoE
// with norm_topk_prob; Mixtral's softmax over its top-k logits is the same thing).
void route(const float* logits, std::size_t n, std::size_t experts, std::size_t k, bool norm,
           std::vector<std::uint32_t>& chosen, std::vector<float>& weight);

// Y[n, out] = X[n, in] W^T (+ b), W = [out, in] row-major. With enough work the output columns
// are split into fixed chunks that run concurrently, each decoding only its rows of W right
// before its product; OpenBLAS itself runs single-threaded.
void matmul_t(const WeightTensor& w, const float* b, std::int64_t out, std::int64_t in, const float* x,
              std::int64_t n, float* y, unsigned threads, ScratchPool& pool);
inline void linear_t(const Linear& l, const float* x, std::int64_t n, float* y, unsigned threads, ScratchPool& pool) {
  matmul_t(*l.w, l.b.empty() ? nullptr : l.b.data(), l.out, l.in, x, n, y, threads, pool);
}

// out[r] = x[r] * rsqrt(mean(x[r]^2) + eps) * w, for rows of length d (out may be x).
void rms_norm(const float* x, std::size_t rows, std::size_t d, const std::vector<float>& w, double eps, float* out);

// g[i] = silu(g[i]) * u[i].
void swiglu(float* g, const float* u, std::size_t n);
// g[i] = gelu_tanh(g[i]) * u[i], GELU's tanh approximation (Gemma's gelu_pytorch_tanh).
void geglu_tanh(float* g, const float* u, std::size_t n);

// Causal grouped-query attention of all heads: att[t, h*hd..] = softmax(q_h k^T / sqrt(hd)) v,
// for n query rows (stride heads*hd) at positions past..past+n-1 over keys and values (stride
// kv_heads*hd) at positions 0..past+n-1. Query head h reads key/value head h / (heads/kv_heads).
// With a window w > 0 the query at position p attends to keys p-w+1..p only (sliding window).
void causal_attention(const float* q, const float* k, const float* v, std::size_t n, std::size_t past,
                      std::size_t heads, std::size_t kv_heads, std::size_t hd, unsigned threads, float* att,
                      std::size_t window = 0);

// down(silu(gate(x)) * up(x)) of m rows x [m, in] into y [m, out] (one expert).
void expert_mlp(const Linear& gate, const Linear& up, const Linear& down, const float* x, std::size_t m, float* y,
                unsigned threads, ScratchPool& pool);

// The mixture-of-experts MLP of n normed rows xn [n, hidden] into out [n, hidden]: each token's
// top-k experts weighted by the router, experts in index order (fixed reduction order), plus
// the shared expert scaled by sigmoid(shared_router . x) when there is one.
void moe_mlp(const Experts& m, const MoeFields& moe, std::size_t hidden, const float* xn, std::size_t n, float* out,
             unsigned threads, ScratchPool& pool);

// Throws Error(config file, "", ...) when `cached` positions plus n more exceed the window of
// ctx positions a model was opened for (append()).
void check_append_window(const WeightSource& src, std::size_t cached, std::size_t n, std::size_t ctx);
// The source's position limit: max_position_embeddings, or a GGUF file's context_length.
PositionLimit source_position_limit(const WeightSource& src);

// Tensors of a WeightSource checked against the shapes the configuration implies.
class CheckedWeights {
 public:
  explicit CheckedWeights(const WeightSource& src) : src_(src) {}
  // Error(config file, name, "has shape [..] but the configuration implies [..]").
  void check_shape(const std::string& name, const std::vector<std::int64_t>& expected) const;
  // A small tensor (norm, bias), held as float32.
  std::vector<float> load(const std::string& name, const std::vector<std::int64_t>& expected) const;
  // A matrix, validated now and decoded chunk by chunk at every use.
  std::unique_ptr<WeightTensor> open(const std::string& name, const std::vector<std::int64_t>& expected) const;
  // module.weight [out, in], and module.bias [out] when required or present.
  Linear linear(const std::string& module, std::int64_t out, std::int64_t in, bool bias_required = false) const;
  // A bias-free [out, in] matrix under its whole name.
  Linear matrix(const std::string& name, std::int64_t out, std::int64_t in) const {
    return {out, in, open(name, {out, in}), {}};
  }

 private:
  const WeightSource& src_;
};

}  // namespace ramq::eval
