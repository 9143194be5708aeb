// Test support: a small owned row-major float matrix, and matrices with a known spectrum: W =
// U diag(s) V^T with random orthonormal U, V (Gaussian columns orthonormalised by classical
// Gram-Schmidt with re-orthogonalisation, in double).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "ramq/metrics.h"

namespace ramq::testkit {

struct Dense {
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::vector<float> data;  // row-major
  MatrixView view() const { return {data.data(), rows, cols}; }
};

// `count` orthonormal vectors of length `len`, stored one after another (column-major len x count).
inline std::vector<double> random_orthonormal(std::size_t len, std::size_t count, std::uint64_t seed) {
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
inline Dense with_spectrum(std::int64_t m, std::int64_t n, const std::vector<double>& s, std::uint64_t seed) {
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

inline std::vector<double> exp_spectrum(std::size_t r, double scale, double tau) {
  std::vector<double> s(r);
  for (std::size_t i = 0; i < r; ++i) s[i] = scale * std::exp(-static_cast<double>(i) / tau);
  return s;
}

// Closed form: sum of the top max(1, floor(k/10)) squared values / sum of all k squared values.
inline double concentration_of(const std::vector<double>& s_desc, std::size_t k) {
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

inline void expect_matches_spectrum(const std::vector<float>& got, const std::vector<double>& s, std::size_t count,
                             double rel_tol) {
  ASSERT_GE(got.size(), count);
  ASSERT_GE(s.size(), count);
  for (std::size_t i = 0; i < count; ++i) {
    EXPECT_NEAR(got[i], s[i], rel_tol * s[i]) << "singular value " << i;
  }
}

}  // namespace ramq::testkit
