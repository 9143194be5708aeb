// Test support: weight-like data of three shapes the encoders are judged on: Gaussian,
// heavy-tailed (Student-t with 3 degrees of freedom: normal / sqrt(chi2_3 / 3)) and Gaussian with
// about 1 value in 200 multiplied by 20 (outliers), all at a typical LLM weight scale of 0.02.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "ramq/rng.h"

namespace ramq::testkit {

enum class Dist { Gaussian, HeavyTailed, Outliers };
constexpr Dist kAllDists[] = {Dist::Gaussian, Dist::HeavyTailed, Dist::Outliers};

inline const char* dist_name(Dist d) {
  return d == Dist::Gaussian ? "gaussian" : d == Dist::HeavyTailed ? "student-t3" : "outliers";
}

inline std::vector<float> make_weights(Dist dist, std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(n);
  for (auto& v : x) {
    double z = rng.normal();
    if (dist == Dist::HeavyTailed) {
      double chi2 = 0.0;
      for (int k = 0; k < 3; ++k) {
        const double g = rng.normal();
        chi2 += g * g;
      }
      z /= std::sqrt(chi2 / 3.0 + 1e-12);
    } else if (dist == Dist::Outliers && rng.uniform() < 1.0 / 200.0) {
      z *= 20.0;
    }
    v = static_cast<float>(0.02 * z);
  }
  return x;
}

}  // namespace ramq::testkit
