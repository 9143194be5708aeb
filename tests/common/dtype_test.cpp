#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "ramq/dtype.h"

using namespace ramq;

TEST(DType, NamesAndSizes) {
  EXPECT_EQ(dtype_name(DType::BF16), "BF16");
  EXPECT_EQ(parse_dtype("F16"), DType::F16);
  EXPECT_EQ(parse_dtype("F8_E4M3"), DType::F8_E4M3);  // read with its block scales
  EXPECT_FALSE(parse_dtype("F8_E5M2").has_value());
  EXPECT_FALSE(is_float_weight_dtype(DType::F8_E4M3));
  EXPECT_EQ(dtype_size(DType::F32), 4u);
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
  EXPECT_EQ(dtype_size(DType::U32), 4u);
}

// Reference encodings from the IEEE 754 binary16 definition.
TEST(DType, F16KnownValues) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xC000);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7BFF);           // largest finite half
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);           // rounds to +inf
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(f32_to_f16(0.1f), 0x2E66);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -26)), 0x0000);  // below half the smallest subnormal
  EXPECT_EQ(f16_to_f32(0x3555), 0.333251953125f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(f16_to_f32(0xFC00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7E00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(DType, F16TiesToEven) {
  // 1 + 2^-11 lies exactly between 1 (0x3C00, even) and 1 + 2^-10 (0x3C01): rounds to even.
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
  // 1 + 3*2^-11 lies between 0x3C01 (odd) and 0x3C02 (even): rounds to 0x3C02.
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
}

TEST(DType, F16EveryValueRoundTrips) {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const auto x = static_cast<std::uint16_t>(h);
    const float f = f16_to_f32(x);
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_f16(f), x) << "half 0x" << std::hex << h;
  }
}

TEST(DType, BF16KnownValuesAndRounding) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(bf16_to_f32(0x4049), 3.140625f);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3F808000u)), 0x3F80);  // tie -> even
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3F818000u)), 0x3F82);  // tie -> even (up)
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3F808001u)), 0x3F81);  // above tie
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(DType, ConvertBuffers) {
  const std::vector<float> in = {1.0f, -0.5f, 3.0f};
  std::vector<std::byte> raw(in.size() * 2);
  convert_from_f32(DType::F16, in, raw);
  // little-endian 0x3C00, 0xB800, 0x4200
  const unsigned char expect[] = {0x00, 0x3C, 0x00, 0xB8, 0x00, 0x42};
  EXPECT_EQ(std::memcmp(raw.data(), expect, sizeof expect), 0);
  std::vector<float> back(in.size());
  convert_to_f32(DType::F16, raw, back);
  EXPECT_EQ(back, in);
  EXPECT_THROW(convert_to_f32(DType::F16, raw, std::span<float>(back.data(), 2)), std::invalid_argument);
}
