#include "ramq/mlx_affine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "ramq/dtype.h"
#include "ramq/error.h"
#include "ramq/rng.h"
#include "support/weight_distributions.h"

namespace ramq {
namespace {

const int kAllBits[] = {2, 3, 4, 5, 6, 8};
const int kAllGroups[] = {32, 64, 128};

std::vector<std::uint32_t> pack(const std::vector<std::uint8_t>& q, int bits) {
  std::vector<std::uint32_t> w(q.size() * static_cast<std::size_t>(bits) / 32);
  mlx_pack(q, bits, w);
  return w;
}

TEST(MlxAffine, SupportedSets) {
  for (int b = 0; b <= 16; ++b) {
    const bool expect = b == 2 || b == 3 || b == 4 || b == 5 || b == 6 || b == 8;
    EXPECT_EQ(mlx_bits_supported(b), expect) << b;
  }
  for (int g : {0, 16, 32, 48, 64, 96, 128, 256}) EXPECT_EQ(mlx_group_supported(g), g == 32 || g == 64 || g == 128) << g;
}

TEST(MlxAffine, PackUnpackRoundTripAllBits) {
  Rng rng(1234);
  for (int bits : kAllBits) {
    for (std::size_t n : {32u, 64u, 96u, 256u, 1024u}) {
      std::vector<std::uint8_t> q(n);
      for (auto& v : q) v = static_cast<std::uint8_t>(rng.next_u64() % (1u << bits));
      const auto w = pack(q, bits);
      ASSERT_EQ(w.size(), n * static_cast<std::size_t>(bits) / 32);
      std::vector<std::uint8_t> back(n);
      mlx_unpack(w, bits, back);
      EXPECT_EQ(back, q) << "bits " << bits << " n " << n;
    }
  }
}

// 4 bits: two values per byte, the first in the low nibble.
TEST(MlxAffine, PackLayout4Bits) {
  std::vector<std::uint8_t> q = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0};
  q.resize(32, 0);
  q[31] = 0xF;  // last nibble of word 3: bits 28..31
  const auto w = pack(q, 4);
  ASSERT_EQ(w.size(), 4u);
  EXPECT_EQ(w[0], 0x87654321u);
  EXPECT_EQ(w[1], 0x0FEDCBA9u);
  EXPECT_EQ(w[2], 0x00000000u);
  EXPECT_EQ(w[3], 0xF0000000u);
}

// 3 bits: q = 1,2,3,4,5,6,7,0 repeated. Element i occupies stream bits [3i, 3i+3):
//   q0=1 (001) bits 0..2   -> bit 0
//   q1=2 (010) bits 3..5   -> bit 4
//   q2=3 (011) bits 6..8   -> bits 6, 7 (the top of byte 0; bit 8 = byte 1 bit 0 stays 0)
//   q3=4 (100) bits 9..11  -> bit 11
//   q4=5 (101) bits 12..14 -> bits 12, 14
//   q5=6 (110) bits 15..17 -> bits 16, 17
//   q6=7 (111) bits 18..20 -> bits 18, 19, 20
//   q7=0 (000) bits 21..23
// byte 0 = bits 0,4,6,7 = 0xD1; byte 1 = bits 11,12,14 -> 0b0101'1000 = 0x58;
// byte 2 = bits 16..20 -> 0x1F. The 3-byte pattern D1 58 1F repeats four times over 12 bytes:
//   D1 58 1F D1 | 58 1F D1 58 | 1F D1 58 1F, read as little-endian words.
TEST(MlxAffine, PackLayout3Bits) {
  std::vector<std::uint8_t> q;
  for (int r = 0; r < 4; ++r)
    for (int v : {1, 2, 3, 4, 5, 6, 7, 0}) q.push_back(static_cast<std::uint8_t>(v));
  const auto w = pack(q, 3);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0], 0xD11F58D1u);
  EXPECT_EQ(w[1], 0x58D11F58u);
  EXPECT_EQ(w[2], 0x1F58D11Fu);
}

