// The noise metric's generator (src/analyze/simd/metric_kernels.h, uniform_noise) at every SIMD
// level this CPU has: SplitMix64's published outputs, the same bits at every level, and the
// uniform distribution it promises.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "analyze/simd/metric_kernels.h"
#include "ramq/ggml_types.h"

namespace ramq {
namespace {

using NoiseFn = void (*)(std::uint64_t, float*, std::int64_t, float);

std::vector<std::pair<std::string, NoiseFn>> noise_kernels() {
  std::vector<std::pair<std::string, NoiseFn>> out = {{"portable", analyze_simd::portable::uniform_noise}};
#if defined(__x86_64__)
  for (const SimdLevel level : supported_simd_levels()) {
    if (level == SimdLevel::Avx2) out.emplace_back("avx2", analyze_simd::avx2::uniform_noise);
    if (level == SimdLevel::Avx512) out.emplace_back("avx512", analyze_simd::avx512::uniform_noise);
  }
#endif
  return out;
}

// SplitMix64 seeded with 1234567 (the reference sequence of Steele, Lea and Flood's generator, as
// published with its implementations): draw t is output t + 1.
TEST(UniformNoise, DrawsAreSplitMix64Outputs) {
  const std::uint64_t want[] = {6457827717110365317ULL, 3203168211198807973ULL, 9817491932198370423ULL,
                                4593380528125082431ULL, 16408922859458223821ULL};
  for (const auto& [name, fn] : noise_kernels()) {
    std::vector<float> out(9);  // odd: the last draw gives only its high bits
    fn(1234567, out.data(), static_cast<std::int64_t>(out.size()), 1.0f);
    for (std::size_t t = 0; t < 5; ++t) {
      // With width 1, out + 1/2 is the 24-bit integer times 2^-24 exactly.
      const auto hi = static_cast<std::uint64_t>((out[2 * t] + 0.5f) * 0x1.0p24f);
      EXPECT_EQ(hi, want[t] >> 40) << name << " draw " << t;
      if (2 * t + 1 < out.size()) {
        const auto lo = static_cast<std::uint64_t>((out[2 * t + 1] + 0.5f) * 0x1.0p24f);
        EXPECT_EQ(lo, (want[t] >> 8) & 0xFFFFFFu) << name << " draw " << t;
      }
    }
  }
}

TEST(UniformNoise, SameBitsAtEveryLevel) {
  const auto kernels = noise_kernels();
  for (const std::int64_t n : {0, 1, 2, 33, 1001, 65536 + 7}) {
    std::vector<float> first;
    for (const auto& [name, fn] : kernels) {
      std::vector<float> out(static_cast<std::size_t>(n) + 1, -9.0f);
      fn(0xABCDEF12345ULL + static_cast<std::uint64_t>(n), out.data(), n, 0.37f);
      EXPECT_EQ(out.back(), -9.0f) << name << ": wrote past n = " << n;
      if (first.empty()) first = out;
      else EXPECT_EQ(out, first) << name << ", n = " << n;
    }
  }
}

TEST(UniformNoise, UniformOnTheInterval) {
  constexpr std::int64_t n = std::int64_t{1} << 20;
  const float width = 0.25f;
  for (const auto& [name, fn] : noise_kernels()) {
    std::vector<float> out(static_cast<std::size_t>(n));
    fn(42, out.data(), n, width);
    double sum = 0.0, sum2 = 0.0;
    std::vector<int> bins(16, 0);
    for (const float v : out) {
      ASSERT_GE(v, -width / 2) << name;
      ASSERT_LT(v, width / 2) << name;
      sum += v;
      sum2 += static_cast<double>(v) * v;
      ++bins[static_cast<std::size_t>((v / width + 0.5f) * 16.0f)];
    }
    const double var = width * width / 12.0;
    EXPECT_NEAR(sum / n, 0.0, 5.0 * std::sqrt(var / n)) << name;
    EXPECT_NEAR(sum2 / n, var, 0.01 * var) << name;
    for (const int b : bins) EXPECT_NEAR(b, n / 16, 5.0 * std::sqrt(n / 16.0)) << name;  // every 16th equally
  }
}

}  // namespace
}  // namespace ramq
