// Singular values (full and subspace-iteration randomized) and the spectral concentration built
// on them. Test matrices have a known spectrum (support/dense_matrix.h), so the true singular
// values are known without running any SVD.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
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

// ---------------------------------------------------------------------------------------------

TEST(SingularValuesFull, RecoversKnownSpectrumTall) {
  std::vector<double> s(120);
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = 5.0 / (1.0 + 0.1 * static_cast<double>(i));
  const Dense w = with_spectrum(200, 120, s, 11);
  const std::vector<float> sv = singular_values_full(w.view());
  ASSERT_EQ(sv.size(), 120u);
  expect_matches_spectrum(sv, s, 120, 1e-4);
}

TEST(SingularValuesFull, RecoversKnownSpectrumWide) {
  std::vector<double> s(90);
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = 3.0 - 0.03 * static_cast<double>(i);
  const Dense w = with_spectrum(90, 170, s, 12);
  const std::vector<float> sv = singular_values_full(w.view());
  ASSERT_EQ(sv.size(), 90u);
  expect_matches_spectrum(sv, s, 90, 1e-4);
}

TEST(SingularValuesFull, RankDeficientAndDescending) {
  // Rank 5 in a 60 x 40 matrix: 5 known values, then (numerically) zeros.
  const std::vector<double> s = {9.0, 7.0, 4.0, 2.0, 0.5};
  const Dense w = with_spectrum(60, 40, s, 13);
  const std::vector<float> sv = singular_values_full(w.view());
  ASSERT_EQ(sv.size(), 40u);
  expect_matches_spectrum(sv, s, 5, 1e-5);
  for (std::size_t i = 5; i < sv.size(); ++i) EXPECT_LT(sv[i], 1e-5) << i;
  for (std::size_t i = 1; i < sv.size(); ++i) EXPECT_GE(sv[i - 1], sv[i]) << i;
}

TEST(SingularValuesFull, RankOneOuterProduct) {
  // W = a b^T has the single non-zero singular value |a| |b|.
  const std::vector<float> a = {1, 2, 2};          // |a| = 3
  const std::vector<float> b = {3, 0, 4, 0, 0};    // |b| = 5
  std::vector<float> d;
  for (float ai : a)
    for (float bj : b) d.push_back(ai * bj);
  const std::vector<float> sv = singular_values_full({d.data(), 3, 5});
  ASSERT_EQ(sv.size(), 3u);
  EXPECT_NEAR(sv[0], 15.0, 1e-5);
  EXPECT_NEAR(sv[1], 0.0, 1e-5);
  EXPECT_NEAR(sv[2], 0.0, 1e-5);
}

TEST(SingularValuesFull, ZeroAndEmpty) {
  const std::vector<float> z(12, 0.0f);
  const std::vector<float> sv = singular_values_full({z.data(), 3, 4});
  ASSERT_EQ(sv.size(), 3u);
  for (float v : sv) EXPECT_EQ(v, 0.0f);
  EXPECT_EQ(spectral_concentration(sv), 0.0);
  EXPECT_TRUE(singular_values_full({nullptr, 0, 7}).empty());
}

TEST(SpectralConcentration, KnownSpectrumThroughFullSvd) {
  // k = 180 -> top 18.
  std::vector<double> s(180);
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = 1.0 / std::pow(1.0 + static_cast<double>(i), 0.6);
  const Dense w = with_spectrum(256, 180, s, 21);
  const double c = spectral_concentration(singular_values_full(w.view()));
  const double ref = concentration_of(s, 180);
  EXPECT_NEAR(c, ref, 1e-4 * ref);
}

TEST(SpectralConcentration, FlatSpectrumGivesTenPercent) {
  const std::vector<double> s(100, 2.0);
  const Dense w = with_spectrum(100, 130, s, 22);
  EXPECT_NEAR(spectral_concentration(singular_values_full(w.view())), 0.1, 1e-4 * 0.1);
}

// ---------------------------------------------------------------------------------------------

