// The randomized SVD's products with W and the Ritz step's Gram matrices (src/analyze/products.h)
// at every SIMD level this CPU has: against products formed in double by plain loops here, bit for
// bit between the AVX2 and AVX-512 kernels and across thread counts, with leading dimensions larger
// than the blocks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "analyze/products.h"
#include "ramq/ggml_types.h"

namespace ramq {
namespace {

struct LevelScope {  // one SIMD level for a scope, the default again after it
  explicit LevelScope(SimdLevel level) { set_simd_level(level); }
  ~LevelScope() { reset_simd_level(); }
  LevelScope(const LevelScope&) = delete;
  LevelScope& operator=(const LevelScope&) = delete;
};

std::vector<float> gaussian(std::size_t count, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(count);
  for (float& x : v) x = d(gen);
  return v;
}

// One product case: W (m x n, row-major), the operand X (column-major, k x c with leading dimension
// ldx, k = n for W X, m for W^T X) and the result's leading dimension.
struct Case {
  int m, n, c;
  bool transposed;
  int pad;  // extra rows in the leading dimensions of the operand and the result
};

std::string name_of(const Case& t) {
  return std::to_string(t.m) + "x" + std::to_string(t.n) + (t.transposed ? " W^T X" : " W X") + " c=" +
         std::to_string(t.c);
}

// The result (column-major, leading dimension ldr) of the case at the level in use.
std::vector<float> run(const Case& t, const std::vector<float>& w, const std::vector<float>& x, unsigned threads,
                       float fill = 0.0f) {
  const int k = t.transposed ? t.m : t.n, r = t.transposed ? t.n : t.m;
  const int ldx = k + t.pad, ldr = r + t.pad;
  std::vector<float> out(static_cast<std::size_t>(ldr) * t.c, fill);
  const MatrixView v{w.data(), t.m, t.n};
  if (t.transposed) detail::wt_times(v, x.data(), ldx, t.c, out.data(), ldr, threads);
  else detail::w_times(v, x.data(), ldx, t.c, out.data(), ldr, threads);
  return out;
}

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {37, 53, 5, false, 0},     {37, 53, 5, true, 3},       // nothing a multiple of a register
      {600, 130, 64, false, 7},  {600, 130, 64, true, 0},    // more than one piece of 512 rows
      {70, 700, 17, false, 0},   {70, 700, 17, true, 2},     // more than one piece of 512 columns
      {300, 256, 272, false, 0}, {256, 300, 272, true, 1},   // subspace iteration's 272 columns
      {1, 1, 1, false, 0},       {129, 1, 3, true, 0},       // degenerate shapes
  };
  return all;
}

TEST(SvdProducts, MatchDoublePrecisionProductsAtEveryLevel) {
  for (const SimdLevel level : supported_simd_levels()) {
    const LevelScope scope(level);
    for (const Case& t : cases()) {
      SCOPED_TRACE(name_of(t) + " at " + std::string(simd_level_name(level)) + " (" +
                   std::string(detail::product_kernel_name()) + ")");
      const int k = t.transposed ? t.m : t.n, r = t.transposed ? t.n : t.m;
      const int ldx = k + t.pad, ldr = r + t.pad;
      const std::vector<float> w = gaussian(static_cast<std::size_t>(t.m) * t.n, 11);
      const std::vector<float> x = gaussian(static_cast<std::size_t>(ldx) * t.c, 12);
      const std::vector<float> got = run(t, w, x, 2, -7.0f);
      for (int col = 0; col < t.c; ++col) {
        for (int i = 0; i < r; ++i) {
          double want = 0.0, scale = 0.0;
          for (int j = 0; j < k; ++j) {
            const double a = t.transposed ? w[static_cast<std::size_t>(j) * t.n + i] : w[static_cast<std::size_t>(i) * t.n + j];
            const double b = x[static_cast<std::size_t>(col) * ldx + j];
            want += a * b;
            scale += std::fabs(a * b);
          }
          // Any float32 evaluation of a k-term dot product (our FMA chains, OpenBLAS's kernel for
          // this CPU at the portable level, in whatever order and blocking) is within
          // gamma_k * sum |a b| of the exact value, gamma_k = k u / (1 - k u), u = 2^-24 (each
          // of at most k roundings, Higham, Accuracy and Stability, 3.1). The reference is exact
          // products summed in double: within gamma_k(2^-53) * sum |a b|. A wrong index or a
          // missed term moves an element by O(|a b|), far above either.
          const double kd = static_cast<double>(k), uf = std::ldexp(1.0, -24), ud = std::ldexp(1.0, -53);
          const double tol = (kd * uf / (1 - kd * uf) + kd * ud / (1 - kd * ud)) * scale;
          ASSERT_NEAR(got[static_cast<std::size_t>(col) * ldr + i], want, tol + 1e-30) << i << "," << col;
        }
        for (int i = r; i < ldr; ++i) ASSERT_EQ(got[static_cast<std::size_t>(col) * ldr + i], -7.0f) << "padding written";
      }
    }
  }
}

TEST(SvdProducts, KernelFollowsTheSimdLevel) {
  for (const SimdLevel level : supported_simd_levels()) {
    const LevelScope scope(level);
    std::string want = level == SimdLevel::Portable ? "openblas" : std::string(simd_level_name(level));
#if defined(__x86_64__)
    // The AVX2 kernel needs FMA too (products.cpp); an AVX2 CPU without it (some virtual machines
    // hide FMA) gets OpenBLAS at that level.
    if (level == SimdLevel::Avx2 && !__builtin_cpu_supports("fma")) want = "openblas";
#endif
    EXPECT_EQ(detail::product_kernel_name(), want);
  }
}

