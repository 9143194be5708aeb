// Kurtosis, output-noise amplification, the quantization-error proxy, the spectral
// concentration of given singular values, the [0, 1] normalisations and compute_raw_metrics'
// wiring. Reference values are closed forms, hand computations (shown in comments), statistical
// expectations, or small reference implementations written independently of src/analyze.
#include <cblas.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

#include "ramq/ggml_types.h"
#include "ramq/metrics.h"
#include "ramq/rng.h"
#include "support/dense_matrix.h"

namespace ramq {
namespace {

using testkit::Dense;

Dense gaussian(std::int64_t m, std::int64_t n, std::uint64_t seed, double sd = 1.0) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> dist(0.0, sd);
  Dense w{m, n, std::vector<float>(static_cast<std::size_t>(m * n))};
  for (float& v : w.data) v = static_cast<float>(dist(gen));
  return w;
}

// ---------------------------------------------------------------------------------------------
// Spectral concentration of given singular values

TEST(SpectralConcentration, HandValues) {
  // k = 10, flat: top 1 of 10 equal values -> 1/10.
  const std::vector<float> flat(10, 3.0f);
  EXPECT_DOUBLE_EQ(spectral_concentration(flat), 0.1);
  // k = 5: floor(5/10) = 0 -> top 1: 9 / (9 + 4 + 1) = 9/14.
  const std::vector<float> five = {3, 2, 1, 0, 0};
  EXPECT_DOUBLE_EQ(spectral_concentration(five), 9.0 / 14.0);
  // k = 25: top 2: (25 + 16) / (25 + 16 + 9 + 22 * 1) = 41/72.
  std::vector<float> twenty_five = {5, 4, 3};
  twenty_five.resize(25, 1.0f);
  EXPECT_DOUBLE_EQ(spectral_concentration(twenty_five), 41.0 / 72.0);
  // k = 19: top 1: 16 / (16 + 18 * 0.25) = 16 / 20.5.
  std::vector<float> nineteen = {4};
  nineteen.resize(19, 0.5f);
  EXPECT_DOUBLE_EQ(spectral_concentration(nineteen), 16.0 / 20.5);
  // One value: c = 1.
  const std::vector<float> one = {2.5f};
  EXPECT_DOUBLE_EQ(spectral_concentration(one), 1.0);
}

TEST(SpectralConcentration, AllZeroOrEmptyIsZero) {
  const std::vector<float> zeros(30, 0.0f);
  EXPECT_EQ(spectral_concentration(zeros), 0.0);
  EXPECT_EQ(spectral_concentration(std::span<const float>{}), 0.0);
}

// ---------------------------------------------------------------------------------------------
// Excess kurtosis

TEST(ExcessKurtosis, SymmetricTwoPointIsMinusTwo) {
  // {-1, 1} with equal weights: m2 = 1, m4 = 1 -> 1 - 3 = -2.
  std::vector<float> x;
  for (int i = 0; i < 5001; ++i) {
    x.push_back(-1.0f);
    x.push_back(1.0f);
  }
  EXPECT_NEAR(excess_kurtosis(x), -2.0, 1e-12);
  // Same after a shift: the moments are mean-centred.
  for (float& v : x) v += 1000.0f;  // {999, 1001}, exact in float
  EXPECT_NEAR(excess_kurtosis(x), -2.0, 1e-9);
}

TEST(ExcessKurtosis, DiscreteUniformGrid) {
  // N equally spaced points: excess kurtosis = -6 (N^2 + 1) / (5 (N^2 - 1)) -> -1.2.
  for (int n : {2, 3, 7, 4096, 12293}) {
    std::vector<float> x(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) x[static_cast<std::size_t>(i)] = static_cast<float>(i);
    const double nn = static_cast<double>(n) * n;
    EXPECT_NEAR(excess_kurtosis(x), -6.0 * (nn + 1.0) / (5.0 * (nn - 1.0)), 1e-9) << n;
  }
  // A fine grid on [0, 1).
  std::vector<float> g(100000);
  for (std::size_t i = 0; i < g.size(); ++i) g[i] = static_cast<float>(i) / 100000.0f;
  EXPECT_NEAR(excess_kurtosis(g), -1.2, 1e-4);
}

TEST(ExcessKurtosis, SingleOutlier) {
  // Nine zeros and one 10: mean 1, deviations -1 (x9) and 9.
  // m2 = (9 + 81) / 10 = 9, m4 = (9 + 6561) / 10 = 657 -> 657 / 81 - 3 = 46/9.
  std::vector<float> x(9, 0.0f);
  x.push_back(10.0f);
  EXPECT_NEAR(excess_kurtosis(x), 46.0 / 9.0, 1e-12);
  // Same with the outlier first (value does not depend on position).
  std::rotate(x.begin(), x.end() - 1, x.end());
  EXPECT_NEAR(excess_kurtosis(x), 46.0 / 9.0, 1e-12);

  // General: N - 1 zeros and one a, p = 1/N:
  // m2 = a^2 p (1 - p), m4 = a^4 p (1 - p) (1 - 3p + 3p^2) -> (1 - 3p + 3p^2) / (p (1 - p)) - 3.
  const int n = 10007;  // several blocks plus a ragged tail
  std::vector<float> y(static_cast<std::size_t>(n), 0.0f);
  y[4321] = -7.5f;
  const double p = 1.0 / n;
  EXPECT_NEAR(excess_kurtosis(y), (1.0 - 3.0 * p + 3.0 * p * p) / (p * (1.0 - p)) - 3.0, 1e-6);
}

TEST(ExcessKurtosis, ConstantAndDegenerateAreZero) {
  const std::vector<float> c(1000, 0.37f);
  EXPECT_EQ(excess_kurtosis(c), 0.0);
  const std::vector<float> one = {5.0f};
  EXPECT_EQ(excess_kurtosis(one), 0.0);
  EXPECT_EQ(excess_kurtosis(std::span<const float>{}), 0.0);
}

TEST(ExcessKurtosis, GaussianSampleNearZero) {
  const Dense w = gaussian(1, 400000, 5);
  EXPECT_NEAR(excess_kurtosis(w.data), 0.0, 0.05);  // sd of the estimate ~ sqrt(24/n) = 0.008
}

// ---------------------------------------------------------------------------------------------
// Output noise amplification

TEST(OutputNoise, ConstantMatrixHasNoNoise) {
  const std::vector<float> c(30 * 20, 1.25f);
  const double d = output_noise_amplification({c.data(), 30, 20}, 32, 16, 1);
  EXPECT_EQ(d, 0.0);
  EXPECT_EQ(score_output(d), 0.0);
}

TEST(OutputNoise, IdentityMatchesExpectation) {
  // W = I (256 x 256): range 1, D = 1/16, ||W X||_F^2 = 32 (unit probes).
  // E||E x||^2 = m D^2 / 12 |x|^2, so delta ~ sqrt(32 m D^2 / 12) / sqrt(32) = sqrt(1/12) = 0.2887.
  const int n = 256;
  std::vector<float> id(static_cast<std::size_t>(n * n), 0.0f);
  for (int i = 0; i < n; ++i) id[static_cast<std::size_t>(i * n + i)] = 1.0f;
  const double expected = std::sqrt(1.0 / 12.0);
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    const double d = output_noise_amplification({id.data(), n, n}, 32, 16, seed);
    EXPECT_NEAR(d, expected, 0.1 * expected) << seed;
  }
}