// 3 bits, values straddling byte and word boundaries.
TEST(MlxAffine, PackLayout3BitsStraddle) {
  {
    // element 2 = 4 (100): bits 6..8, only its high bit is set -> bit 0 of byte 1.
    std::vector<std::uint8_t> q(32, 0);
    q[2] = 4;
    const auto w = pack(q, 3);
    EXPECT_EQ(w[0], 0x00000100u);
    EXPECT_EQ(w[1], 0u);
    EXPECT_EQ(w[2], 0u);
  }
  {
    // element 10 = 7: stream bits 30..32 -> bits 30, 31 of word 0 and bit 0 of word 1.
    // element 21 = 5 (101): stream bits 63..65 -> bit 31 of word 1 and bit 1 of word 2 (bit 65).
    // element 31 = 6 (110): stream bits 93..95 -> bits 30, 31 of word 2.
    std::vector<std::uint8_t> q(32, 0);
    q[10] = 7;
    q[21] = 5;
    q[31] = 6;
    const auto w = pack(q, 3);
    EXPECT_EQ(w[0], 0xC0000000u);
    EXPECT_EQ(w[1], 0x80000001u);
    EXPECT_EQ(w[2], 0xC0000002u);
  }
}

// 6 bits: 4 values in 3 bytes. Element i occupies stream bits [6i, 6i+6):
//   q0=1  (000001) bits 0..5   -> bit 0
//   q1=2  (000010) bits 6..11  -> bit 7
//   q2=3  (000011) bits 12..17 -> bits 12, 13
//   q3=4  (000100) bits 18..23 -> bit 20
//   q4=63 (111111) bits 24..29 -> bits 24..29
//   q5=5  (000101) bits 30..35 -> bit 30 (word 0) and bit 32 (word 1 bit 0)
//   q6=33 (100001) bits 36..41 -> bits 36, 41 (word 1 bits 4, 9)
//   q7..q14 = 0
//   q15=63 bits 90..95 -> word 2 bits 26..31
// word 0 = bits 0,7,12,13,20,24..29,30 = 0x01 | 0x80 | 0x3000 | 0x100000 | 0x3F000000 | 0x40000000
//        = 0x7F103081
// word 1 = bits 0,4,9 = 0x211; word 2 = 0xFC000000.
TEST(MlxAffine, PackLayout6Bits) {
  std::vector<std::uint8_t> q(16, 0);
  q[0] = 1;
  q[1] = 2;
  q[2] = 3;
  q[3] = 4;
  q[4] = 63;
  q[5] = 5;
  q[6] = 33;
  q[15] = 63;
  const auto w = pack(q, 6);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0], 0x7F103081u);
  EXPECT_EQ(w[1], 0x00000211u);
  EXPECT_EQ(w[2], 0xFC000000u);
}

// 5 bits: element 1 = 31 at bits 5..9; element 6 = 31 at bits 30..34 (word 0 bits 30, 31 and
// word 1 bits 0..2); element 31 = 1 at bits 155..159 -> word 4 bit 27.
// 2 bits: element i at bits 2i; 8 bits: one value per byte.
TEST(MlxAffine, PackLayout2And5And8Bits) {
  {
    std::vector<std::uint8_t> q(32, 0);
    q[1] = 31;
    q[6] = 31;
    q[31] = 1;
    const auto w = pack(q, 5);
    ASSERT_EQ(w.size(), 5u);
    EXPECT_EQ(w[0], 0xC00003E0u);
    EXPECT_EQ(w[1], 0x00000007u);
    EXPECT_EQ(w[2], 0u);
    EXPECT_EQ(w[3], 0u);
    EXPECT_EQ(w[4], 0x08000000u);
  }
  {
    std::vector<std::uint8_t> q(32, 0);
    q[0] = 1;   // bits 0..1 -> 0x1
    q[1] = 2;   // bits 2..3 -> 0x8
    q[2] = 3;   // bits 4..5 -> 0x30
    q[15] = 3;  // bits 30..31
    q[16] = 2;  // word 1 bits 0..1 -> 0x2
    const auto w = pack(q, 2);
    ASSERT_EQ(w.size(), 2u);
    EXPECT_EQ(w[0], 0xC0000039u);
    EXPECT_EQ(w[1], 0x00000002u);
  }
  {
    std::vector<std::uint8_t> q(32, 0);
    q[0] = 1;
    q[1] = 2;
    q[2] = 3;
    q[3] = 0xFF;
    q[4] = 0x80;
    const auto w = pack(q, 8);
    ASSERT_EQ(w.size(), 8u);
    EXPECT_EQ(w[0], 0xFF030201u);
    EXPECT_EQ(w[1], 0x00000080u);
  }
}

