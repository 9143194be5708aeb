// Float32 forward pass of a Llama-family decoder over a whole window at once (n tokens x
// hidden), or over tokens appended after cached keys and values (incremental decoding), with
// OpenBLAS sgemm for every projection. Weight matrices stay in their stored form
// and are decoded a chunk of rows at a time right before the product that uses them.
// Hugging Face conventions: RMSNorm x * rsqrt(mean(x^2) + eps) * w; rotate_half rotary
// embeddings on pairs (i, i + head_dim/2); causal grouped-query attention with scale 1/sqrt(head_dim); MLP down(silu(gate(x)) * up(x)).
#include "evaluate/llama_forward.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "ramq/error.h"
#include "ramq/gguf_names.h"
#include "ramq/model_family.h"
#include "ramq/parallel.h"

namespace ramq::eval {

namespace {

int to_int(std::int64_t v) { return static_cast<int>(v); }
std::size_t sz(std::int64_t v) { return static_cast<std::size_t>(v); }

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
  std::unique_ptr<std::vector<float>> take() {
    const std::lock_guard<std::mutex> lock(mu_);
    if (free_.empty()) return std::make_unique<std::vector<float>>();
    auto b = std::move(free_.back());
    free_.pop_back();
    return b;
  }
  void give(std::unique_ptr<std::vector<float>> b) {
    const std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(std::move(b));
  }
  std::mutex mu_;
  std::vector<std::unique_ptr<std::vector<float>>> free_;
};

// A mixture-of-experts MLP: the router, the routed experts' projections (by expert), and the
// shared expert with its sigmoid gate (qwen2_moe; empty otherwise).
struct Experts {
  Linear router;
  std::vector<Linear> gate, up, down;
  Linear shared_gate, shared_up, shared_down;
  std::vector<float> shared_router;  // [hidden]
};

struct Layer {
  std::vector<float> in_norm, post_norm, q_norm, k_norm;
  Linear q, k, v, o, gate, up, down;
  std::unique_ptr<Experts> moe;  // instead of gate/up/down
};

// The routed experts of each of n tokens and their weights, from router logits [n, E]: softmax,
// the top k (ties to the lower index), renormalised to sum to 1 when `norm` (HF Qwen2/3-MoE
// with norm_topk_prob; Mixtral's softmax over its top-k logits is the same thing).
void route(const float* logits, std::size_t n, std::size_t experts, std::size_t k, bool norm,
           std::vector<std::uint32_t>& chosen, std::vector<float>& weight) {
  chosen.resize(n * k);
  weight.resize(n * k);
  std::vector<double> p(experts);
  std::vector<std::uint32_t> order(experts);
  for (std::size_t t = 0; t < n; ++t) {
    const float* l = logits + t * experts;
    const float mx = *std::max_element(l, l + experts);
    double sum = 0;
    for (std::size_t e = 0; e < experts; ++e) sum += p[e] = std::exp(static_cast<double>(l[e]) - mx);
    for (std::size_t e = 0; e < experts; ++e) order[e] = static_cast<std::uint32_t>(e);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                      [&](std::uint32_t a, std::uint32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
    double top = 0;
    for (std::size_t j = 0; j < k; ++j) top += p[order[j]];
    for (std::size_t j = 0; j < k; ++j) {
      chosen[t * k + j] = order[j];
      weight[t * k + j] = static_cast<float>(p[order[j]] / (norm ? top : sum));
    }
  }
}

// Y[n, out] = X[n, in] W^T (+ b), W = [out, in] row-major. With enough work the output columns
// are split into fixed chunks of kChunk that run concurrently, each decoding only its rows of W
// (into a pooled scratch buffer, or in place) right before its product; OpenBLAS itself runs
// single-threaded. The split depends only on the sizes, never on the thread count, so results
// do not either.
void matmul_t(const WeightTensor& w, const float* b, std::int64_t out, std::int64_t in, const float* x,
              std::int64_t n, float* y, unsigned threads, ScratchPool& pool) {
  constexpr double kMinSplitWork = 1 << 20;  // multiply-adds
  constexpr std::size_t kChunk = 128;
  const double work = static_cast<double>(n) * static_cast<double>(out) * static_cast<double>(in);
  const std::size_t chunks = work >= kMinSplitWork ? (sz(out) + kChunk - 1) / kChunk : 1;
  const std::size_t per = (sz(out) + chunks - 1) / chunks;
  auto run = [&](std::size_t c) {
    const std::size_t o0 = c * per, o1 = std::min(sz(out), o0 + per);
    if (o0 >= o1) return;
    ScratchPool::Lease lease(pool);
    const float* wc = w.read_rows(static_cast<std::int64_t>(o0), static_cast<std::int64_t>(o1 - o0), lease.buf());
    if (n == 1)  // one token (generation): a matrix-vector product, without sgemm's packing of W
      cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(o1 - o0), to_int(in), 1.0f, wc, to_int(in), x, 1, 0.0f,
                  y + o0, 1);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, to_int(n), static_cast<int>(o1 - o0), to_int(in), 1.0f, x,
                  to_int(in), wc, to_int(in), 0.0f, y + o0, to_int(out));
    if (b != nullptr)
      for (std::size_t r = 0; r < sz(n); ++r)
        for (std::size_t o = o0; o < o1; ++o) y[r * sz(out) + o] += b[o];
  };
  if (chunks == 1)
    run(0);
  else
    parallel_for(chunks, threads, run);
}