TEST(OutputNoise, GaussianMatrixMatchesExpectation) {
  // For a random unit probe x, E||W x||^2 = ||W||_F^2 / n; E||E x||^2 = m D^2 / 12.
  // delta ~ sqrt(m D^2 / 12) / sqrt(||W||_F^2 / n).
  // 3000 x 701: several row blocks and an odd number of elements per block.
  for (auto [m, n] : {std::pair<std::int64_t, std::int64_t>{200, 300}, {3000, 701}}) {
    const Dense w = gaussian(m, n, 77, 0.02);
    const auto [lo, hi] = std::minmax_element(w.data.begin(), w.data.end());
    const double dw = (static_cast<double>(*hi) - static_cast<double>(*lo)) / 16.0;
    double fro2 = 0.0;
    for (float v : w.data) fro2 += static_cast<double>(v) * v;
    const double expected = std::sqrt(static_cast<double>(m) * dw * dw / 12.0) / std::sqrt(fro2 / static_cast<double>(n));
    const double d = output_noise_amplification(w.view(), 32, 16, 9);
    EXPECT_NEAR(d, expected, 0.1 * expected) << m << "x" << n;
  }
}

TEST(OutputNoise, ScaleInvariant) {
  const Dense w = gaussian(64, 96, 3);
  const double d = output_noise_amplification(w.view(), 32, 16, 42);
  Dense w2 = w;
  for (float& v : w2.data) v *= 2.0f;  // exact: every product scales exactly by 2
  EXPECT_NEAR(output_noise_amplification(w2.view(), 32, 16, 42), d, 1e-9 * d);
  Dense w3 = w;
  for (float& v : w3.data) v *= 0.37f;
  EXPECT_NEAR(output_noise_amplification(w3.view(), 32, 16, 42), d, 1e-5 * d);
}