// Every element is one chain of FMAs in a fixed order: AVX2 and AVX-512 give the same bits, and so
// does any thread count.
TEST(SvdProducts, SameBitsAtBothKernelLevelsAndAnyThreadCount) {
  std::vector<SimdLevel> kernels;
  for (const SimdLevel level : supported_simd_levels())
    if (level != SimdLevel::Portable) kernels.push_back(level);
  if (kernels.empty()) GTEST_SKIP() << "this CPU has no kernel level (AVX2 + FMA), only the portable one (RAMQ_ISA does not matter here)";
  for (const Case& t : cases()) {
    SCOPED_TRACE(name_of(t));
    const int k = t.transposed ? t.m : t.n;
    const std::vector<float> w = gaussian(static_cast<std::size_t>(t.m) * t.n, 21);
    const std::vector<float> x = gaussian(static_cast<std::size_t>(k + t.pad) * t.c, 22);
    std::vector<float> first;
    for (const SimdLevel level : kernels) {
      const LevelScope scope(level);
      for (const unsigned threads : {1u, 2u, 3u}) {
        const std::vector<float> got = run(t, w, x, threads);
        if (first.empty()) first = got;
        else ASSERT_EQ(got, first) << simd_level_name(level) << ", " << threads << " threads";
      }
    }
  }
}

// The Gram matrices of the block Krylov Ritz step: rows [r0, r1) of a column-major Y with a
// leading dimension above its rows, in double, against plain double loops; the lower triangle is
// what the contract promises. Column counts that fill no register, several pieces of 128 rows.
struct GramCase {
  int ldy, r0, r1, cols;
};

std::vector<double> gram_of(const GramCase& t, const std::vector<float>& y) {
  return detail::gram_lower(y.data(), t.ldy, t.r0, t.r1, t.cols);
}

const std::vector<GramCase>& gram_cases() {
  static const std::vector<GramCase> all = {
      {9, 2, 7, 3}, {400, 0, 300, 13}, {700, 37, 690, 64}, {300, 1, 299, 70}, {1, 0, 1, 1},
  };
  return all;
}

TEST(SvdGram, LowerTriangleMatchesPlainDoubleLoopsAtEveryLevel) {
  for (const SimdLevel level : supported_simd_levels()) {
    const LevelScope scope(level);
    for (const GramCase& t : gram_cases()) {
      SCOPED_TRACE(std::to_string(t.r1 - t.r0) + " rows x " + std::to_string(t.cols) + " at " +
                   std::string(simd_level_name(level)));
      const std::vector<float> y = gaussian(static_cast<std::size_t>(t.ldy) * t.cols, 31);
      const std::vector<double> got = gram_of(t, y);
      ASSERT_EQ(got.size(), static_cast<std::size_t>(t.cols) * t.cols);
      for (int a = 0; a < t.cols; ++a) {
        for (int b = a; b < t.cols; ++b) {
          double want = 0.0, scale = 0.0;
          for (int r = t.r0; r < t.r1; ++r) {
            const double p = static_cast<double>(y[static_cast<std::size_t>(a) * t.ldy + r]) *
                             static_cast<double>(y[static_cast<std::size_t>(b) * t.ldy + r]);
            want += p;
            scale += std::fabs(p);
          }
          // Row b, column a of the column-major result (b >= a: the lower triangle).
          // Products of two floats are exact in double, so both the kernel's sum (one FMA chain,
          // or OpenBLAS's dsyrk at the portable level, any order) and this loop's are within
          // gamma_k * sum |p| of the exact value, gamma_k = k u / (1 - k u), u = 2^-53, k rows.
          const double kd = static_cast<double>(t.r1 - t.r0), ud = std::ldexp(1.0, -53);
          const double tol = 2 * kd * ud / (1 - kd * ud) * scale;
          ASSERT_NEAR(got[static_cast<std::size_t>(a) * t.cols + b], want, tol + 1e-300) << a << "," << b;
        }
      }
    }
  }
}

TEST(SvdGram, SameBitsAtBothKernelLevels) {
  std::vector<SimdLevel> kernels;
  for (const SimdLevel level : supported_simd_levels())
    if (level != SimdLevel::Portable) kernels.push_back(level);
  if (kernels.size() < 2)
    GTEST_SKIP() << "needs both kernel levels, AVX2 + FMA and AVX-512; this CPU has only "
                 << (kernels.empty() ? "the portable level" : "AVX2 + FMA") << " (RAMQ_ISA does not matter here)";
  for (const GramCase& t : gram_cases()) {
    const std::vector<float> y = gaussian(static_cast<std::size_t>(t.ldy) * t.cols, 41);
    std::vector<double> first;
    for (const SimdLevel level : kernels) {
      const LevelScope scope(level);
      std::vector<double> got = gram_of(t, y);
      for (int a = 0; a < t.cols; ++a)  // only the lower triangle is specified
        for (int b = 0; b < a; ++b) got[static_cast<std::size_t>(a) * t.cols + b] = 0.0;
      if (first.empty()) first = got;
      else ASSERT_EQ(got, first) << simd_level_name(level) << ", " << t.cols << " columns";
    }
  }
}

}  // namespace
}  // namespace ramq
