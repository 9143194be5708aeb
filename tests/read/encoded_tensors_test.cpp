// Block-scaled inputs read as floats: every E4M3 / E2M1 code, block scales (edge blocks, E8M0 at
// both ends), the logical tensor ModelReader presents, and the errors for broken pairs.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "ramq/dtype.h"
#include "ramq/error.h"
#include "ramq/safetensors.h"
#include "support/block_scaled.h"
#include "support/error_text.h"
#include "support/safetensors_builder.h"

using namespace ramq;
using namespace ramq::testkit;

namespace {

std::string bytes_of(const std::vector<std::uint8_t>& v) { return {v.begin(), v.end()}; }

// A config.json (no tensor layout checks) with quantization_config.weight_block_size, if given.
std::string config_with_blocks(const nlohmann::json& block_size) {
  auto c = nlohmann::json::parse(opaque_config_json());
  if (!block_size.is_null()) c["quantization_config"] = {{"quant_method", "fp8"}, {"weight_block_size", block_size}};
  return c.dump();
}

void expect_same_bits(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(std::bit_cast<std::uint32_t>(got[i]), std::bit_cast<std::uint32_t>(want[i])) << "element " << i;
}

void expect_error_has(const std::string& msg, std::initializer_list<const char*> parts) {
  for (const char* p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
}

}  // namespace

TEST(BlockScaledCodes, EveryE4M3Code) {
  int nan = 0;
  for (int c = 0; c < 256; ++c) {
    const float want = e4m3_reference(static_cast<std::uint8_t>(c)), got = e4m3_to_f32(static_cast<std::uint8_t>(c));
    if (std::isnan(want)) {
      ++nan;
      EXPECT_TRUE(std::isnan(got)) << c;
    } else {
      EXPECT_EQ(std::bit_cast<std::uint32_t>(got), std::bit_cast<std::uint32_t>(want)) << "code " << c;
    }
  }
  EXPECT_EQ(nan, 2);  // 0x7f and 0xff only
  EXPECT_EQ(e4m3_to_f32(0x7e), 448.0f);
  EXPECT_EQ(e4m3_to_f32(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_EQ(e4m3_to_f32(0x08), std::ldexp(1.0f, -6));  // smallest normal
  EXPECT_EQ(e4m3_to_f32(0xb8), -1.0f);
}

TEST(BlockScaledCodes, EveryE2M1CodeAndE8M0Range) {
  const float table[16] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6, -0.0f, -0.5f, -1, -1.5f, -2, -3, -4, -6};
  for (int c = 0; c < 16; ++c) {
    EXPECT_EQ(std::bit_cast<std::uint32_t>(e2m1_to_f32(static_cast<std::uint8_t>(c))), std::bit_cast<std::uint32_t>(table[c]));
    EXPECT_EQ(e2m1_reference(static_cast<std::uint8_t>(c)), table[c]);
  }
  for (int s = 0; s < 255; ++s) EXPECT_EQ(e8m0_to_f32(static_cast<std::uint8_t>(s)), std::ldexp(1.0f, s - 127)) << s;
  EXPECT_EQ(std::bit_cast<std::uint32_t>(e8m0_to_f32(0)), 0x00400000u);  // 2^-127, an F32 subnormal
  EXPECT_EQ(std::bit_cast<std::uint32_t>(e8m0_to_f32(254)), 0x7f000000u);  // 2^127
  EXPECT_TRUE(std::isnan(e8m0_to_f32(255)));
}

// Every code in a weight whose shape is not a multiple of the block (edge blocks), BF16 scales.
TEST(BlockScaledReader, Fp8EdgeBlocksAndEveryCode) {
  TempDir tmp;
  const std::int64_t rows = 130, cols = 260, br = 128, bc = 128;  // scale grid [2, 3]
  std::vector<std::uint8_t> codes(rows * cols);
  for (std::size_t i = 0; i < codes.size(); ++i) {
    auto c = static_cast<std::uint8_t>((i * 37 + i / 256) % 256);
    if ((c & 0x7f) == 0x7f) c = static_cast<std::uint8_t>(c - 1);  // no NaN code
    codes[i] = c;
  }
  for (int c = 0; c < 256; ++c)  // every code in the edge row block, across all three column blocks
    if ((c & 0x7f) != 0x7f) codes[static_cast<std::size_t>(129 * cols + c)] = static_cast<std::uint8_t>(c);
  const std::vector<float> scales = {0.5f, 2.0f, 0.0078125f, 3.0f, -1.5f, 1024.0f};  // exact in BF16
  SafetensorsBuilder b;
  b.add_raw("m.weight", "F8_E4M3", {rows, cols}, bytes_of(codes)).add("m.weight_scale_inv", DType::BF16, {2, 3}, scales);
  b.add("norm.weight", DType::F32, {4}, {1, 2, 3, 4});
  write_model(tmp.path(), b, config_with_blocks(nullptr));
  const ModelReader r(tmp.path());
  ASSERT_EQ(r.tensors().size(), 2u);  // the scale tensor is hidden
  EXPECT_EQ(r.find("m.weight_scale_inv"), nullptr);
  const TensorInfo& t = *r.find("m.weight");
  EXPECT_EQ(t.shape, (std::vector<std::int64_t>{rows, cols}));
  EXPECT_EQ(t.dtype, DType::BF16);
  EXPECT_EQ(t.source_dtype(), "F8_E4M3");
  std::vector<float> want(codes.size());
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) {
      const auto k = static_cast<std::size_t>(i * cols + j);
      want[k] = e4m3_reference(codes[k]) * scales[static_cast<std::size_t>(i / br * 3 + j / bc)];
    }
  expect_same_bits(r.load_f32(t, 3), want);
  const std::vector<std::int64_t> rows_wanted = {0, 127, 128, 129};
  const auto some = r.load_rows_f32(t, rows_wanted, cols);
  for (std::size_t k = 0; k < rows_wanted.size(); ++k)
    for (std::int64_t j = 0; j < cols; ++j)
      ASSERT_EQ(some[k * cols + j], want[static_cast<std::size_t>(rows_wanted[k] * cols + j)]);
  std::vector<float> range(300);
  r.load_range_f32(t, 12345, range);
  for (std::size_t k = 0; k < range.size(); ++k) ASSERT_EQ(range[k], want[12345 + k]);
  EXPECT_NO_THROW(r.check_finite(t, 2));
  // Kept in float: BF16 bytes of the decoded values.
  const auto kept = r.dtype_bytes(t);
  ASSERT_EQ(kept.size(), want.size() * 2);
  for (std::size_t k = 0; k < want.size(); k += 97) {
    std::uint16_t h;
    std::memcpy(&h, kept.data() + 2 * k, 2);
    EXPECT_EQ(h, f32_to_bf16(want[k]));
  }
}

// weight_block_size from config.json, a 3-D expert stack, F32 scales.
TEST(BlockScaledReader, Fp8ConfigBlockSizeAndExpertStack) {
  TempDir tmp;
  const std::int64_t e = 2, rows = 5, cols = 7;  // blocks of [2, 4]: grid [3, 2]
  std::vector<std::uint8_t> codes(e * rows * cols);
  for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<std::uint8_t>((i * 11 + 3) % 0x7f);
  std::vector<float> scales(e * 3 * 2);
  for (std::size_t i = 0; i < scales.size(); ++i) scales[i] = 0.1f * static_cast<float>(i + 1);
  SafetensorsBuilder b;
  b.add_raw("experts.down_proj", "F8_E4M3", {e, rows, cols}, bytes_of(codes))
      .add("experts.down_proj_scales_inv", DType::F32, {e, 3, 2}, scales);
  write_model(tmp.path(), b, config_with_blocks({2, 4}));
  const ModelReader r(tmp.path());
  ASSERT_EQ(r.tensors().size(), 1u);
  const auto got = r.load_f32(*r.find("experts.down_proj"));
  for (std::int64_t x = 0; x < e; ++x)
    for (std::int64_t i = 0; i < rows; ++i)
      for (std::int64_t j = 0; j < cols; ++j) {
        const auto k = static_cast<std::size_t>((x * rows + i) * cols + j);
        EXPECT_EQ(got[k], e4m3_reference(codes[k]) * scales[static_cast<std::size_t>((x * 3 + i / 2) * 2 + j / 4)]);
      }
}

// gpt-oss naming: P_blocks [experts, rows, cols/32, 16] + P_scales [experts, rows, cols/32] = P.
TEST(BlockScaledReader, Mxfp4GptOssNamingEveryCodeAndScaleRange) {
  TempDir tmp;
  const std::int64_t e = 2, rows = 3, groups = 2, cols = groups * 32;
  std::vector<std::uint8_t> blocks(e * rows * groups * 16), scales(e * rows * groups);
  for (std::size_t i = 0; i < blocks.size(); ++i) blocks[i] = static_cast<std::uint8_t>((i * 29 + 7) % 256);
  for (std::size_t i = 0; i < scales.size(); ++i) scales[i] = static_cast<std::uint8_t>(100 + 5 * i);
  scales[0] = 0;  // 2^-127: every product is an F32 subnormal or zero
  scales[1] = 254;  // 2^127: only codes up to 1.5 fit in F32
  for (int k = 0; k < 16; ++k) blocks[16 + static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(k % 2 ? 0x21 : 0x93);
  const std::string p = "model.layers.0.mlp.experts.gate_up_proj";
  SafetensorsBuilder b;
  b.add_raw(p + "_blocks", "U8", {e, rows, groups, 16}, bytes_of(blocks)).add_raw(p + "_scales", "U8", {e, rows, groups}, bytes_of(scales));
  b.add("model.layers.0.mlp.experts.gate_up_proj_bias", DType::F32, {2}, {0, 0});
  write_model(tmp.path(), b);
  const ModelReader r(tmp.path());
  ASSERT_EQ(r.tensors().size(), 2u);
  const TensorInfo& t = *r.find(p);
  EXPECT_EQ(r.find(p + "_blocks"), nullptr);
  EXPECT_EQ(r.find(p + "_scales"), nullptr);
  EXPECT_EQ(t.shape, (std::vector<std::int64_t>{e, rows, cols}));
  EXPECT_EQ(t.source_dtype(), "MXFP4");
  std::vector<float> want(static_cast<std::size_t>(e * rows * cols));
  for (std::size_t i = 0; i < want.size(); ++i) {
    const std::uint8_t byte = blocks[i / 2], nibble = static_cast<std::uint8_t>(i % 2 ? byte >> 4 : byte & 15);
    want[i] = static_cast<float>(std::ldexp(static_cast<double>(e2m1_reference(nibble)), scales[i / 32] - 127));
  }
  expect_same_bits(r.load_f32(t), want);
  EXPECT_EQ(want[32], 1.5f * std::ldexp(1.0f, 127));  // 0x93: low nibble 3 (1.5), high 9 (-0.5)
  EXPECT_EQ(want[33], -std::ldexp(1.0f, 126));
  EXPECT_EQ(want[31], e2m1_reference(blocks[15] >> 4) * std::ldexp(1.0f, -127));
}

namespace {

// The one-line error a model directory with these tensors gives.
std::string reader_error(const SafetensorsBuilder& b, const std::string& config = opaque_config_json()) {
  TempDir tmp;
  write_model(tmp.path(), b, config);
  return error_of([&] {
    const ModelReader r(tmp.path());
    for (const auto& t : r.tensors()) (void)r.load_f32(t);
  });
}

SafetensorsBuilder fp8_pair(std::uint8_t code, std::vector<std::int64_t> scale_shape = {1, 1}) {
  std::string codes(6, static_cast<char>(0x38));  // 1.0
  codes[4] = static_cast<char>(code);
  std::int64_t n = 1;
  for (auto d : scale_shape) n *= d;
  SafetensorsBuilder b;
  b.add_raw("a.weight", "F8_E4M3", {2, 3}, codes)
      .add("a.weight_scale_inv", DType::F32, scale_shape, std::vector<float>(static_cast<std::size_t>(n), 2.0f));
  return b;
}

}  // namespace

TEST(BlockScaledReader, Errors) {
  expect_error_has(reader_error(fp8_pair(0x7f)), {"model.safetensors", "tensor 'a.weight'", "F8_E4M3 NaN code at element 4"});
  expect_error_has(reader_error(fp8_pair(0xff)), {"tensor 'a.weight'", "NaN code"});
  expect_error_has(reader_error(fp8_pair(0x38, {2, 1})),
                   {"tensor 'a.weight_scale_inv'", "has shape [2, 1]", "needs [1, 1]"});
  expect_error_has(reader_error(fp8_pair(0x38, {1, 1}), config_with_blocks({1, 128})),
                   {"tensor 'a.weight_scale_inv'", "needs [2, 1]"});
  expect_error_has(reader_error(fp8_pair(0x38), config_with_blocks({128})), {"config.json", "weight_block_size"});
  SafetensorsBuilder no_scale;
  no_scale.add_raw("a.weight", "F8_E4M3", {2, 3}, std::string(6, '\0'));
  expect_error_has(reader_error(no_scale), {"tensor 'a.weight'", "no 'a.weight_scale_inv'"});
  SafetensorsBuilder orphan;
  orphan.add("a.weight", DType::F32, {1}, {1}).add("b.weight_scale_inv", DType::F32, {1, 1}, {1});
  expect_error_has(reader_error(orphan), {"tensor 'b.weight_scale_inv'", "without its F8_E4M3 weight 'b.weight'"});
  SafetensorsBuilder int_scale;
  int_scale.add_raw("a.weight", "F8_E4M3", {2, 3}, std::string(6, '\0')).add_raw("a.weight_scale_inv", "I32", {1, 1}, std::string(4, '\0'));
  expect_error_has(reader_error(int_scale), {"tensor 'a.weight_scale_inv'", "dtype I32"});
  SafetensorsBuilder nan_scale;
  nan_scale.add_raw("a.weight", "F8_E4M3", {2, 3}, std::string(6, '\0'))
      .add("a.weight_scale_inv", DType::F32, {1, 1}, {std::numeric_limits<float>::quiet_NaN()});
  expect_error_has(reader_error(nan_scale), {"tensor 'a.weight_scale_inv'", "block scale 0 is NaN"});
}

TEST(BlockScaledReader, Mxfp4Errors) {
  SafetensorsBuilder no_scales;
  no_scales.add_raw("p_blocks", "U8", {1, 1, 16}, std::string(16, '\0'));
  expect_error_has(reader_error(no_scales), {"tensor 'p_blocks'", "no 'p_scales'"});
  SafetensorsBuilder orphan;
  orphan.add_raw("p_scales", "U8", {1, 1}, std::string(1, '\x7f'));
  expect_error_has(reader_error(orphan), {"tensor 'p_scales'", "without its blocks 'p_blocks'"});
  SafetensorsBuilder bad_shape;
  bad_shape.add_raw("p_blocks", "U8", {1, 1, 16}, std::string(16, '\0')).add_raw("p_scales", "U8", {1, 2}, std::string(2, '\x7f'));
  expect_error_has(reader_error(bad_shape), {"tensor 'p_scales'", "need U8 [1, 1]"});
  SafetensorsBuilder nan_scale;
  nan_scale.add_raw("p_blocks", "U8", {1, 1, 16}, std::string(16, '\0')).add_raw("p_scales", "U8", {1, 1}, std::string(1, '\xff'));
  expect_error_has(reader_error(nan_scale), {"tensor 'p_scales'", "E8M0 NaN code 255"});
  SafetensorsBuilder overflow;
  overflow.add_raw("p_blocks", "U8", {1, 1, 16}, std::string(16, '\x07')).add_raw("p_scales", "U8", {1, 1}, std::string(1, '\xfe'));
  expect_error_has(reader_error(overflow), {"tensor 'p'", "beyond F32", "element 0"});
  SafetensorsBuilder taken;
  taken.add_raw("p_blocks", "U8", {1, 1, 16}, std::string(16, '\0')).add_raw("p_scales", "U8", {1, 1}, std::string(1, '\x7f'));
  taken.add("p", DType::F32, {1}, {0});
  expect_error_has(reader_error(taken), {"tensor 'p'", "both a tensor and the MXFP4 tensor"});
}