TEST(MlxAffine, PackRejectsBadInput) {
  std::vector<std::uint8_t> q(32, 0);
  std::vector<std::uint32_t> w(4);
  q[5] = 16;
  EXPECT_THROW(mlx_pack(q, 4, w), std::invalid_argument);  // value too large
  q[5] = 0;
  std::vector<std::uint32_t> wrong(3);
  EXPECT_THROW(mlx_pack(q, 4, wrong), std::invalid_argument);  // size mismatch
  EXPECT_THROW(mlx_pack(q, 7, w), std::invalid_argument);      // unsupported width
  std::vector<std::uint8_t> odd(10, 0);
  std::vector<std::uint32_t> w1(1);
  EXPECT_THROW(mlx_pack(odd, 3, w1), std::invalid_argument);  // 30 bits: not whole words
}

std::vector<float> random_matrix(std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> w(static_cast<std::size_t>(rows * cols));
  for (auto& x : w) x = static_cast<float>(rng.normal() * 0.05);
  // a few outliers so that group ranges differ a lot
  for (std::size_t i = 0; i < w.size(); i += 97) w[i] *= 20.0f;
  return w;
}

double dtype_eps(DType t) { return t == DType::F16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8); }

TEST(MlxAffine, QuantizeShapesAndDtype) {
  const std::int64_t rows = 3, cols = 256;
  const auto w = random_matrix(rows, cols, 7);
  for (int bits : kAllBits) {
    for (int group : kAllGroups) {
      const auto q = mlx_quantize(w.data(), rows, cols, bits, group, DType::BF16);
      EXPECT_EQ(q.rows, rows);
      EXPECT_EQ(q.cols, cols);
      EXPECT_EQ(q.bits, bits);
      EXPECT_EQ(q.group, group);
      EXPECT_EQ(q.scale_dtype, DType::BF16);
      EXPECT_EQ(q.packed.size(), static_cast<std::size_t>(rows * cols * bits / 32));
      EXPECT_EQ(q.scales.size(), static_cast<std::size_t>(rows * cols / group));
      EXPECT_EQ(q.biases.size(), static_cast<std::size_t>(rows * cols / group));
      EXPECT_EQ(mlx_dequantize(q).size(), w.size());
    }
  }
}

// The min/max reference encoder: bias the group minimum, scale range / qmax, half a step of error.
TEST(MlxAffine, MinMaxErrorBoundAllBitsAndGroups) {
  const std::int64_t rows = 4, cols = 384;
  const auto w = random_matrix(rows, cols, 99);
  for (DType sdt : {DType::F16, DType::BF16}) {
    const double eps = dtype_eps(sdt);
    for (int bits : kAllBits) {
      const double qmax = (1 << bits) - 1;
      for (int group : kAllGroups) {
        const auto q = mlx_quantize_minmax(w.data(), rows, cols, bits, group, sdt);
        const auto d = mlx_dequantize(q);
        for (std::int64_t r = 0; r < rows; ++r) {
          for (std::int64_t g = 0; g < cols / group; ++g) {
            const std::size_t gi = static_cast<std::size_t>(r * (cols / group) + g);
            const float scale = q.scales[gi], bias = q.biases[gi];
            // scales and biases are values of the scale dtype
            EXPECT_EQ(round_to_dtype(scale, sdt), scale);
            EXPECT_EQ(round_to_dtype(bias, sdt), bias);
            double lo = 1e30, hi = -1e30, max_err = 0;
            for (std::int64_t c = g * group; c < (g + 1) * group; ++c) {
              const std::size_t i = static_cast<std::size_t>(r * cols + c);
              lo = std::min(lo, static_cast<double>(w[i]));
              hi = std::max(hi, static_cast<double>(w[i]));
              max_err = std::max(max_err, std::fabs(static_cast<double>(d[i]) - w[i]));
            }
            const double range = hi - lo;
            // bias is the group minimum, rounded to the dtype
            // (eps is half an ulp relative: a value rounded to the dtype moves by <= eps * |v|,
            // by <= 2 eps * |v| when rounded in a fixed direction)
            EXPECT_LE(std::fabs(bias - lo), std::fabs(lo) * 2 * eps + 1e-7);
            // scale is range / qmax, up to dtype rounding (plus the bias rounding it absorbs)
            const double ideal = range / qmax;
            EXPECT_LE(std::fabs(scale - ideal), ideal * 3.1 * eps + std::fabs(lo) * 2.1 * eps / qmax)
                << "bits " << bits << " group " << group;
            // rounding to the grid errs by at most half a step (plus float32 arithmetic)
            const double tiny = 1e-6 * (std::fabs(lo) + std::fabs(hi));
            EXPECT_LE(max_err, scale / 2.0 + tiny) << "bits " << bits << " group " << group;
            // relative to the range: 1 / (2 qmax), widened by the dtype rounding of scale and bias
            EXPECT_LE(max_err / range, 1.0 / (2.0 * qmax) * (1 + 3.1 * eps) + std::fabs(lo) / range * 2.1 * eps +
                                           tiny / range)
                << "bits " << bits << " group " << group;
          }
        }
      }
    }
  }
}