class RandomizedSvd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    spectrum_ = new std::vector<double>(exp_spectrum(768, 10.0, 40.0));
    tall_ = new Dense(with_spectrum(1024, 768, *spectrum_, 31));
  }
  static void TearDownTestSuite() {
    delete tall_;
    delete spectrum_;
    tall_ = nullptr;
    spectrum_ = nullptr;
  }
  static std::vector<double>* spectrum_;
  static Dense* tall_;
};
std::vector<double>* RandomizedSvd::spectrum_ = nullptr;
Dense* RandomizedSvd::tall_ = nullptr;

TEST_F(RandomizedSvd, TopValuesMatchKnownSpectrumAndFullSvd) {
  const std::vector<float> rs = singular_values_randomized(tall_->view(), 256, 16, 2, 7);
  ASSERT_EQ(rs.size(), 256u);
  for (std::size_t i = 1; i < rs.size(); ++i) EXPECT_GE(rs[i - 1], rs[i]) << i;
  // Against the construction's spectrum ...
  expect_matches_spectrum(rs, *spectrum_, 100, 1e-3);
  // ... and against LAPACK's full SVD of the same float matrix.
  const std::vector<float> full = singular_values_full(tall_->view());
  ASSERT_EQ(full.size(), 768u);
  for (std::size_t i = 0; i < 100; ++i) EXPECT_NEAR(rs[i], full[i], 1e-3 * full[i]) << i;
  // A randomized estimate never exceeds the true value by more than float round-off.
  for (std::size_t i = 0; i < rs.size(); ++i) EXPECT_LE(rs[i], full[i] * (1.0 + 1e-4) + 1e-6) << i;
}

TEST_F(RandomizedSvd, DeterministicPerSeedAndStableAcrossSeeds) {
  const std::vector<float> a = singular_values_randomized(tall_->view(), 256, 16, 2, 1234);
  const std::vector<float> b = singular_values_randomized(tall_->view(), 256, 16, 2, 1234);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << i;  // bit-identical

  const std::vector<float> c = singular_values_randomized(tall_->view(), 256, 16, 2, 99);
  ASSERT_EQ(c.size(), a.size());
  EXPECT_NE(a, c);  // a different sketch ...
  expect_matches_spectrum(c, *spectrum_, 100, 1e-3);  // ... with the same accuracy
}

TEST(RandomizedSvdShapes, WideMatrix) {
  const std::vector<double> s = exp_spectrum(600, 4.0, 30.0);
  const Dense w = with_spectrum(600, 900, s, 41);
  const std::vector<float> rs = singular_values_randomized(w.view(), 128, 16, 2, 5);
  ASSERT_EQ(rs.size(), 128u);
  expect_matches_spectrum(rs, s, 60, 1e-3);
}

// Over 2048 rows on a side, the orthonormalisations and the final factorisation use the
// tall-skinny QR (pieces factored separately, their R factors once more): the same accuracy, and
// the same bits whatever the thread count. Tall: the left side is cut; wide: the right side.
TEST(RandomizedSvdShapes, TallSkinnyQrPiecesKeepAccuracyAndDeterminism) {
  const std::vector<double> s = exp_spectrum(400, 6.0, 60.0);
  for (const bool tall : {true, false}) {
    const Dense w = tall ? with_spectrum(2304, 640, s, 44) : with_spectrum(640, 2304, s, 45);
    const std::vector<float> one = singular_values_randomized(w.view(), 256, 16, 2, 9, 1);
    const std::vector<float> three = singular_values_randomized(w.view(), 256, 16, 2, 9, 3);
    ASSERT_EQ(one.size(), 256u);
    EXPECT_EQ(one, three) << (tall ? "tall" : "wide");
    expect_matches_spectrum(one, s, 100, 1e-3);
    const std::vector<float> full = singular_values_full(w.view());
    for (std::size_t i = 0; i < 100; ++i) EXPECT_NEAR(one[i], full[i], 1e-3 * full[i]) << i;
    for (std::size_t i = 0; i < one.size(); ++i) EXPECT_LE(one[i], full[i] * (1.0 + 1e-4) + 1e-6) << i;
  }
}

