// Deterministic synthetic weights for ramq's benchmarks (bench/make_synthetic_model.cpp and
// bench/kernels_bench.cpp). Every element is a pure function of (seed, tensor index, element
// index): a counter-based hash, so any chunk can be generated on any thread and the bytes never
// depend on the thread count or the chunking.
//
// Value of element (i, j) of an m x n weight (e = i * n + j):
//   w = sd * (g(e) * o(e) + sum_k a_k u_k[i] v_k[j]),  sd = 1 / sqrt(n)  (fan-in)
//   g  ~ N(0, 1) approximately: Irwin-Hall sum of three 16-bit uniforms, scaled to unit variance
//   o  = outlier factor: `outlier_scale` with probability `outlier_rate`, else 1 (heavy tails,
//        so excess kurtosis is non-trivial; rate and scale vary per tensor)
//   a_k u_k v_k^T: a rank-4 spike (unit-variance random u, v) whose strength varies per tensor,
//        so the spectral concentration differs between tensors.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace ramq::bench {

inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Approximately standard normal from one 64-bit hash: three 16-bit uniforms (Irwin-Hall, n = 3,
// variance 1/4 before scaling). Returns the value; the top 16 bits are left for the caller.
inline float irwin_hall3(std::uint64_t h) {
  const auto u = [&](int s) { return static_cast<float>((h >> s) & 0xffffU); };
  constexpr float kInv = 2.0f / 65535.0f;  // unit variance: (sum/65535 - 1.5) * 2
  return (u(0) + u(16) + u(32)) * kInv - 3.0f;
}

constexpr int kSpikeRank = 4;

// Per-tensor parameters, all derived from (seed, tensor index).
struct TensorGen {
  std::uint64_t key = 0;
  std::int64_t rows = 0, cols = 0;
  float sd = 1.0f;
  std::uint32_t outlier_threshold = 0;  // outlier when the top 16 hash bits are below this
  float outlier_scale = 1.0f;
  float spike[kSpikeRank] = {};
  std::vector<float> u;  // rows x kSpikeRank
  std::vector<float> v;  // cols x kSpikeRank

  TensorGen(std::uint64_t seed, std::uint64_t tensor_index, std::int64_t rows_, std::int64_t cols_)
      : key(splitmix64(seed ^ splitmix64(tensor_index * 0x632be59bd9b4e019ULL + 1))), rows(rows_), cols(cols_) {
    sd = static_cast<float>(1.0 / std::sqrt(static_cast<double>(std::max<std::int64_t>(cols, 1))));
    const std::uint64_t p = splitmix64(key ^ 0x5eed);
    // Outlier rate 2^-10 .. 2^-15, scale 5 .. 10: excess kurtosis from about 0 to 25 (median ~1).
    outlier_threshold = 65536u >> (10 + (p & 7u) % 6);
    outlier_scale = 5.0f + static_cast<float>((p >> 8) & 15u) / 3.0f;
    // Spike strength 0 .. 0.35 (relative to the noise), halving with k.
    const float amp = 0.35f * static_cast<float>((p >> 16) & 7u) / 7.0f;
    for (int k = 0; k < kSpikeRank; ++k) spike[k] = amp / static_cast<float>(1 << k);
    u.resize(static_cast<std::size_t>(rows * kSpikeRank));
    v.resize(static_cast<std::size_t>(cols * kSpikeRank));
    for (std::size_t i = 0; i < u.size(); ++i) u[i] = irwin_hall3(splitmix64(key ^ (0xa11ce000000000ULL + i)));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = irwin_hall3(splitmix64(key ^ (0xb0b0000000000ULL + i)));
  }

  // Writes elements [begin, begin + out.size()) in row-major order (float32).
  void generate(std::int64_t begin, float* out, std::int64_t count) const {
    std::int64_t i = begin / cols, j = begin % cols;
    for (std::int64_t e = 0; e < count; ++e) {
      const std::uint64_t h = splitmix64(key + static_cast<std::uint64_t>(begin + e) * 0x9e3779b97f4a7c15ULL);
      float g = irwin_hall3(h);
      if (static_cast<std::uint32_t>(h >> 48) < outlier_threshold) g *= outlier_scale;
      const float* ui = &u[static_cast<std::size_t>(i * kSpikeRank)];
      const float* vj = &v[static_cast<std::size_t>(j * kSpikeRank)];
      float s = 0.0f;
      for (int k = 0; k < kSpikeRank; ++k) s += spike[k] * ui[k] * vj[k];
      out[e] = sd * (g + s);
      if (++j == cols) {
        j = 0;
        ++i;
      }
    }
  }
};

// A whole rows x cols matrix (for kernel benchmarks).
inline std::vector<float> synthetic_matrix(std::int64_t rows, std::int64_t cols, std::uint64_t seed,
                                           std::uint64_t tensor_index = 0) {
  TensorGen g(seed, tensor_index, rows, cols);
  std::vector<float> w(static_cast<std::size_t>(rows * cols));
  g.generate(0, w.data(), rows * cols);
  return w;
}

}  // namespace ramq::bench