// out[r] = x[r] * rsqrt(mean(x[r]^2) + eps) * w, for rows of length d.
void rms_norm(const float* x, std::size_t rows, std::size_t d, const std::vector<float>& w, double eps, float* out) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * d;
    double ss = 0;
    for (std::size_t i = 0; i < d; ++i) ss += static_cast<double>(xr[i]) * xr[i];
    const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(d) + eps));
    for (std::size_t i = 0; i < d; ++i) out[r * d + i] = w[i] * (xr[i] * inv);
  }
}

class LlamaModel final : public IncrementalModel {
 public:
  LlamaModel(std::unique_ptr<WeightSource> src, const EvalOptions& opt)
      : src_(std::move(src)), threads_(resolve_threads(opt.threads)), ctx_(static_cast<std::size_t>(opt.ctx)) {
    s_ = llama_spec(src_->config(), src_->config_file(), opt.ctx);
    const std::int64_t q_dim = s_.heads * s_.head_dim, kv_dim = s_.kv_heads * s_.head_dim;
    embed_ = open("model.embed_tokens.weight", {s_.vocab, s_.hidden});
    final_norm_ = load("model.norm.weight", {s_.hidden});
    if (!s_.tie_word_embeddings) {
      if (!src_->has("lm_head.weight"))
        throw Error(src_->config_file(), "lm_head.weight",
                    "field 'tie_word_embeddings' is false but the model has no lm_head.weight");
      head_ = {s_.vocab, s_.hidden, open("lm_head.weight", {s_.vocab, s_.hidden}), {}};
    }
    layers_.resize(sz(s_.layers));
    for (std::int64_t i = 0; i < s_.layers; ++i) {
      const std::string p = "model.layers." + std::to_string(i) + ".";
      Layer& L = layers_[sz(i)];
      L.in_norm = load(p + "input_layernorm.weight", {s_.hidden});
      L.post_norm = load(p + "post_attention_layernorm.weight", {s_.hidden});
      const bool ab = s_.attention_bias, qb = ab || s_.qkv_bias;
      L.q = load_linear(p + "self_attn.q_proj", q_dim, s_.hidden, qb);
      L.k = load_linear(p + "self_attn.k_proj", kv_dim, s_.hidden, qb);
      L.v = load_linear(p + "self_attn.v_proj", kv_dim, s_.hidden, qb);
      L.o = load_linear(p + "self_attn.o_proj", s_.hidden, q_dim, ab);
      if (s_.moe) {
        L.moe = load_experts(i);
      } else {
        L.gate = load_linear(p + "mlp.gate_proj", s_.intermediate, s_.hidden, s_.mlp_bias);
        L.up = load_linear(p + "mlp.up_proj", s_.intermediate, s_.hidden, s_.mlp_bias);
        L.down = load_linear(p + "mlp.down_proj", s_.hidden, s_.intermediate, s_.mlp_bias);
      }
      if (s_.qk_norm || src_->has(p + "self_attn.q_norm.weight")) {
        L.q_norm = load(p + "self_attn.q_norm.weight", {s_.head_dim});
        L.k_norm = load(p + "self_attn.k_norm.weight", {s_.head_dim});
      }
    }
    const std::string experts = s_.moe ? ", " + std::to_string(s_.moe->experts) + " experts top-" +
                                             std::to_string(s_.moe->experts_per_token)
                                       : "";
    description_ = s_.model_type + " (" + std::to_string(s_.layers) + " layers, hidden " +
                   std::to_string(s_.hidden) + experts + ", vocab " + std::to_string(s_.vocab) + ", rope " + s_.rope +
                   ") from " + src_->description();
  }

