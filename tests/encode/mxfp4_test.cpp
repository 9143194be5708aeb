// MXFP4 (ggml type 39) against the format's definition: every code at several scales, the largest
// value, round trips within half a step, lossless exact blocks, zeros, signs, and no inf or NaN.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "encode/codec_test_util.h"
#include "ramq/rng.h"

namespace ramq {
namespace {

TEST(Mxfp4, DecodesEveryCodeAtSeveralScales) {
  for (const int e : {0, 1, 2, 64, 120, 126, 127, 128, 129, 200, 252, 253, 254}) {
    int code[32];
    for (int j = 0; j < 16; ++j) code[j] = j, code[j + 16] = 15 - j;
    const auto y = decode(GgmlType::MXFP4, mxfp4_block(e, code), 32);
    for (int i = 0; i < 32; ++i) {
      EXPECT_EQ(y[static_cast<std::size_t>(i)], mxfp4_value(code[i], e)) << "e " << e << " code " << code[i];
      if ((code[i] & 7) == 0) {
        EXPECT_FALSE(std::signbit(y[static_cast<std::size_t>(i)])) << "code " << code[i];  // ggml: +0
      }
    }
  }
  // Spot checks of the closed form itself: the subnormal scales and the top of the range.
  EXPECT_EQ(mxfp4_value(1, 0), 0x1p-128f);     // 0.5 * 2^-127
  EXPECT_EQ(mxfp4_value(15, 1), -0x1.8p-124f);  // -6 * 2^-126
  EXPECT_EQ(mxfp4_value(7, 127), 6.0f);
  EXPECT_EQ(mxfp4_value(11, 128), -3.0f);
  EXPECT_EQ(mxfp4_value(3, 254), 0x1.8p127f);   // 1.5 * 2^127, the largest finite value
  EXPECT_EQ(mxfp4_value(4, 254), INFINITY);     // 2 * 2^127
}

// The row's largest value is the largest finite value any (code, e < 255) decodes to.
TEST(Mxfp4, LargestValueIsTheLargestFiniteDecodedValue) {
  float largest = 0.0f;
  for (int e = 0; e < 255; ++e)
    for (int code = 0; code < 8; ++code)
      if (std::isfinite(mxfp4_value(code, e))) largest = std::max(largest, mxfp4_value(code, e));
  EXPECT_EQ(largest, 3.0f * 0x1p126f);
  EXPECT_EQ(gguf_largest_value(GgmlType::MXFP4), largest);
  const float beyond = std::nextafter(largest, INFINITY);
  const float row[32] = {0.0f, -largest, largest, 1.0f};
  EXPECT_EQ(gguf_first_unrepresentable(GgmlType::MXFP4, row, 32), std::nullopt);
  const float over[32] = {0.0f, 1.0f, -beyond};
  EXPECT_EQ(gguf_first_unrepresentable(GgmlType::MXFP4, over, 32), 2);
}

// Blocks of all sizes, from subnormal scales to the largest value. Every block's squared error is
// at most the sum of the squared half steps of the grid that just fits its largest magnitude (the
// encoder's search includes that exponent); where the largest magnitude is exactly 6 * 2^k, that
// grid is the best one and every element is within its half step.
TEST(Mxfp4, RoundTripWithinHalfStep) {
  Rng rng(41);
  const float top = gguf_largest_value(GgmlType::MXFP4);
  for (int trial = 0; trial < 4000; ++trial) {
    const bool exact_max = trial % 2 == 1;
    const int k = -150 + static_cast<int>(rng.uniform() * 280);  // 2^-150 .. 2^129 (clipped to top)
    std::vector<float> x(32);
    for (auto& v : x) {
      const double z = trial % 3 == 0 ? rng.normal() : trial % 3 == 1 ? (rng.uniform() * 2 - 1) * 6 : rng.normal() / (0.05 + rng.uniform());
      v = static_cast<float>(std::clamp(std::ldexp(z, k), -static_cast<double>(top), static_cast<double>(top)));
    }
    if (exact_max && k > -140 && k < 125) {
      for (auto& v : x) v = std::clamp(v, -std::ldexp(6.0f, k), std::ldexp(6.0f, k));
      x[static_cast<std::size_t>(rng.uniform() * 32)] = (rng.uniform() < 0.5 ? -6.0f : 6.0f) * std::ldexp(1.0f, k);
    }
    float amax = 0.0f;
    for (const float v : x) amax = std::max(amax, std::fabs(v));
    const int e_fit = mxfp4_fitting_exponent(amax);
    const auto y = decode(GgmlType::MXFP4, encode(GgmlType::MXFP4, x, 32), 32);
    double err2 = 0.0, bound2 = 0.0;
    for (std::size_t i = 0; i < 32; ++i) {
      ASSERT_TRUE(std::isfinite(y[i])) << "trial " << trial;
      const double d = static_cast<double>(x[i]) - static_cast<double>(y[i]), h = mxfp4_half_step(x[i], e_fit);
      err2 += d * d;
      bound2 += h * h;
      if (exact_max && k > -140 && k < 125) {
        ASSERT_LE(std::fabs(d), h) << "trial " << trial << " element " << i << ": " << x[i] << " -> " << y[i];
      }
    }
    ASSERT_LE(err2, bound2) << "trial " << trial << " (2^" << k << ")";
  }
}

// Blocks made of representable values (any scale byte 0..254, codes whose value is finite) come
// back exactly.
TEST(Mxfp4, ExactBlocksAreLossless) {
  Rng rng(43);
  auto pick = [&](int lo, int hi) { return lo + static_cast<int>(rng.uniform() * (hi - lo + 1)); };
  for (int e = 0; e < 255; ++e) {
    for (int rep = 0; rep < 8; ++rep) {
      const int max_mag = e == 254 ? 3 : e == 253 ? 5 : 7;  // larger codes are inf at these scales
      std::vector<float> x(32);
      for (int i = 0; i < 32; ++i) x[static_cast<std::size_t>(i)] = mxfp4_value(pick(0, max_mag) | (pick(0, 1) << 3), e);
      x[static_cast<std::size_t>(pick(0, 31))] = mxfp4_value(pick(1, max_mag) | (pick(0, 1) << 3), e);
      const auto y = decode(GgmlType::MXFP4, encode(GgmlType::MXFP4, x, 32), 32);
      ASSERT_EQ(x, y) << "e " << e;
    }
  }
}

TEST(Mxfp4, ZerosAndSigns) {
  // Zeros (either sign): scale byte 0 and nibble 0 throughout, decoding to +0.
  for (const float z : {0.0f, -0.0f}) {
    const Bytes b = encode(GgmlType::MXFP4, std::vector<float>(64, z), 64);
    EXPECT_EQ(b, Bytes(34, std::byte{0}));
    for (const float v : decode(GgmlType::MXFP4, b, 64)) EXPECT_TRUE(v == 0.0f && !std::signbit(v));
  }
  // Negating a block keeps its scale byte, sets bit 3 of every non-zero nibble and negates the
  // decoded values exactly.
  Rng rng(47);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<float> x(32), neg(32);
    for (std::size_t i = 0; i < 32; ++i) {
      x[i] = static_cast<float>(std::ldexp(rng.normal(), -10 + trial % 20));
      neg[i] = -x[i];
    }
    const Bytes bp = encode(GgmlType::MXFP4, x, 32), bn = encode(GgmlType::MXFP4, neg, 32);
    EXPECT_EQ(bp[0], bn[0]);
    for (std::size_t j = 1; j < 17; ++j) {
      for (const int shift : {0, 4}) {
        const int cp = (static_cast<int>(bp[j]) >> shift) & 15, cn = (static_cast<int>(bn[j]) >> shift) & 15;
        EXPECT_EQ(cn, (cp & 7) == 0 ? cp : cp ^ 8) << "trial " << trial << " byte " << j;
      }
    }
    const auto yp = decode(GgmlType::MXFP4, bp, 32), yn = decode(GgmlType::MXFP4, bn, 32);
    for (std::size_t i = 0; i < 32; ++i) {
      EXPECT_EQ(yn[i], -yp[i]);
      if (x[i] != 0.0f && yp[i] != 0.0f) {
        EXPECT_EQ(std::signbit(yp[i]), std::signbit(x[i]));
      }
    }
  }
}

// Even given what the writers refuse (beyond the largest value, FLT_MAX, infinities, NaN), the
// encoder writes blocks that decode to finite values, and never the scale byte 255.
TEST(Mxfp4, NeverWritesInfOrNan) {
  const float top = gguf_largest_value(GgmlType::MXFP4), fmax = std::numeric_limits<float>::max();
  const std::vector<std::vector<float>> specials = {
      {top, -top, 1.0f, 1e-30f},
      {fmax, -fmax, top},
      {INFINITY, -1.0f, 2.0f},
      {-INFINITY, NAN, 3.0f},
      {NAN, 1e-45f},
      {0x1p-149f, -0x1p-140f, 0x1p-128f},
  };
  for (const auto& vals : specials) {
    std::vector<float> x(32, 0.5f);
    std::copy(vals.begin(), vals.end(), x.begin());
    const Bytes b = encode(GgmlType::MXFP4, x, 32);
    EXPECT_NE(b[0], std::byte{255});
    const auto y = decode(GgmlType::MXFP4, b, 32);
    for (std::size_t i = 0; i < 32; ++i) ASSERT_TRUE(std::isfinite(y[i])) << i << ": " << x[i];
    if (vals[0] == top) {
      EXPECT_EQ(y[0], top);
      EXPECT_EQ(y[1], -top);
    }
    if (vals[0] == fmax) {
      EXPECT_EQ(y[0], top);  // the nearest finite value
    }
  }
}

}  // namespace
}  // namespace ramq
