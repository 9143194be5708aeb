// Block Krylov singular values (singular_values_block_krylov, the default randomized SVD of the
// spectral metric), checked against known spectra (support/dense_matrix.h) and LAPACK's full SVD.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

#include "ramq/metrics.h"
#include "support/dense_matrix.h"

namespace ramq {
namespace {

using testkit::concentration_of;
using testkit::Dense;
using testkit::exp_spectrum;
using testkit::expect_matches_spectrum;
using testkit::with_spectrum;

// The defaults of MetricOptions: 9 blocks of 64 columns for rank 256.
constexpr int kBlock = 64;
constexpr int kDepth = 9;

void expect_never_above(const std::vector<float>& got, const std::vector<float>& full) {
  ASSERT_LE(got.size(), full.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_LE(got[i], full[i] * (1.0 + 1e-4) + 1e-6) << i;
}

TEST(BlockKrylov, DefaultDepthIsNineBlocksForRank256) {
  MetricOptions opt;
  EXPECT_EQ(opt.rsvd_method, RsvdMethod::BlockKrylov);
  EXPECT_EQ(resolved_krylov_depth(opt), kDepth);  // ceil(9 * 256 / (4 * 64))
  opt.rsvd_rank = 100;
  EXPECT_EQ(resolved_krylov_depth(opt), 4);  // ceil(900 / 256)
  opt.krylov_depth = 3;
  EXPECT_EQ(resolved_krylov_depth(opt), 3);
  opt.krylov_depth = 1;  // too few blocks to hold the top 100: raised to ceil(100 / 64)
  EXPECT_EQ(resolved_krylov_depth(opt), 2);
}

// The acceptance check, as for subspace iteration: top values within 1e-3 of the full SVD
// on a 1024 x 768 matrix with a decaying spectrum.
TEST(BlockKrylov, TopValuesMatchKnownSpectrumAndFullSvd) {
  const std::vector<double> s = exp_spectrum(768, 10.0, 40.0);
  const Dense w = with_spectrum(1024, 768, s, 31);
  const std::vector<float> kv = singular_values_block_krylov(w.view(), 256, kBlock, kDepth, 7);
  ASSERT_EQ(kv.size(), 256u);
  for (std::size_t i = 1; i < kv.size(); ++i) EXPECT_GE(kv[i - 1], kv[i]) << i;
  expect_matches_spectrum(kv, s, 100, 1e-3);
  const std::vector<float> full = singular_values_full(w.view());
  for (std::size_t i = 0; i < 100; ++i) EXPECT_NEAR(kv[i], full[i], 1e-3 * full[i]) << i;
  expect_never_above(kv, full);
  // The spectral concentration over the top 256 (what the metric uses) to 1e-4.
  EXPECT_NEAR(spectral_concentration(kv), concentration_of(s, 256), 1e-4 * concentration_of(s, 256));
}

// Tall (the basis on the right, of W^T W) and wide (on the left, of W W^T), the longer side over
// 2048 rows, so that the Ritz values come from a Gram matrix summed over several row groups.
// Bit-identical for 1, 2 and 3 threads; a different seed gives other bits with the same accuracy.
TEST(BlockKrylov, ShapesThreadCountsAndSeeds) {
  const std::vector<double> s = exp_spectrum(400, 6.0, 60.0);
  for (const bool tall : {true, false}) {
    const Dense w = tall ? with_spectrum(2304, 640, s, 44) : with_spectrum(640, 2304, s, 45);
    const std::vector<float> one = singular_values_block_krylov(w.view(), 256, kBlock, kDepth, 9, 1);
    const std::vector<float> three = singular_values_block_krylov(w.view(), 256, kBlock, kDepth, 9, 3);
    const std::vector<float> again = singular_values_block_krylov(w.view(), 256, kBlock, kDepth, 9, 2);
    ASSERT_EQ(one.size(), 256u);
    EXPECT_EQ(one, three) << (tall ? "tall" : "wide");
    EXPECT_EQ(one, again) << (tall ? "tall" : "wide");
    expect_matches_spectrum(one, s, 100, 1e-3);
    const std::vector<float> full = singular_values_full(w.view());
    expect_never_above(one, full);
    const std::vector<float> other = singular_values_block_krylov(w.view(), 256, kBlock, kDepth, 10, 2);
    EXPECT_NE(other, one);
    expect_matches_spectrum(other, s, 100, 1e-3);
  }
}

// A basis as wide as min(m, n) (the last block narrower) spans the whole row space: every value
// is exact, including for a rank-deficient matrix (the Krylov space is exhausted early and the
// further blocks are orthonormalised noise, which adds no spurious values).
TEST(BlockKrylov, FullDimensionBasisIsExact) {
  std::vector<double> s(40);
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = 1.0 + static_cast<double>(40 - i) * 0.25;
  const Dense w = with_spectrum(70, 40, s, 42);
  const std::vector<float> kv = singular_values_block_krylov(w.view(), 256, 16, 3, 3);  // 48 -> 40 columns
  ASSERT_EQ(kv.size(), 40u);
  expect_matches_spectrum(kv, s, 40, 1e-4);

  const std::vector<double> low = {5.0, 4.0, 3.0, 2.0, 1.0};  // rank 5 in a 90 x 60 matrix
  const Dense r5 = with_spectrum(90, 60, low, 46);
  const std::vector<float> kr = singular_values_block_krylov(r5.view(), 20, 8, 8, 4);
  ASSERT_EQ(kr.size(), 20u);
  expect_matches_spectrum(kr, low, 5, 1e-4);
  for (std::size_t i = 5; i < kr.size(); ++i) EXPECT_LT(kr[i], 1e-4) << i;
}

// Where a randomized SVD is least accurate - a Gaussian matrix, whose spectrum is a flat bulk with
// no gap at k = 256 - the default block Krylov basis (17 products of 64 columns) still estimates
// the concentration and the top values better than subspace iteration with 2 power iterations
// (6 products of 272 columns), the previous default, measured against LAPACK's full SVD.
TEST(BlockKrylov, BeatsSubspaceIterationOnAFlatSpectrumWithFewerProducts) {
  const std::int64_t m = 1536, n = 1024;
  Dense w{m, n, std::vector<float>(static_cast<std::size_t>(m * n))};
  std::mt19937_64 gen(77);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (float& v : w.data) v = dist(gen);
  const std::vector<float> full = singular_values_full(w.view());
  const std::vector<float> top(full.begin(), full.begin() + 256);
  const std::vector<float> kv = singular_values_block_krylov(w.view(), 256, kBlock, kDepth, 5, 2);
  const std::vector<float> sub = singular_values_randomized(w.view(), 256, 16, 2, 5, 2);
  expect_never_above(kv, full);
  expect_never_above(sub, full);
  const double c_ref = spectral_concentration(top);
  const double kv_err = std::abs(spectral_concentration(kv) - c_ref) / c_ref;
  const double sub_err = std::abs(spectral_concentration(sub) - c_ref) / c_ref;
  const auto worst_top100 = [&](const std::vector<float>& got) {
    double e = 0;
    for (std::size_t i = 0; i < 100; ++i) e = std::max(e, std::abs(double(got[i]) - full[i]) / full[i]);
    return e;
  };
  std::printf("flat spectrum: c error block Krylov %.4f, subspace %.4f; worst of the top 100: %.4f, %.4f\n", kv_err,
              sub_err, worst_top100(kv), worst_top100(sub));
  EXPECT_LT(kv_err, sub_err);
  EXPECT_LT(worst_top100(kv), worst_top100(sub));
  // 17 x 64 = 1088 product columns against 6 x 272 = 1632.
  EXPECT_LT((2 * kDepth - 1) * kBlock, 6 * (256 + 16));
}

TEST(BlockKrylov, RejectsBadArguments) {
  const Dense w = with_spectrum(20, 10, exp_spectrum(10, 1.0, 3.0), 1);
  EXPECT_THROW(singular_values_block_krylov(w.view(), 5, 0, 2, 1), std::invalid_argument);
  EXPECT_THROW(singular_values_block_krylov(w.view(), 5, 4, 0, 1), std::invalid_argument);
  EXPECT_THROW(singular_values_block_krylov(w.view(), -1, 4, 2, 1), std::invalid_argument);
  EXPECT_THROW(singular_values_block_krylov(w.view(), 9, 4, 2, 1), std::invalid_argument);  // 8 columns < 9
  EXPECT_EQ(singular_values_block_krylov(w.view(), 12, 4, 3, 1).size(), 10u);  // rank capped at min(m, n)
  EXPECT_TRUE(singular_values_block_krylov(w.view(), 0, 4, 2, 1).empty());
  const MatrixView empty{nullptr, 0, 5};
  EXPECT_TRUE(singular_values_block_krylov(empty, 5, 4, 2, 1).empty());
}

}  // namespace
}  // namespace ramq