TEST(MlxAffine, ValuesOnTheGridReconstructExactly) {
  Rng rng(5);
  for (DType sdt : {DType::F16, DType::BF16}) {
    for (int bits : kAllBits) {
      const int qmax = (1 << bits) - 1;
      for (int group : kAllGroups) {
        const std::int64_t rows = 2, cols = 256;
        std::vector<float> w(static_cast<std::size_t>(rows * cols));
        std::vector<std::uint8_t> q_expect(w.size());
        std::vector<float> scale_expect, bias_expect;
        for (std::int64_t r = 0; r < rows; ++r) {
          for (std::int64_t g = 0; g < cols / group; ++g) {
            // power-of-two scales and small dyadic biases: exactly representable in F16 and BF16,
            // and bias + scale * q is exact in float32.
            const float scale = std::ldexp(1.0f, -static_cast<int>(3 + rng.next_u64() % 6));
            const float bias = -static_cast<float>(rng.next_u64() % 16) * 0.125f;
            scale_expect.push_back(scale);
            bias_expect.push_back(bias);
            for (std::int64_t c = 0; c < group; ++c) {
              const std::size_t i = static_cast<std::size_t>(r * cols + g * group + c);
              int qv = static_cast<int>(rng.next_u64() % static_cast<std::uint64_t>(qmax + 1));
              if (c == 0) qv = 0;     // the grid's ends are present,
              if (c == 5) qv = qmax;  // so min/max recover scale and bias exactly
              q_expect[i] = static_cast<std::uint8_t>(qv);
              w[i] = bias + scale * static_cast<float>(qv);
            }
          }
        }
        const auto q = mlx_quantize(w.data(), rows, cols, bits, group, sdt);
        EXPECT_EQ(q.scales, scale_expect) << "bits " << bits << " group " << group;
        EXPECT_EQ(q.biases, bias_expect) << "bits " << bits << " group " << group;
        EXPECT_EQ(mlx_dequantize(q), w) << "bits " << bits << " group " << group;
        std::vector<std::uint8_t> q_back(w.size());
        for (std::int64_t r = 0; r < rows; ++r) {
          const std::size_t wpr = static_cast<std::size_t>(cols * bits / 32);
          mlx_unpack(std::span<const std::uint32_t>(q.packed.data() + r * wpr, wpr), bits,
                     std::span<std::uint8_t>(q_back.data() + r * cols, static_cast<std::size_t>(cols)));
        }
        EXPECT_EQ(q_back, q_expect) << "bits " << bits << " group " << group;
      }
    }
  }
}

TEST(MlxAffine, ConstantGroupHasZeroScale) {
  std::vector<float> w(64, 0.75f);
  for (std::size_t i = 32; i < 64; ++i) w[i] = -2.5f;
  const auto q = mlx_quantize(w.data(), 1, 64, 4, 32, DType::F16);
  EXPECT_EQ(q.scales, (std::vector<float>{0.0f, 0.0f}));
  EXPECT_EQ(q.biases, (std::vector<float>{0.75f, -2.5f}));
  for (auto word : q.packed) EXPECT_EQ(word, 0u);
  EXPECT_EQ(mlx_dequantize(q), w);
}

