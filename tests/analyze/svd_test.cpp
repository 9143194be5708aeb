// Singular values (full and randomized) and the spectral concentration built on them.
//
// Test matrices are built as W = U diag(s) V^T with a chosen spectrum s and random orthonormal
// U, V (Gaussian columns orthonormalised by classical Gram-Schmidt with re-orthogonalisation,
// in double), so the true singular values are known without running any SVD.
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

using testkit::Dense;

// `count` orthonormal vectors of length `len`, stored one after another (column-major len x count).
std::vector<double> random_orthonormal(std::size_t len, std::size_t count, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> dist(0.0, 1.0);
  std::vector<double> q(len * count);
  for (double& v : q) v = dist(gen);
  for (std::size_t j = 0; j < count; ++j) {
    double* qj = q.data() + j * len;
    for (int pass = 0; pass < 2; ++pass) {  // CGS2: project out the previous vectors twice
      std::vector<double> coef(j, 0.0);
      for (std::size_t i = 0; i < j; ++i) {
        const double* qi = q.data() + i * len;
        double dot = 0.0;
        for (std::size_t t = 0; t < len; ++t) dot += qi[t] * qj[t];
        coef[i] = dot;
      }
      for (std::size_t i = 0; i < j; ++i) {
        const double* qi = q.data() + i * len;
        for (std::size_t t = 0; t < len; ++t) qj[t] -= coef[i] * qi[t];
      }
    }
    double norm = 0.0;
    for (std::size_t t = 0; t < len; ++t) norm += qj[t] * qj[t];
    norm = std::sqrt(norm);
    for (std::size_t t = 0; t < len; ++t) qj[t] /= norm;
  }
  return q;
}

// m x n matrix with singular values s (s.size() <= min(m, n); the rest are 0).
Dense with_spectrum(std::int64_t m, std::int64_t n, const std::vector<double>& s, std::uint64_t seed) {
  const std::size_t r = s.size();
  const auto mu = static_cast<std::size_t>(m);
  const auto nu = static_cast<std::size_t>(n);
  const std::vector<double> u = random_orthonormal(mu, r, seed);
  const std::vector<double> v = random_orthonormal(nu, r, seed + 1000);
  // W = sum_k s_k u_k v_k^T, accumulated in double.
  std::vector<double> acc(mu * nu, 0.0);
  for (std::size_t k = 0; k < r; ++k) {
    const double* uk = u.data() + k * mu;
    const double* vk = v.data() + k * nu;
    for (std::size_t i = 0; i < mu; ++i) {
      const double a = s[k] * uk[i];
      double* row = acc.data() + i * nu;
      for (std::size_t j = 0; j < nu; ++j) row[j] += a * vk[j];
    }
  }
  Dense w{m, n, std::vector<float>(mu * nu)};
  for (std::size_t i = 0; i < acc.size(); ++i) w.data[i] = static_cast<float>(acc[i]);
  return w;
}

std::vector<double> exp_spectrum(std::size_t r, double scale, double tau) {
  std::vector<double> s(r);
  for (std::size_t i = 0; i < r; ++i) s[i] = scale * std::exp(-static_cast<double>(i) / tau);
  return s;
}

// Closed form: sum of the top max(1, floor(k/10)) squared values / sum of all k squared values.
double concentration_of(const std::vector<double>& s_desc, std::size_t k) {
  const std::size_t top = std::max<std::size_t>(1, k / 10);
  double a = 0.0;
  double b = 0.0;
  for (std::size_t i = 0; i < k; ++i) {
    const double v = i < s_desc.size() ? s_desc[i] : 0.0;
    b += v * v;
    if (i < top) a += v * v;
  }
  return a / b;
}

void expect_matches_spectrum(const std::vector<float>& got, const std::vector<double>& s, std::size_t count,
                             double rel_tol) {
  ASSERT_GE(got.size(), count);
  ASSERT_GE(s.size(), count);
  for (std::size_t i = 0; i < count; ++i) {
    EXPECT_NEAR(got[i], s[i], rel_tol * s[i]) << "singular value " << i;
  }
}

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
  const RawMetrics r = compute_raw_metrics(w.view(), opt, 1);
  EXPECT_TRUE(r.randomized_svd);
  const double ref = concentration_of(s, 50);  // top 5 of the top 50
  EXPECT_NEAR(r.concentration, ref, 1e-3 * ref);
}

}  // namespace
}  // namespace ramq