TEST(OutputNoise, NoiseWidthScalesDelta) {
  // noise_levels 16 -> 32 halves D exactly, hence E and delta.
  const Dense w = gaussian(50, 70, 4);
  const double d16 = output_noise_amplification(w.view(), 32, 16, 8);
  const double d32 = output_noise_amplification(w.view(), 32, 32, 8);
  EXPECT_NEAR(d32, d16 / 2.0, 1e-9 * d16);
}

TEST(OutputNoise, DeterministicPerSeed) {
  const Dense w = gaussian(40, 33, 6);
  const double a = output_noise_amplification(w.view(), 32, 16, 100);
  const double b = output_noise_amplification(w.view(), 32, 16, 100);
  EXPECT_EQ(a, b);
  const double c = output_noise_amplification(w.view(), 32, 16, 101);
  EXPECT_NE(a, c);
  EXPECT_NEAR(c, a, 0.25 * a);
}

TEST(OutputNoise, RejectsBadParameters) {
  const Dense w = gaussian(4, 4, 1);
  EXPECT_THROW(output_noise_amplification(w.view(), 0, 16, 1), std::invalid_argument);
  EXPECT_THROW(output_noise_amplification(w.view(), 32, 0, 1), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// Quantization NRMSE

TEST(QuantizationNrmse, ValuesOnTheGridAreExact) {
  // bits 2, group 4: {0, 1, 2, 3} -> lo 0, scale 1, exact.
  const std::vector<float> a = {0, 1, 2, 3};
  EXPECT_EQ(quantization_nrmse({a.data(), 1, 4}, 2, 4), 0.0);
  // Two groups per row, each on its own grid; a constant group (scale 0 -> x' = lo) is exact.
  const std::vector<float> b = {-1, -0.5f, 0, 0.5f, 10, 16, 12, 14,  //
                                3, 3, 3, 3, -2, 4, 0, 2};
  EXPECT_EQ(quantization_nrmse({b.data(), 2, 8}, 2, 4), 0.0);
  // Defaults (4 bits, group 128): x_j = (j mod 16) / 2 puts 0 and 7.5 in every group, scale 0.5.
  std::vector<float> c(2 * 256);
  for (std::size_t j = 0; j < c.size(); ++j) c[j] = static_cast<float>(j % 16) * 0.5f;
  EXPECT_EQ(quantization_nrmse({c.data(), 2, 256}, 4, 128), 0.0);
}

TEST(QuantizationNrmse, HandComputedGroup) {
  // bits 2 (levels 0..3), group 4, x = {0, 1.2, 3.5, 6}: lo 0, hi 6, scale 2.
  // t = {0, 0.6, 1.75, 3} -> q = {0, 1, 2, 3} -> x' = {0, 2, 4, 6}; errors {0, -0.8, -0.5, 0}.
  // SSE = 0.64 + 0.25 = 0.89; sum of squares 0 + 1.44 + 12.25 + 36 = 49.69 (the element count
  // cancels between RMSE and RMS) -> NRMSE = sqrt(0.89 / 49.69) = 0.133831...
  const std::vector<float> x = {0.0f, 1.2f, 3.5f, 6.0f};
  EXPECT_NEAR(quantization_nrmse({x.data(), 1, 4}, 2, 4), std::sqrt(0.89 / 49.69), 1e-7);
}

TEST(QuantizationNrmse, PaddingZerosEnterMinMaxAndTheError) {
  // Row {2, 3, 5}, group 4 -> padded {2, 3, 5, 0}: lo 0, hi 5, scale 5/3.
  // t = {1.2, 1.8, 3, 0} -> q = {1, 2, 3, 0} -> x' = {5/3, 10/3, 5, 0}; errors {1/3, -1/3, 0, 0}.
  // SSE = 2/9, sum of squares 4 + 9 + 25 = 38: NRMSE = sqrt(2/9 / 38) = 0.0764719...
  // (without the padding in min/max it would be 0).
  const std::vector<float> x = {2.0f, 3.0f, 5.0f};
  EXPECT_NEAR(quantization_nrmse({x.data(), 1, 3}, 2, 4), std::sqrt(2.0 / 9.0 / 38.0), 1e-7);
  // A padding zero off the grid: row {-1, 6, 2.2} -> padded {-1, 6, 2.2, 0}: lo -1, scale 7/3;
  // 2.2 -> q 1 -> x' = 4/3, error 13/15; the zero -> t = 3/7 -> q 0 -> x' = -1, error 1.
  // SSE = 169/225 + 1 = 394/225, sum of squares 1 + 36 + 4.84 = 41.84.
  const std::vector<float> z = {-1.0f, 6.0f, 2.2f};
  EXPECT_NEAR(quantization_nrmse({z.data(), 1, 3}, 2, 4), std::sqrt(394.0 / 225.0 / 41.84), 1e-6);
  // A group that already spans 0: {-1, 0, 1, 2, | -3, 3, pad, pad}, group 4, bits 2: group 1 is
  // exact (scale 1); group 2 {-3, 3, 0, 0}: scale 2, -3 and 3 exact, each padding zero at t = 1.5
  // rounds to 2 (half away from zero, and half to even alike) -> x' = 1, error 1. SSE 2, sum of
  // squares 1 + 0 + 1 + 4 + 9 + 9 = 24.
  const std::vector<float> y = {-1, 0, 1, 2, -3, 3};
  EXPECT_NEAR(quantization_nrmse({y.data(), 1, 6}, 2, 4), std::sqrt(2.0 / 24.0), 1e-7);
}

TEST(QuantizationNrmse, MultipleRowsAndGroups) {
  // a: 2 x 3, bits 1 (levels 0, 1), group 2; every group is exactly {min, max}:
  //   row 0 {0, 0.25 | 1, pad 0}, row 1 {0.5, 0.6 | 0.1, pad 0} -> all exact -> 0.
  // b: 2 x 3, bits 1, group 3 (no padding):
  //   row 0 {0, 0.25, 1}: lo 0, scale 1, t = {0, 0.25, 1} -> q {0, 0, 1}, errors {0, 0.25, 0};
  //   row 1 {0.5, 0.58, 0.55}: lo 0.5, scale 0.08, t = {0, 1, 0.625} -> q {0, 1, 1},
  //   errors {0, 0, -0.03}. SSE = 0.0625 + 0.0009 = 0.0634; sum of squares
  //   0 + 0.0625 + 1 + 0.25 + 0.3364 + 0.3025 = 1.9514.
  const std::vector<float> a = {0, 0.25f, 1, 0.5f, 0.6f, 0.1f};
  EXPECT_EQ(quantization_nrmse({a.data(), 2, 3}, 1, 2), 0.0);
  const std::vector<float> b = {0, 0.25f, 1, 0.5f, 0.58f, 0.55f};
  EXPECT_NEAR(quantization_nrmse({b.data(), 2, 3}, 1, 3), std::sqrt(0.0634 / 1.9514), 1e-6);
}

TEST(QuantizationNrmse, ConstantMatrixIsZero) {
  const std::vector<float> c(50, -4.0f);
  EXPECT_EQ(quantization_nrmse({c.data(), 5, 10}, 4, 128), 0.0);
}

// Straightforward reference: build each zero-padded row explicitly, quantize in float with
// std::round, sum squared errors of every element (padding included) and the squares of W in
// double: sqrt(SSE / sum W^2), the SWAN reference code's RMSE / RMS over the padded tensor.
double reference_nrmse(const Dense& w, int bits, int group) {
  const auto n = static_cast<std::size_t>(w.cols);
  const auto g = static_cast<std::size_t>(group);
  const std::size_t padded = (n + g - 1) / g * g;
  const float levels = static_cast<float>((1 << bits) - 1);
  double sse = 0.0;
  for (std::int64_t r = 0; r < w.rows; ++r) {
    std::vector<float> row(padded, 0.0f);
    std::copy_n(w.data.begin() + r * w.cols, n, row.begin());
    for (std::size_t s = 0; s < padded; s += g) {
      const float lo = *std::min_element(row.begin() + static_cast<std::ptrdiff_t>(s),
                                         row.begin() + static_cast<std::ptrdiff_t>(s + g));
      const float hi = *std::max_element(row.begin() + static_cast<std::ptrdiff_t>(s),
                                         row.begin() + static_cast<std::ptrdiff_t>(s + g));
      const float scale = (hi - lo) / levels;
      for (std::size_t i = s; i < s + g; ++i) {
        float xq = lo;
        if (scale != 0.0f) xq = lo + std::clamp(std::round((row[i] - lo) / scale), 0.0f, levels) * scale;
        const double e = static_cast<double>(row[i]) - static_cast<double>(xq);
        sse += e * e;
      }
    }
  }
  double squares = 0.0;
  for (const float v : w.data) squares += static_cast<double>(v) * v;
  return std::sqrt(sse / squares);
}

TEST(QuantizationNrmse, MatchesReferenceOnRandomData) {
  // 300 columns with group 128: two full groups and a padded one of 44 per row. Shifted data so
  // the padding zeros really extend the last group's range.
  Dense w = gaussian(37, 300, 8, 0.05);
  for (float& v : w.data) v += 0.3f;
  for (auto [bits, group] : {std::pair<int, int>{4, 128}, {2, 32}, {3, 7}, {8, 64}}) {
    const double ref = reference_nrmse(w, bits, group);
    EXPECT_NEAR(quantization_nrmse(w.view(), bits, group), ref, 1e-6 * ref) << bits << "/" << group;
  }
  // 4-bit, group 128 on centred Gaussian data: a group spans about 2 x 2.6 sigma (the expected
  // extremes of 128 normal draws), the step is that / 15, the error step / sqrt(12): NRMSE about
  // 5.2 / 15 / 3.46 = 0.100, what the reference finds for every tensor of real models.
  const Dense z = gaussian(64, 512, 9);
  const double nrmse = quantization_nrmse(z.view(), 4, 128);
  EXPECT_GT(nrmse, 0.08);
  EXPECT_LT(nrmse, 0.12);
}

// The statistics' kernels run at the SIMD level in use (src/analyze/simd/metric_kernels.h): NRMSE
// and kurtosis match their references and give the same bits at every level, for groups that fill
// whole 16-lane vectors, leave a tail, or are shorter than one vector. The noise metric's products
// (analyze/products.h) are the same bits at AVX2 and AVX-512 and within float round-off of
// OpenBLAS's at the portable level.
TEST(QuantizationNrmse, SameBitsAtEverySimdLevel) {
  Dense w = gaussian(23, 333, 10, 0.05);
  for (float& v : w.data) v += 0.1f;
  w.data[5 * 333 + 100] = 2.0f;  // an outlier in one group
  const std::vector<std::pair<int, int>> settings = {{4, 128}, {2, 37}, {3, 7}, {8, 16}, {16, 333}};
  std::vector<double> first;
  double portable_noise = -1.0, kernel_noise = -1.0;
  for (const SimdLevel level : supported_simd_levels()) {
    set_simd_level(level);
    std::vector<double> got;
    for (const auto& [bits, group] : settings) {
      got.push_back(quantization_nrmse(w.view(), bits, group, 2));
      const double ref = reference_nrmse(w, bits, group);
      // Kernel and reference quantize with the same float operations (no FMA, no libm beyond
      // exactly rounded round/sqrt), the same on every CPU; only the order of the double sums of
      // squares differs: within 2 gamma_N = 2 N 2^-53 = 1.7e-12 for N = 7659 elements, and the
      // square root halves that. 1e-6 is far above it.
      EXPECT_NEAR(got.back(), ref, 1e-6 * ref) << simd_level_name(level) << " " << bits << "/" << group;
    }
    got.push_back(excess_kurtosis(w.data, 2));
    const double noise = output_noise_amplification(w.view(), 4, 16, 3);
    reset_simd_level();
    if (first.empty()) first = got;
    else EXPECT_EQ(got, first) << simd_level_name(level);
    if (level == SimdLevel::Portable) {
      portable_noise = noise;
    } else {
      if (kernel_noise >= 0.0) {
        EXPECT_EQ(noise, kernel_noise) << simd_level_name(level);
      }
      kernel_noise = noise;
    }
  }
  if (kernel_noise >= 0.0) {
    // Our kernels against OpenBLAS (whose sgemm kernel OpenBLAS picks per CPU): delta =
    // ||E X||_F / ||W X||_F over p = 4 unit probes x_j of length n = 333. Any float32 product
    // has |error| <= gamma_n (|M| |x_j|)_i <= gamma_n ||m_i|| ||x_j|| (Cauchy-Schwarz; gamma_n =
    // n u / (1 - n u), u = 2^-24), so ||error of M X||_F <= gamma_n sqrt(p) ||M||_F, and each
    // norm moves by at most that much. For probes drawn at random, ||M X||_F^2 is close to
    // p ||M||_F^2 / n (its mean), so each norm moves by a relative gamma_n sqrt(n), at most; the
    // ratio by the sum of the two, 2 gamma_n sqrt(n) = 7.3e-4 (the sums of squares in double add
    // nothing visible). 1e-3 allows for the probes' spread about that mean. A wrong product
    // changes delta by O(1).
    const double n = 333, u = std::ldexp(1.0, -24), gamma = n * u / (1 - n * u);
    EXPECT_LE(2 * gamma * std::sqrt(n), 1e-3);
    EXPECT_NEAR(kernel_noise, portable_noise, 1e-3 * portable_noise);
    std::printf("[ noise ] kernels %.17g, OpenBLAS %.17g: %.3g relative\n", kernel_noise, portable_noise,
                std::fabs(kernel_noise - portable_noise) / portable_noise);
  }
}

TEST(QuantizationNrmse, RejectsBadParameters) {
  const std::vector<float> x = {1, 2};
  EXPECT_THROW(quantization_nrmse({x.data(), 1, 2}, 0, 4), std::invalid_argument);
  EXPECT_THROW(quantization_nrmse({x.data(), 1, 2}, 4, 0), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// Normalisations

TEST(Scores, Svd) {
  EXPECT_DOUBLE_EQ(score_svd(0.0), 0.0);
  EXPECT_DOUBLE_EQ(score_svd(0.1), 0.0);
  EXPECT_DOUBLE_EQ(score_svd(0.3), 0.25);
  EXPECT_DOUBLE_EQ(score_svd(0.5), 0.5);
  EXPECT_DOUBLE_EQ(score_svd(0.9), 1.0);
  EXPECT_DOUBLE_EQ(score_svd(1.0), 1.0);
}

TEST(Scores, Kurtosis) {
  EXPECT_DOUBLE_EQ(score_kurtosis(-2.0), 0.0);
  EXPECT_DOUBLE_EQ(score_kurtosis(0.0), 0.0);
  EXPECT_DOUBLE_EQ(score_kurtosis(2.5), 0.25);
  EXPECT_DOUBLE_EQ(score_kurtosis(5.0), 0.5);
  EXPECT_DOUBLE_EQ(score_kurtosis(10.0), 1.0);
  EXPECT_DOUBLE_EQ(score_kurtosis(50.0), 1.0);
}

TEST(Scores, Output) {
  EXPECT_DOUBLE_EQ(score_output(0.0), 0.0);
  EXPECT_DOUBLE_EQ(score_output(5e-7), 0.0);
  EXPECT_DOUBLE_EQ(score_output(1e-6), 0.0);   // floored at 0.01 -> 0
  EXPECT_DOUBLE_EQ(score_output(0.001), 0.0);
  EXPECT_NEAR(score_output(0.01), 0.0, 1e-15);
  EXPECT_NEAR(score_output(0.1), 1.0 / 3.0, 1e-15);
  EXPECT_NEAR(score_output(1.0), 2.0 / 3.0, 1e-15);
  EXPECT_NEAR(score_output(std::sqrt(10.0)), 5.0 / 6.0, 1e-15);
  EXPECT_NEAR(score_output(10.0), 1.0, 1e-15);
  EXPECT_DOUBLE_EQ(score_output(1000.0), 1.0);
}

TEST(Scores, Error) {
  EXPECT_DOUBLE_EQ(score_error(0.0), 0.0);
  EXPECT_DOUBLE_EQ(score_error(0.005), 0.0);
  EXPECT_NEAR(score_error(0.0275), 0.5, 1e-15);
  EXPECT_NEAR(score_error(0.05), 1.0, 1e-15);
  EXPECT_DOUBLE_EQ(score_error(0.2), 1.0);
}

// ---------------------------------------------------------------------------------------------
// compute_raw_metrics (the concentration part is covered in svd_test.cpp)

TEST(RawMetrics, FillsEveryMetricFromOptions) {
  Dense w = gaussian(48, 200, 10, 0.1);
  w.data[17] = 3.0f;  // an outlier for a clearly positive kurtosis
  MetricOptions opt;
  opt.err_bits = 3;
  opt.err_group = 64;
  opt.probes = 16;
  opt.noise_levels = 8;
  const RawMetrics r = compute_raw_metrics(w.view(), opt, 555);

  EXPECT_FALSE(r.randomized_svd);
  EXPECT_GT(r.concentration, 0.0);
  EXPECT_LT(r.concentration, 1.0);

  // Kurtosis against a naive two-pass computation.
  const double n = static_cast<double>(w.data.size());
  double mean = 0.0;
  for (float v : w.data) mean += v;
  mean /= n;
  double m2 = 0.0;
  double m4 = 0.0;
  for (float v : w.data) {
    const double d = v - mean;
    m2 += d * d;
    m4 += d * d * d * d;
  }
  m2 /= n;
  m4 /= n;
  EXPECT_NEAR(r.kurtosis, m4 / (m2 * m2) - 3.0, 1e-9 * std::abs(m4 / (m2 * m2)));
  EXPECT_GT(r.kurtosis, 10.0);

  // NRMSE uses err_bits / err_group.
  EXPECT_NEAR(r.nrmse, reference_nrmse(w, 3, 64), 1e-6 * r.nrmse);

  // Noise amplification uses probes / noise_levels: statistical expectation as above.
  const auto [lo, hi] = std::minmax_element(w.data.begin(), w.data.end());
  const double dw = (static_cast<double>(*hi) - *lo) / 8.0;
  double fro2 = 0.0;
  for (float v : w.data) fro2 += static_cast<double>(v) * v;
  const double expected = std::sqrt(48.0 * dw * dw / 12.0) / std::sqrt(fro2 / 200.0);
  EXPECT_NEAR(r.noise_amp, expected, 0.15 * expected);

  // Deterministic for a seed; the seed only moves the random parts.
  const RawMetrics again = compute_raw_metrics(w.view(), opt, 555);
  EXPECT_EQ(again.concentration, r.concentration);
  EXPECT_EQ(again.kurtosis, r.kurtosis);
  EXPECT_EQ(again.noise_amp, r.noise_amp);
  EXPECT_EQ(again.nrmse, r.nrmse);
  const RawMetrics other = compute_raw_metrics(w.view(), opt, 556);
  EXPECT_NE(other.noise_amp, r.noise_amp);
  EXPECT_EQ(other.kurtosis, r.kurtosis);
  EXPECT_EQ(other.nrmse, r.nrmse);
}

TEST(RawMetrics, ConstantMatrix) {
  const std::vector<float> c(20 * 30, 0.5f);
  const RawMetrics r = compute_raw_metrics({c.data(), 20, 30}, MetricOptions{}, 1);
  EXPECT_NEAR(r.concentration, 1.0, 1e-5);  // rank one: everything in the top value
  EXPECT_EQ(r.kurtosis, 0.0);
  EXPECT_EQ(r.noise_amp, 0.0);
  EXPECT_EQ(r.nrmse, 0.0);
}

// Every metric is split into pieces fixed by the shape: 1, 2 and 3 workers give identical values
// (2100 x 1024 gives several noise blocks, randomized-SVD pieces and kurtosis blocks).
TEST(RawMetrics, IdenticalForAnyThreadCount) {
  openblas_set_num_threads(1);  // as analyze_model does: BLAS single-threaded inside each piece
  const std::int64_t m = 2100, n = 1024;
  std::vector<float> w(static_cast<std::size_t>(m * n));
  Rng rng(77);
  for (auto& v : w) v = static_cast<float>(rng.normal() * 0.02);
  for (std::size_t i = 0; i < w.size(); i += 4099) w[i] *= 30.0f;
  const MetricOptions o;
  const RawMetrics a = compute_raw_metrics({w.data(), m, n}, o, 5, 1);
  ASSERT_TRUE(a.randomized_svd);
  for (unsigned t : {2u, 3u}) {
    const RawMetrics b = compute_raw_metrics({w.data(), m, n}, o, 5, t);
    EXPECT_EQ(a.concentration, b.concentration) << t;
    EXPECT_EQ(a.kurtosis, b.kurtosis) << t;
    EXPECT_EQ(a.noise_amp, b.noise_amp) << t;
    EXPECT_EQ(a.nrmse, b.nrmse) << t;
  }
}

}  // namespace
}  // namespace ramq