TEST(MlxAffine, TinyRangeWithSubnormalScaleStaysBounded) {
  // Range 3e-7 at 4 bits: the ideal scale 2e-8 is below F16's smallest subnormal (6e-8).
  std::vector<float> w(32);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = 1e-3f + static_cast<float>(i) * 1e-8f;
  for (DType sdt : {DType::F16, DType::BF16}) {
    const auto q = mlx_quantize(w.data(), 1, 32, 4, 32, sdt);
    const auto d = mlx_dequantize(q);
    EXPECT_GT(q.scales[0], 0.0f);
    for (std::size_t i = 0; i < w.size(); ++i) {
      ASSERT_TRUE(std::isfinite(d[i]));
      EXPECT_LE(std::fabs(d[i] - w[i]), q.scales[0] / 2 + 1e-9f) << i;
    }
  }
  // Around zero with a subnormal F16 scale: the error stays within half a (subnormal) step.
  std::vector<float> z(32);
  for (std::size_t i = 0; i < z.size(); ++i) z[i] = static_cast<float>(i) * 2e-7f;
  const auto q = mlx_quantize(z.data(), 1, 32, 2, 32, DType::F16);
  const auto d = mlx_dequantize(q);
  for (std::size_t i = 0; i < z.size(); ++i) EXPECT_LE(std::fabs(d[i] - z[i]), q.scales[0] / 2 + 1e-12f) << i;
}