  std::int64_t vocab_size() const override { return s_.vocab; }
  std::string description() const override { return description_; }

  std::vector<float> forward(std::span<const std::uint32_t> tokens) override { return run(tokens, 0, false); }

  std::vector<float> append(std::span<const std::uint32_t> tokens) override {
    // The configuration was validated for windows of ctx_ tokens (sliding window, rope scaling).
    if (cached_ + tokens.size() > ctx_)
      throw Error(src_->config_file(), "", "incremental decoding past the window of " + std::to_string(ctx_) +
                                               " positions the model was opened for");
    std::vector<float> logits = run(tokens, cached_, true);
    cached_ += tokens.size();
    return logits;
  }

  void clear_cache() override { cached_ = 0; }

  PositionLimit limit() const {
    const bool gguf = src_->config_file().ends_with(".gguf");
    return {src_->config().max_position_embeddings, src_->config_file(),
            gguf ? "context_length" : "max_position_embeddings"};
  }

 private:
  // Logits of `tokens` at positions past..past+n-1. With use_cache their keys and values are
  // stored in cache_ after the `past` cached ones and attention runs over all of them; without,
  // past is 0 and attention runs over the window's own keys (forward()).
  std::vector<float> run(std::span<const std::uint32_t> tokens, std::size_t past, bool use_cache) {
    // Threads come from parallel_for over independent output chunks / attention tasks; OpenBLAS
    // runs single-threaded inside them (its own pool spins while idle, which costs more than it
    // gains on small matrices and competes with the attention workers).
    openblas_set_num_threads(1);
    const std::int64_t n = static_cast<std::int64_t>(tokens.size());
    const std::size_t un = tokens.size(), H = sz(s_.hidden), hd = sz(s_.head_dim), half = hd / 2;
    const std::size_t q_dim = sz(s_.heads) * hd, kv_dim = sz(s_.kv_heads) * hd, I = sz(s_.intermediate);
    if (un == 0) return {};
    // Workspace kept between calls (no zeroing needed: every element is written before use).
    auto& [x, xn, q, k, v, att, g, u, tmp] = ws_;
    for (auto* b : {&x, &xn, &tmp}) b->resize(un * H);
    for (auto* b : {&q, &att}) b->resize(un * q_dim);
    for (auto* b : {&k, &v}) b->resize(un * kv_dim);
    for (auto* b : {&g, &u}) b->resize(L_moe() ? 0 : un * I);
    for (std::size_t t = 0; t < un; ++t) {
      if (tokens[t] >= static_cast<std::uint64_t>(s_.vocab))
        throw Error("", "", "token id " + std::to_string(tokens[t]) + " at position " + std::to_string(t) +
                                " is outside the vocabulary (vocab_size " + std::to_string(s_.vocab) + ")");
      std::copy_n(embed_->read_rows(tokens[t], 1, embed_row_), H, x.data() + t * H);
    }
    // Rotary tables: angle = position * inv_freq[i], in double.
    std::vector<float> cos_t(un * half), sin_t(un * half);
    for (std::size_t t = 0; t < un; ++t)
      for (std::size_t i = 0; i < half; ++i) {
        const double a = static_cast<double>(past + t) * s_.inv_freq[i];
        cos_t[t * half + i] = static_cast<float>(std::cos(a));
        sin_t[t * half + i] = static_cast<float>(std::sin(a));
      }
    auto rope = [&](std::vector<float>& m, std::size_t nh) {
      for (std::size_t t = 0; t < un; ++t)
        for (std::size_t h = 0; h < nh; ++h) {
          float* e = m.data() + t * nh * hd + h * hd;
          for (std::size_t i = 0; i < half; ++i) {
            const float c = cos_t[t * half + i], s = sin_t[t * half + i];
            const float a = e[i], b = e[i + half];
            e[i] = a * c - b * s;
            e[i + half] = b * c + a * s;
          }
        }
    };

    auto matmul = [&](const WeightTensor& w, const std::vector<float>& b, std::int64_t out_dim, std::int64_t in_dim,
                      const float* in, float* out) {
      matmul_t(w, b.empty() ? nullptr : b.data(), out_dim, in_dim, in, n, out, threads_, scratch_);
    };
    auto linear = [&](const Linear& l, const float* in, float* out) { matmul(*l.w, l.b, l.out, l.in, in, out); };

    if (use_cache) cache_.resize(layers_.size());
    for (std::size_t li = 0; li < layers_.size(); ++li) {
      const Layer& L = layers_[li];
      rms_norm(x.data(), un, H, L.in_norm, s_.rms_eps, xn.data());
      linear(L.q, xn.data(), q.data());
      linear(L.k, xn.data(), k.data());
      linear(L.v, xn.data(), v.data());
      if (!L.q_norm.empty()) {
        rms_norm(q.data(), un * sz(s_.heads), hd, L.q_norm, s_.rms_eps, q.data());
        rms_norm(k.data(), un * sz(s_.kv_heads), hd, L.k_norm, s_.rms_eps, k.data());
      }
      rope(q, sz(s_.heads));
      rope(k, sz(s_.kv_heads));
      if (use_cache) {
        KvCache& c = cache_[li];
        for (auto* m : {&c.k, &c.v}) m->resize((past + un) * kv_dim);
        std::copy(k.begin(), k.end(), c.k.begin() + static_cast<std::ptrdiff_t>(past * kv_dim));
        std::copy(v.begin(), v.end(), c.v.begin() + static_cast<std::ptrdiff_t>(past * kv_dim));
        attention(q.data(), c.k.data(), c.v.data(), un, past, att.data());
      } else {
        attention(q.data(), k.data(), v.data(), un, 0, att.data());
      }
      linear(L.o, att.data(), tmp.data());
      for (std::size_t i = 0; i < x.size(); ++i) x[i] += tmp[i];

      rms_norm(x.data(), un, H, L.post_norm, s_.rms_eps, xn.data());
      if (L.moe) {
        moe_mlp(*L.moe, xn.data(), un, tmp.data());
      } else {
        linear(L.gate, xn.data(), g.data());
        linear(L.up, xn.data(), u.data());
        swiglu(g.data(), u.data(), g.size());
        linear(L.down, g.data(), tmp.data());
      }
      for (std::size_t i = 0; i < x.size(); ++i) x[i] += tmp[i];
    }
    rms_norm(x.data(), un, H, final_norm_, s_.rms_eps, xn.data());
    std::vector<float> logits(un * sz(s_.vocab));
    if (s_.tie_word_embeddings)
      matmul(*embed_, {}, s_.vocab, s_.hidden, xn.data(), logits.data());
    else
      linear(head_, xn.data(), logits.data());
    return logits;
  }

