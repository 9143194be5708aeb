// The shared pieces of the float32 forward passes (evaluate/forward_kernels.h).
#include "evaluate/forward_kernels.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "ramq/error.h"
#include "ramq/parallel.h"

namespace ramq::eval {

std::unique_ptr<std::vector<float>> ScratchPool::take() {
  const std::lock_guard<std::mutex> lock(mu_);
  if (free_.empty()) return std::make_unique<std::vector<float>>();
  auto b = std::move(free_.back());
  free_.pop_back();
  return b;
}

void ScratchPool::give(std::unique_ptr<std::vector<float>> b) {
  const std::lock_guard<std::mutex> lock(mu_);
  free_.push_back(std::move(b));
}

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

// The split depends only on the sizes, never on the thread count, so results do not either.
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

void rms_norm(const float* x, std::size_t rows, std::size_t d, const std::vector<float>& w, double eps, float* out) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * d;
    double ss = 0;
    for (std::size_t i = 0; i < d; ++i) ss += static_cast<double>(xr[i]) * xr[i];
    const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(d) + eps));
    for (std::size_t i = 0; i < d; ++i) out[r * d + i] = w[i] * (xr[i] * inv);
  }
}

void swiglu(float* g, const float* u, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void geglu_tanh(float* g, const float* u, std::size_t n) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  for (std::size_t i = 0; i < n; ++i) {
    const float x = g[i];
    g[i] = 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x))) * u[i];
  }
}

// Tasks are (head, block of kRows query rows); a block's rows attend to keys 0..past+row_end-1
// only, so the masked upper triangle is (almost) never computed. OpenBLAS runs single-threaded
// inside the tasks; the tasks are spread over the workers. With past 0 this is exactly the
// whole-window computation.
void causal_attention(const float* q, const float* k, const float* v, std::size_t n, std::size_t past,
                      std::size_t heads, std::size_t kv_heads, std::size_t hd, unsigned threads, float* att,
                      std::size_t window) {
  constexpr std::size_t kRows = 64;
  const std::size_t q_dim = heads * hd, kv_dim = kv_heads * hd, group = heads / kv_heads;
  const std::size_t blocks = (n + kRows - 1) / kRows;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  // Below about 2^18 multiply-adds (one generated token over a short context) waking workers
  // costs more than it saves; the tasks and their results are the same either way.
  const double work = static_cast<double>(n) * static_cast<double>(past + n) * static_cast<double>(q_dim);
  const unsigned workers = work >= (1 << 18) ? threads : 1;
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
      const std::size_t lo = window > 0 && len > window ? len - window : 0;  // the window's first key
      const float mx = *std::max_element(row + lo, row + len);
      std::fill(row, row + lo, 0.0f);
      for (std::size_t j = lo; j < len; ++j) row[j] = std::exp(row[j] - mx);
      float acc[8] = {};
      std::size_t j = lo;
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

void expert_mlp(const Linear& gate, const Linear& up, const Linear& down, const float* x, std::size_t m, float* y,
                unsigned threads, ScratchPool& pool) {
  std::vector<float> g(m * sz(gate.out)), u(m * sz(up.out));
  const auto rows = static_cast<std::int64_t>(m);
  matmul_t(*gate.w, nullptr, gate.out, gate.in, x, rows, g.data(), threads, pool);
  matmul_t(*up.w, nullptr, up.out, up.in, x, rows, u.data(), threads, pool);
  swiglu(g.data(), u.data(), g.size());
  matmul_t(*down.w, nullptr, down.out, down.in, g.data(), rows, y, threads, pool);
}

void moe_mlp(const Experts& m, const MoeFields& moe, std::size_t H, const float* xn, std::size_t n, float* out,
             unsigned threads, ScratchPool& pool) {
  const std::size_t E = sz(moe.experts), k = sz(moe.experts_per_token);
  std::vector<float> logits(n * E), weight;
  std::vector<std::uint32_t> chosen;
  matmul_t(*m.router.w, nullptr, m.router.out, m.router.in, xn, static_cast<std::int64_t>(n), logits.data(), threads,
           pool);
  route(logits.data(), n, E, k, moe.norm_topk, chosen, weight);
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
    expert_mlp(m.gate[e], m.up[e], m.down[e], xe.data(), te.size(), ye.data(), threads, pool);
    for (std::size_t r = 0; r < te.size(); ++r)
      for (std::size_t d = 0; d < H; ++d) out[te[r].first * H + d] += te[r].second * ye[r * H + d];
  }
  if (m.shared_router.empty()) return;
  std::vector<float> ys(n * H);
  expert_mlp(m.shared_gate, m.shared_up, m.shared_down, xn, n, ys.data(), threads, pool);
  for (std::size_t t = 0; t < n; ++t) {
    double dot = 0;
    for (std::size_t d = 0; d < H; ++d) dot += static_cast<double>(xn[t * H + d]) * m.shared_router[d];
    const float gate = static_cast<float>(1.0 / (1.0 + std::exp(-dot)));
    for (std::size_t d = 0; d < H; ++d) out[t * H + d] += gate * ys[t * H + d];
  }
}

void check_append_window(const WeightSource& src, std::size_t cached, std::size_t n, std::size_t ctx) {
  if (cached + n > ctx)
    throw Error(src.config_file(), "", "incremental decoding past the window of " + std::to_string(ctx) +
                                           " positions the model was opened for");
}

PositionLimit source_position_limit(const WeightSource& src) {
  const bool gguf = src.config_file().ends_with(".gguf");
  return {src.config().max_position_embeddings, src.config_file(), gguf ? "context_length" : "max_position_embeddings"};
}

void CheckedWeights::check_shape(const std::string& name, const std::vector<std::int64_t>& expected) const {
  const auto shape = src_.shape(name);
  if (shape != expected) {
    auto str = [](const std::vector<std::int64_t>& s) {
      std::string o = "[";
      for (std::size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
      return o + "]";
    };
    throw Error(src_.config_file(), name, "has shape " + str(shape) + " but the configuration implies " + str(expected));
  }
}

std::vector<float> CheckedWeights::load(const std::string& name, const std::vector<std::int64_t>& expected) const {
  check_shape(name, expected);
  return src_.load(name);
}

std::unique_ptr<WeightTensor> CheckedWeights::open(const std::string& name,
                                                   const std::vector<std::int64_t>& expected) const {
  check_shape(name, expected);
  return src_.tensor(name);
}

Linear CheckedWeights::linear(const std::string& module, std::int64_t out, std::int64_t in, bool bias_required) const {
  Linear l{out, in, open(module + ".weight", {out, in}), {}};
  if (bias_required || src_.has(module + ".bias")) l.b = load(module + ".bias", {out});
  return l;
}

}  // namespace ramq::eval