TEST(MlxAffine, OutOfRangeForF16Throws) {
  std::vector<float> w(32, 1.0f);
  w[3] = 1e6f;
  EXPECT_THROW(mlx_quantize(w.data(), 1, 32, 4, 32, DType::F16), Error);
  EXPECT_NO_THROW(mlx_quantize(w.data(), 1, 32, 4, 32, DType::BF16));
  w[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(mlx_quantize(w.data(), 1, 32, 4, 32, DType::BF16), Error);
}

TEST(MlxAffine, QuantizeRejectsBadArguments) {
  std::vector<float> w(96, 0.0f);
  EXPECT_THROW(mlx_quantize(w.data(), 1, 96, 4, 64, DType::F16), std::invalid_argument);  // 96 % 64
  EXPECT_THROW(mlx_quantize(w.data(), 1, 96, 7, 32, DType::F16), std::invalid_argument);
  EXPECT_THROW(mlx_quantize(w.data(), 1, 96, 4, 48, DType::F16), std::invalid_argument);
  EXPECT_THROW(mlx_quantize(w.data(), 1, 96, 4, 32, DType::F32), std::invalid_argument);
}


// ---------------------------------------------------------------- the error-minimising encoder

struct GroupStats {
  double sse = 0, max_err = 0, lo = 0, hi = 0;
};

// Squared error, largest error and range of group gi of the decoded matrix d against w.
GroupStats group_stats(const std::vector<float>& w, const std::vector<float>& d, std::size_t begin, int group) {
  GroupStats s;
  s.lo = s.hi = w[begin];
  for (std::size_t i = begin; i < begin + static_cast<std::size_t>(group); ++i) {
    const double e = static_cast<double>(d[i]) - w[i];
    s.sse += e * e;
    s.max_err = std::max(s.max_err, std::fabs(e));
    s.lo = std::min(s.lo, static_cast<double>(w[i]));
    s.hi = std::max(s.hi, static_cast<double>(w[i]));
  }
  return s;
}

// Per group: never a larger squared error than min/max, no element beyond
// max(range / qmax, the min/max grid's largest error), scale and bias values of the dtype, and
// every code the nearest one on the chosen grid (so the decoder's value is the nearest grid
// point, or an end of the grid for a value outside it).
TEST(MlxAffine, SearchNeverWorseThanMinMaxPerGroup) {
  const std::int64_t rows = 8, cols = 256;
  for (testkit::Dist dist : testkit::kAllDists) {
    const auto w = testkit::make_weights(dist, static_cast<std::size_t>(rows * cols), 31 + static_cast<int>(dist));
    for (DType sdt : {DType::F16, DType::BF16}) {
      for (int bits : kAllBits) {
        const int qmax = (1 << bits) - 1;
        for (int group : kAllGroups) {
          const auto s = mlx_quantize(w.data(), rows, cols, bits, group, sdt);
          const auto m = mlx_quantize_minmax(w.data(), rows, cols, bits, group, sdt);
          const auto ds = mlx_dequantize(s), dm = mlx_dequantize(m);
          for (std::size_t gi = 0; gi < s.scales.size(); ++gi) {
            const std::size_t begin = gi * static_cast<std::size_t>(group);
            const GroupStats a = group_stats(w, ds, begin, group), b = group_stats(w, dm, begin, group);
            const std::string where = std::string(testkit::dist_name(dist)) + " bits " + std::to_string(bits) +
                                      " group " + std::to_string(group) + " #" + std::to_string(gi);
            EXPECT_LE(a.sse, b.sse) << where;
            const double range = a.hi - a.lo;
            EXPECT_LE(a.max_err, std::max(range / qmax, b.max_err) * (1 + 1e-6)) << where;
            const float scale = s.scales[gi], bias = s.biases[gi];
            EXPECT_EQ(round_to_dtype(scale, sdt), scale) << where;
            EXPECT_EQ(round_to_dtype(bias, sdt), bias) << where;
            const float top = bias + scale * static_cast<float>(qmax);
            for (std::size_t i = begin; i < begin + static_cast<std::size_t>(group); ++i) {
              const double e = std::fabs(static_cast<double>(ds[i]) - w[i]);
              if (w[i] < bias) {
                EXPECT_EQ(ds[i], bias) << where;
              } else if (w[i] > top) {
                EXPECT_EQ(ds[i], top) << where;
              } else {
                EXPECT_LE(e, scale * 0.5 * (1 + 1e-5)) << where << " element " << i;
              }
            }
          }
        }
      }
    }
  }
}

// Over whole tensors the search must clearly beat plain min/max round-to-nearest on every
// distribution, bit width and group: squared error at most 0.95 x min/max's (measured: 0.18-0.94,
// lowest at 2 bits with outliers, highest at 8 bits, group 128).
TEST(MlxAffine, SearchBeatsMinMaxOnGaussianHeavyTailedAndOutliers) {
  const std::int64_t rows = 64, cols = 512;
  for (testkit::Dist dist : testkit::kAllDists) {
    const auto w = testkit::make_weights(dist, static_cast<std::size_t>(rows * cols), 7 + static_cast<int>(dist));
    for (int bits : kAllBits) {
      for (int group : kAllGroups) {
        auto sse = [&](const MlxQuantized& q) {
          const auto d = mlx_dequantize(q);
          double e = 0;
          for (std::size_t i = 0; i < w.size(); ++i) e += (static_cast<double>(d[i]) - w[i]) * (static_cast<double>(d[i]) - w[i]);
          return e;
        };
        const double s = sse(mlx_quantize(w.data(), rows, cols, bits, group, DType::F16));
        const double m = sse(mlx_quantize_minmax(w.data(), rows, cols, bits, group, DType::F16));
        std::printf("[ quality ] %-10s bits %d group %3d  sse ratio search/minmax %.4f\n", testkit::dist_name(dist), bits,
                    group, s / m);
        EXPECT_LE(s, 0.95 * m) << testkit::dist_name(dist) << " bits " << bits << " group " << group;
      }
    }
  }
}

TEST(MlxAffine, EncoderByName) {
  EXPECT_EQ(parse_mlx_encoder("search"), MlxEncoder::Search);
  EXPECT_EQ(parse_mlx_encoder("minmax"), MlxEncoder::MinMax);
  EXPECT_FALSE(parse_mlx_encoder("gptq").has_value());
  const auto w = random_matrix(2, 64, 3);
  EXPECT_EQ(mlx_quantize(w.data(), 2, 64, 3, 32, DType::F16, MlxEncoder::MinMax).scales,
            mlx_quantize_minmax(w.data(), 2, 64, 3, 32, DType::F16).scales);
  EXPECT_EQ(mlx_quantize(w.data(), 2, 64, 3, 32, DType::F16, MlxEncoder::Search).scales,
            mlx_quantize(w.data(), 2, 64, 3, 32, DType::F16).scales);
}

}  // namespace
}  // namespace ramq