  bool L_moe() const { return s_.moe.has_value(); }

  static void swiglu(float* g, const float* u, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  }

  // down(silu(gate(x)) * up(x)) of m rows x [m, in] into y [m, out] (one expert).
  void expert_mlp(const Linear& gate, const Linear& up, const Linear& down, const float* x, std::size_t m, float* y) {
    std::vector<float> g(m * sz(gate.out)), u(m * sz(up.out));
    const auto rows = static_cast<std::int64_t>(m);
    matmul_t(*gate.w, nullptr, gate.out, gate.in, x, rows, g.data(), threads_, scratch_);
    matmul_t(*up.w, nullptr, up.out, up.in, x, rows, u.data(), threads_, scratch_);
    swiglu(g.data(), u.data(), g.size());
    matmul_t(*down.w, nullptr, down.out, down.in, g.data(), rows, y, threads_, scratch_);
  }

  // The mixture-of-experts MLP of n normed rows xn into out [n, hidden]: each token's top-k
  // experts weighted by the router, experts in index order (fixed reduction order), plus the
  // shared expert scaled by sigmoid(shared_router . x).
  void moe_mlp(const Experts& m, const float* xn, std::size_t n, float* out) {
    const std::size_t H = sz(s_.hidden), E = sz(s_.moe->experts), k = sz(s_.moe->experts_per_token);
    std::vector<float> logits(n * E), weight;
    std::vector<std::uint32_t> chosen;
    matmul_t(*m.router.w, nullptr, m.router.out, m.router.in, xn, static_cast<std::int64_t>(n), logits.data(),
             threads_, scratch_);
    route(logits.data(), n, E, k, s_.moe->norm_topk, chosen, weight);
    std::vector<std::vector<std::pair<std::size_t, float>>> tokens(E);  // per expert: (token, weight)
    for (std::size_t i = 0; i < n * k; ++i) tokens[chosen[i]].emplace_back(i / k, weight[i]);
    std::fill(out, out + n * H, 0.0f);
    std::vector<float> xe, ye;
    for (std::size_t e = 0; e < E; ++e) {
      const auto& te = tokens[e];
      if (te.empty()) continue;
      xe.resize(te.size() * H);
      ye.resize(te.size() * H);
      for (std::size_t r = 0; r < te.size(); ++r) std::copy_n(xn + te[r].first * H, H, xe.data() + r * H);
      expert_mlp(m.gate[e], m.up[e], m.down[e], xe.data(), te.size(), ye.data());
      for (std::size_t r = 0; r < te.size(); ++r)
        for (std::size_t d = 0; d < H; ++d) out[te[r].first * H + d] += te[r].second * ye[r * H + d];
    }
    if (m.shared_router.empty()) return;
    std::vector<float> ys(n * H);
    expert_mlp(m.shared_gate, m.shared_up, m.shared_down, xn, n, ys.data());
    for (std::size_t t = 0; t < n; ++t) {
      double dot = 0;
      for (std::size_t d = 0; d < H; ++d) dot += static_cast<double>(xn[t * H + d]) * m.shared_router[d];
      const float gate = static_cast<float>(1.0 / (1.0 + std::exp(-dot)));
      for (std::size_t d = 0; d < H; ++d) out[t * H + d] += gate * ys[t * H + d];
    }
  }