TEST(RandomizedSvdShapes, RankClampedToMinDimensionIsExact) {
  // rank + oversample >= min(m, n): the sketch spans the whole row space, so all values are exact.
  std::vector<double> s(40);
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = 1.0 + static_cast<double>(40 - i) * 0.25;
  const Dense w = with_spectrum(70, 40, s, 42);
  const std::vector<float> rs = singular_values_randomized(w.view(), 256, 16, 2, 3);
  ASSERT_EQ(rs.size(), 40u);
  expect_matches_spectrum(rs, s, 40, 1e-4);
}

TEST(RandomizedSvdShapes, NoPowerIterationsStillCapturesFastDecay) {
  const std::vector<double> s = exp_spectrum(300, 1.0, 5.0);  // very fast decay
  const Dense w = with_spectrum(300, 320, s, 43);
  const std::vector<float> rs = singular_values_randomized(w.view(), 20, 10, 0, 8);
  ASSERT_EQ(rs.size(), 20u);
  expect_matches_spectrum(rs, s, 10, 1e-3);
}

// ---------------------------------------------------------------------------------------------
// compute_raw_metrics: which SVD it uses and the concentration it reports.

TEST(RawMetricsConcentration, SmallMatrixUsesFullSvd) {
  std::vector<double> s(200);
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = 1.0 / (1.0 + 0.05 * static_cast<double>(i));
  const Dense w = with_spectrum(512, 200, s, 51);  // min dim 200 <= 512
  const RawMetrics r = compute_raw_metrics(w.view(), MetricOptions{}, 17);
  EXPECT_FALSE(r.randomized_svd);
  const double ref = concentration_of(s, 200);  // k = 200 -> top 20
  EXPECT_NEAR(r.concentration, ref, 1e-4 * ref);
}

TEST(RawMetricsConcentration, MinDimensionOver512UsesRandomizedSvd) {
  // 600 x 700: min dim 600 > 512 -> randomized SVD with k = 256: reference is the concentration
  // of the top 256 true singular values (top 25 over top 256).
  const std::vector<double> s = exp_spectrum(600, 2.0, 60.0);
  const Dense w = with_spectrum(600, 700, s, 52);
  const MetricOptions opt;
  const RawMetrics r = compute_raw_metrics(w.view(), opt, 2024);
  EXPECT_TRUE(r.randomized_svd);
  const double ref = concentration_of(s, 256);
  EXPECT_NEAR(r.concentration, ref, 1e-3 * ref);
  // The full-spectrum value differs (k = 600 -> top 60), so this really is the k = 256 path.
  EXPECT_GT(std::abs(concentration_of(s, 600) - ref), 0.05);

  const RawMetrics again = compute_raw_metrics(w.view(), opt, 2024);
  EXPECT_EQ(again.concentration, r.concentration);
  const RawMetrics other = compute_raw_metrics(w.view(), opt, 7);
  EXPECT_NEAR(other.concentration, ref, 1e-3 * ref);
}

TEST(RawMetricsConcentration, ThresholdFollowsOptions) {
  const std::vector<double> s = exp_spectrum(100, 1.0, 8.0);
  const Dense w = with_spectrum(100, 150, s, 53);
  MetricOptions opt;
  opt.full_svd_max_dim = 64;  // 100 > 64 -> randomized
  opt.rsvd_rank = 50;
  opt.rsvd_oversample = 10;
  opt.rsvd_power_iters = 3;
  opt.krylov_block = 16;
  const double ref = concentration_of(s, 50);  // top 5 of the top 50
  for (const RsvdMethod method : {RsvdMethod::Subspace, RsvdMethod::BlockKrylov}) {
    opt.rsvd_method = method;
    const RawMetrics r = compute_raw_metrics(w.view(), opt, 1);
    EXPECT_TRUE(r.randomized_svd);
    EXPECT_NEAR(r.concentration, ref, 1e-3 * ref);
  }
}

}  // namespace
}  // namespace ramq