  // Causal grouped-query attention of all heads: att[t, h*hd..] = softmax(scale q_h k^T) v, for
  // n query rows at positions past..past+n-1 over keys and values at positions 0..past+n-1.
  // Tasks are (head, block of kRows query rows); a block's rows attend to keys
  // 0..past+row_end-1 only, so the masked upper triangle is (almost) never computed. OpenBLAS
  // runs single-threaded inside the tasks; the tasks are spread over threads_ workers. With
  // past 0 this is exactly the whole-window computation of forward().
  void attention(const float* q, const float* k, const float* v, std::size_t n, std::size_t past, float* att) const {
    constexpr std::size_t kRows = 64;
    const std::size_t hd = sz(s_.head_dim), heads = sz(s_.heads), q_dim = heads * hd;
    const std::size_t kv_dim = sz(s_.kv_heads) * hd, group = sz(s_.heads / s_.kv_heads);
    const std::size_t blocks = (n + kRows - 1) / kRows;
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
    // Below about 2^18 multiply-adds (one generated token over a short context) waking workers
    // costs more than it saves; the tasks and their results are the same either way.
    const double work = static_cast<double>(n) * static_cast<double>(past + n) * static_cast<double>(q_dim);
    const unsigned workers = work >= (1 << 18) ? threads_ : 1;
    parallel_for(heads * blocks, workers, [&](std::size_t task) {
      const std::size_t h = task / blocks, r0 = (task % blocks) * kRows, r1 = std::min(n, r0 + kRows);
      const std::size_t rows = r1 - r0, kvh = h / group, keys = past + r1;
      std::vector<float> sc(rows * keys);  // scores / probabilities, rows x keys
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(keys),
                  static_cast<int>(hd), scale, q + r0 * q_dim + h * hd, static_cast<int>(q_dim), k + kvh * hd,
                  static_cast<int>(kv_dim), 0.0f, sc.data(), static_cast<int>(keys));
      float inv_sum[kRows];
      for (std::size_t i = 0; i < rows; ++i) {
        float* row = sc.data() + i * keys;
        const std::size_t len = past + r0 + i + 1;  // keys 0..past+r0+i
        const float mx = *std::max_element(row, row + len);
        for (std::size_t j = 0; j < len; ++j) row[j] = std::exp(row[j] - mx);
        float acc[8] = {};
        std::size_t j = 0;
        for (; j + 8 <= len; j += 8)
          for (std::size_t l = 0; l < 8; ++l) acc[l] += row[j + l];
        for (; j < len; ++j) acc[0] += row[j];
        float sum = 0;
        for (const float a : acc) sum += a;
        inv_sum[i] = 1.0f / sum;
        std::fill(row + len, row + keys, 0.0f);
      }
      // Unnormalized probabilities times V, then each row scaled by 1 / sum.
      float* out = att + r0 * q_dim + h * hd;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows), static_cast<int>(hd),
                  static_cast<int>(keys), 1.0f, sc.data(), static_cast<int>(keys), v + kvh * hd,
                  static_cast<int>(kv_dim), 0.0f, out, static_cast<int>(q_dim));
      for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t d = 0; d < hd; ++d) out[i * q_dim + d] *= inv_sum[i];
    });
  }

  void check_shape(const std::string& name, const std::vector<std::int64_t>& expected) const {
    const auto shape = src_->shape(name);
    if (shape != expected) {
      auto str = [](const std::vector<std::int64_t>& s) {
        std::string o = "[";
        for (std::size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
        return o + "]";
      };
      throw Error(src_->config_file(), name,
                  "has shape " + str(shape) + " but the configuration implies " + str(expected));
    }
  }

  // A small tensor (norm, bias), held as float32.
  std::vector<float> load(const std::string& name, const std::vector<std::int64_t>& expected) const {
    check_shape(name, expected);
    return src_->load(name);
  }

  // A matrix, validated now and decoded chunk by chunk at every use.
  std::unique_ptr<WeightTensor> open(const std::string& name, const std::vector<std::int64_t>& expected) const {
    check_shape(name, expected);
    return src_->tensor(name);
  }

  Linear load_linear(const std::string& module, std::int64_t out, std::int64_t in, bool bias_required) {
    Linear l{out, in, open(module + ".weight", {out, in}), {}};
    if (bias_required || src_->has(module + ".bias")) l.b = load(module + ".bias", {out});
    return l;
  }

  // Layer i's router, routed experts and shared expert, by the family's Hugging Face names.
  std::unique_ptr<Experts> load_experts(std::int64_t i) {
    const ModelFamily& family = family_for(src_->config(), src_->config_file(), "evaluation");
    const auto hf = [&](const char* gguf) {
      return gguf_to_hf_tensor_name(family, "blk." + std::to_string(i) + "." + gguf).value();
    };
    const MoeFields& moe = *s_.moe;
    auto m = std::make_unique<Experts>();
    m->router = {moe.experts, s_.hidden, open(hf("ffn_gate_inp.weight"), {moe.experts, s_.hidden}), {}};
    const auto stack = [&](const char* gguf, std::int64_t out, std::int64_t in) {
      std::vector<Linear> v;
      for (auto& w : src_->experts(hf(gguf), moe.experts, out, in)) v.push_back({out, in, std::move(w), {}});
      return v;
    };
    m->gate = stack("ffn_gate_exps.weight", moe.expert_ff, s_.hidden);
    m->up = stack("ffn_up_exps.weight", moe.expert_ff, s_.hidden);
    m->down = stack("ffn_down_exps.weight", s_.hidden, moe.expert_ff);
    if (moe.shared_ff > 0) {
      const auto linear = [&](const char* gguf, std::int64_t out, std::int64_t in) {
        return Linear{out, in, open(hf(gguf), {out, in}), {}};
      };
      m->shared_gate = linear("ffn_gate_shexp.weight", moe.shared_ff, s_.hidden);
      m->shared_up = linear("ffn_up_shexp.weight", moe.shared_ff, s_.hidden);
      m->shared_down = linear("ffn_down_shexp.weight", s_.hidden, moe.shared_ff);
      const std::string router = hf("ffn_gate_inp_shexp.weight");
      m->shared_router = src_->load(router);  // [1, hidden] (Hugging Face) or [hidden] (GGUF)
      if (m->shared_router.size() != sz(s_.hidden))
        throw Error(src_->config_file(), router, "must hold hidden_size values");
    }
    return m;
  }

  std::unique_ptr<WeightSource> src_;
  unsigned threads_;
  std::size_t ctx_;  // the window the configuration was validated for: append()'s limit
  LlamaSpec s_;
  std::unique_ptr<WeightTensor> embed_;
  std::vector<float> final_norm_;
  std::vector<float> embed_row_;  // scratch of the embedding lookup
  Linear head_;
  std::vector<Layer> layers_;
  std::string description_;
  ScratchPool scratch_;
  struct Workspace {
    std::vector<float> x, xn, q, k, v, att, g, u, tmp;
  } ws_;
  struct KvCache {
    std::vector<float> k, v;  // positions x kv_dim, keys after the rotary embedding
  };
  std::vector<KvCache> cache_;  // one per layer (append())
  std::size_t cached_ = 0;      // positions held in cache_
};

}  // namespace

std::unique_ptr<LanguageModel> make_llama_model(std::unique_ptr<WeightSource> weights, const EvalOptions& opt) {
  return std::make_unique<LlamaModel>(std::move(weights), opt);
}

std::unique_ptr<IncrementalModel> make_incremental_llama_model(std::unique_ptr<WeightSource> weights,
                                                               const EvalOptions& opt) {
  return std::make_unique<LlamaModel>(std::move(weights), opt);
}

}  // namespace ramq::eval

namespace ramq {

std::optional<PositionLimit> position_limit(const LanguageModel& model) {
  const auto* llama = dynamic_cast<const eval::LlamaModel*>(&model);
  if (llama == nullptr) return std::nullopt;
  PositionLimit limit = llama->limit();
  if (limit.positions <= 0) return std::nullopt;
  return limit;
}

}  // namespace ramq
