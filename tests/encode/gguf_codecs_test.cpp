// GGUF block codecs: round-trip error bounds, exact grids, hand-built byte layouts, and bit-exact
// agreement with real ggml (libggml-base.so of the node-llama-cpp package, loaded with dlopen).
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "ramq/dtype.h"
#include "ramq/ggml_types.h"
#include "ramq/rng.h"
#include "encode/codec_test_util.h"
#include "support/weight_distributions.h"

namespace ramq {
namespace {

double rms_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
  return std::sqrt(s / static_cast<double>(a.size()));
}

using testkit::Dist;
using testkit::dist_name;
std::vector<float> make_data(Dist dist, std::size_t n, std::uint64_t seed) { return testkit::make_weights(dist, n, seed); }

bool is_float_type(GgmlType t) { return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16; }

// ---------------------------------------------------------------- round-trip error bounds
//
// Reference model: the quantizer ggml's reference encoder uses, a uniform quantizer whose step is
// set by the extremes of each scale group: symmetric types step = amax / L (Q4_0: d = max/-8 so
// L = 8; Q5_0 16; Q8_0 127; Q3_K 4 and Q6_K 32 per 16 values; IQ4_NL: 15 gaps over 240 units of
// d = amax/127, mean gap amax/7.9, so L = 8; MXFP4: the scale is a power of two, so amax lies
// between 3 and 6 E2M1 units and 5 to 7 gaps of the grid {0, 0.5, 1, 1.5, 2, 3, 4, 6} lie
// between 0 and amax, L = 6), affine types step = (max - min) / qmax with min <= 0
// for K-quants (Q4_1 and Q4_K 15, Q5_1 and Q5_K 31, Q2_K 3 per 16 values). Rounding to nearest
// with step D has mean squared error D^2/12, so the model error is sqrt(mean over groups of D^2/12).
// Our encoders search scales with the max-based scale among the candidates, so their expected error
// is at most the model's; kSlack = 1.05 covers what the model ignores: fp16 scales, quantized
// sub-block scales (K-quants: 4-bit for Q2_K, 6-bit for Q3_K..Q5_K, 8-bit for Q6_K), IQ4_NL's
// and MXFP4's non-uniform grids, and D^2/12 being an average over only 16-32 values. A layout or packing bug
// gives errors of the order of the data itself, far above the bound.
constexpr double kSlack = 1.05;

struct StepModel {
  GgmlType type;
  int group;
  bool affine;
  double levels;
};
constexpr StepModel kStepModels[] = {
    {GgmlType::Q4_0, 32, false, 8},  {GgmlType::Q5_0, 32, false, 16}, {GgmlType::Q8_0, 32, false, 127},
    {GgmlType::Q4_1, 32, true, 15},  {GgmlType::Q5_1, 32, true, 31},  {GgmlType::IQ4_NL, 32, false, 8},
    {GgmlType::Q2_K, 16, true, 3},   {GgmlType::Q3_K, 16, false, 4},  {GgmlType::Q4_K, 32, true, 15},
    {GgmlType::Q5_K, 32, true, 31},  {GgmlType::Q6_K, 16, false, 32}, {GgmlType::MXFP4, 32, false, 6},
};

double model_rms(GgmlType t, const std::vector<float>& x) {
  const StepModel& m = *std::find_if(std::begin(kStepModels), std::end(kStepModels), [&](auto& e) { return e.type == t; });
  const bool kquant = ggml_type_info(t).block_size == 256;
  double sum = 0.0;
  for (std::size_t g = 0; g < x.size(); g += static_cast<std::size_t>(m.group)) {
    float lo = x[g], hi = x[g], amax = 0.0f;
    for (int i = 0; i < m.group; ++i) {
      lo = std::min(lo, x[g + i]);
      hi = std::max(hi, x[g + i]);
      amax = std::max(amax, std::fabs(x[g + i]));
    }
    if (kquant) lo = std::min(lo, 0.0f);
    const double step = m.affine ? (hi - lo) / m.levels : amax / m.levels;
    sum += step * step / 12.0 * m.group;
  }
  return std::sqrt(sum / static_cast<double>(x.size()));
}

TEST(GgufCodecs, RoundTripErrorWithinStepModel) {
  for (const GgmlTypeInfo& info : ggml_types()) {
    if (is_float_type(info.type)) continue;
    for (Dist dist : {Dist::Gaussian, Dist::HeavyTailed, Dist::Outliers}) {
      const std::int64_t cols = 1024, rows = 16;
      const auto x = make_data(dist, static_cast<std::size_t>(rows * cols), 7 + static_cast<int>(dist));
      const auto y = decode(info.type, encode(info.type, x, cols), rows * cols);
      const double err = rms_diff(x, y), model = model_rms(info.type, x);
      std::printf("[ roundtrip ] %-6s %-10s rms_err / model = %.4f (bound %.2f)\n", std::string(info.name).c_str(),
                  dist_name(dist), err / model, kSlack);
      EXPECT_LE(err, kSlack * model) << info.name << " " << dist_name(dist);
      for (float v : y) ASSERT_TRUE(std::isfinite(v)) << info.name;
    }
  }
}

// ---------------------------------------------------------------- exact grids, zeros, specials

// Values exactly on a type's grid: power-of-two scales, each group reaching its extreme codes (so
// the plain max-based scale is exact), random codes elsewhere. A good encoder reproduces them.
std::vector<float> grid_data(GgmlType t, std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  auto pick = [&](int lo, int hi) { return lo + static_cast<int>(rng.uniform() * (hi - lo + 1)); };
  std::vector<float> x(n);
  const float d = 1.0f / 1024, dmin = 1.0f / 512;
  auto sym = [&](int group, int qmin, int qmax, int lmin, int lmax) {  // lmin == lmax == 1: one scale
    for (std::size_t g = 0; g < n; g += static_cast<std::size_t>(group)) {
      const bool first = g % 256 == 0;
      const int l = first ? lmin : (pick(0, 1) ? pick(1, lmax) : -pick(1, -lmin));
      for (int i = 0; i < group; ++i) x[g + i] = (d * static_cast<float>(l)) * static_cast<float>(pick(qmin, qmax));
      x[g + static_cast<std::size_t>(pick(0, group - 1))] = (d * static_cast<float>(l)) * static_cast<float>(qmin);
    }
  };
  auto aff = [&](int group, int qmax, int lmax, float offset) {  // offset < 0: legacy (fixed) min
    for (std::size_t g = 0; g < n; g += static_cast<std::size_t>(group)) {
      const bool first = g % 256 == 0;
      const int ls = first ? lmax : pick(1, lmax), lm = first ? lmax : pick(0, lmax);
      const float dl = d * static_cast<float>(ls), ml = offset < 0.0f ? -offset : dmin * static_cast<float>(lm);
      int q[32];
      for (int i = 0; i < group; ++i) q[i] = pick(0, qmax);
      q[0] = 0;
      q[group - 1] = qmax;
      for (int i = 0; i < group; ++i) x[g + i] = dl * static_cast<float>(q[i]) - ml;
    }
  };
  switch (t) {
    case GgmlType::Q4_0: sym(32, -8, 7, 1, 1); break;
    case GgmlType::Q5_0: sym(32, -16, 15, 1, 1); break;
    case GgmlType::Q8_0: sym(32, -127, 127, 1, 1); break;
    case GgmlType::Q4_1: aff(32, 15, 1, -0.75f); break;
    case GgmlType::Q5_1: aff(32, 31, 1, -0.75f); break;
    case GgmlType::Q2_K: aff(16, 3, 15, 0.0f); break;
    case GgmlType::Q4_K: aff(32, 15, 63, 0.0f); break;
    case GgmlType::Q5_K: aff(32, 31, 63, 0.0f); break;
    case GgmlType::Q3_K: sym(16, -4, 3, -32, 31); break;
    case GgmlType::Q6_K: sym(16, -32, 31, -128, 127); break;
    case GgmlType::IQ4_NL: {
      static const int kv[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
      for (std::size_t i = 0; i < n; ++i) x[i] = d * static_cast<float>(kv[i % 32 == 5 ? 0 : pick(0, 15)]);
      break;
    }
    case GgmlType::MXFP4: {  // E2M1 values times a power of two per block, one of them +-6
      static const float e2m1[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
      for (std::size_t g = 0; g < n; g += 32) {
        const float scale = std::ldexp(1.0f, pick(-20, 4));
        for (std::size_t i = g; i < g + 32; ++i) x[i] = (pick(0, 1) ? -scale : scale) * e2m1[pick(0, 7)];
        x[g + static_cast<std::size_t>(pick(0, 31))] = (pick(0, 1) ? -scale : scale) * 6.0f;
      }
      break;
    }
    default: throw std::logic_error("no grid");
  }
  return x;
}

TEST(GgufCodecs, GridValuesAreExact) {
  for (const GgmlTypeInfo& info : ggml_types()) {
    if (is_float_type(info.type)) continue;
    const auto x = grid_data(info.type, 4096, 99);
    const auto y = decode(info.type, encode(info.type, x, 1024), 4096);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < x.size(); ++i) bad += x[i] != y[i];
    EXPECT_EQ(bad, 0u) << info.name << ": first value " << x[0] << " -> " << y[0];
  }
}

TEST(GgufCodecs, ZeroTinyAndLargeBlocks) {
  for (const GgmlTypeInfo& info : ggml_types()) {
    const auto zeros = decode(info.type, encode(info.type, std::vector<float>(512, 0.0f), 512), 512);
    for (float v : zeros) ASSERT_EQ(v, 0.0f) << info.name;
    for (const float mag : {1e-38f, 1e-30f, 1e-9f, 3e-5f, 6e4f}) {
      if (info.type == GgmlType::F16 && mag > 1e4f) continue;  // F16 overflows to inf by definition
      std::vector<float> x(512);
      Rng rng(5);
      for (auto& v : x) v = mag * static_cast<float>(rng.normal());
      x[3] = mag;
      const auto y = decode(info.type, encode(info.type, x, 512), 512);
      for (std::size_t i = 0; i < x.size(); ++i) {
        ASSERT_TRUE(std::isfinite(y[i])) << info.name << " magnitude " << mag;
        ASSERT_LE(std::fabs(y[i]), 8.0f * mag) << info.name << " magnitude " << mag;
      }
    }
  }
}

TEST(GgufCodecs, FloatTypesRoundLikeDtypeConversions) {
  std::vector<float> x = make_data(Dist::HeavyTailed, 4096, 3);
  const float specials[] = {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 65520.0f, 1e6f, 6e-8f, 1e-40f, INFINITY, -INFINITY};
  for (std::size_t i = 0; i < std::size(specials); ++i) x[i] = specials[i];
  const Bytes f32_bytes = encode(GgmlType::F32, x, 4096);  // IEEE little-endian, as on this host
  EXPECT_EQ(std::memcmp(f32_bytes.data(), x.data(), x.size() * 4), 0);
  const auto f32 = decode(GgmlType::F32, f32_bytes, 4096);
  EXPECT_EQ(std::memcmp(f32.data(), x.data(), x.size() * 4), 0);
  const auto f16 = decode(GgmlType::F16, encode(GgmlType::F16, x, 4096), 4096);
  const auto bf16 = decode(GgmlType::BF16, encode(GgmlType::BF16, x, 4096), 4096);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float e16 = f16_to_f32(f32_to_f16(x[i])), eb16 = bf16_to_f32(f32_to_bf16(x[i]));
    ASSERT_EQ(std::memcmp(&f16[i], &e16, 4), 0) << i << " " << x[i];
    ASSERT_EQ(std::memcmp(&bf16[i], &eb16, 4), 0) << i << " " << x[i];
  }
  const Bytes one16 = encode(GgmlType::F16, {1.0f}, 1), oneb16 = encode(GgmlType::BF16, {1.0f}, 1);
  EXPECT_EQ(one16, (Bytes{std::byte{0x00}, std::byte{0x3C}}));   // fp16 1.0 = 0x3C00, little-endian
  EXPECT_EQ(oneb16, (Bytes{std::byte{0x80}, std::byte{0x3F}}));  // bf16 1.0 = 0x3F80
}

TEST(GgufCodecs, TypeTableAndArgumentChecks) {
  EXPECT_EQ(ggml_types().size(), 15u);
  EXPECT_EQ(parse_ggml_type("Q4_K"), GgmlType::Q4_K);
  EXPECT_EQ(parse_ggml_type("mxfp4"), GgmlType::MXFP4);
  EXPECT_EQ(parse_ggml_type("q4_k"), GgmlType::Q4_K);
  EXPECT_EQ(parse_ggml_type("iq4_nl"), GgmlType::IQ4_NL);
  EXPECT_EQ(parse_ggml_type("Q4_K_M"), std::nullopt);
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q4_K, 4096), 16u * 144u);
  EXPECT_EQ(ggml_row_bytes(GgmlType::BF16, 3), 6u);
  EXPECT_DOUBLE_EQ(ggml_bits_per_weight(GgmlType::Q4_K), 4.5);
  EXPECT_DOUBLE_EQ(ggml_bits_per_weight(GgmlType::Q6_K), 6.5625);
  EXPECT_DOUBLE_EQ(ggml_bits_per_weight(GgmlType::Q2_K), 2.625);
  EXPECT_DOUBLE_EQ(ggml_bits_per_weight(GgmlType::Q8_0), 8.5);
  EXPECT_DOUBLE_EQ(ggml_bits_per_weight(GgmlType::MXFP4), 4.25);
  EXPECT_THROW(ggml_row_bytes(GgmlType::Q4_K, 300), std::invalid_argument);
  EXPECT_THROW(ggml_type_info(static_cast<GgmlType>(4)), std::invalid_argument);
  std::vector<float> x(100);
  Bytes out(1000);
  EXPECT_THROW(gguf_encode_rows(GgmlType::Q4_0, x.data(), 1, 100, out.data()), std::invalid_argument);
  EXPECT_THROW(gguf_decode_rows(GgmlType::Q8_0, out.data(), 1, 100, x.data()), std::invalid_argument);
  EXPECT_THROW(gguf_encode_rows(GgmlType::Q4_0, nullptr, 1, 32, out.data()), std::invalid_argument);
  EXPECT_NO_THROW(gguf_encode_rows(GgmlType::Q4_K, nullptr, 0, 256, nullptr));
}

// ---------------------------------------------------------------- hand-built byte layouts
// Blocks written byte by byte from the layouts in ggml-common.h, expected values computed by hand.

struct Fill {  // want[begin, end) = value
  int begin, end;
  float value;
};

// Decodes one block made of `fill` bytes overwritten by {offset, byte} pairs; expects zeros except
// the listed ranges (later entries override earlier ones).
void expect_layout(GgmlType t, std::uint8_t fill, std::initializer_list<std::pair<int, int>> bytes,
                   std::initializer_list<Fill> want_ranges) {
  const GgmlTypeInfo& info = ggml_type_info(t);
  Bytes raw(info.block_bytes, std::byte{fill});
  for (const auto& [off, v] : bytes) raw.at(static_cast<std::size_t>(off)) = static_cast<std::byte>(v);
  std::vector<float> want(static_cast<std::size_t>(info.block_size), 0.0f);
  for (const Fill& f : want_ranges) std::fill(want.begin() + f.begin, want.begin() + f.end, f.value);
  EXPECT_EQ(decode(t, raw, info.block_size), want) << info.name;
}

TEST(GgufLayout, Q4_0) {
  // d = 0.5 (fp16 0x3800, little-endian); nibble 8 decodes to 0. qs[0] = 0x21: element 0 =
  // (1 - 8) * 0.5, element 16 = (2 - 8) * 0.5; qs[15] = 0xF0: element 15 = -8 * 0.5, element 31 = 7 * 0.5.
  expect_layout(GgmlType::Q4_0, 0x88, {{0, 0x00}, {1, 0x38}, {2, 0x21}, {2 + 15, 0xF0}},
                {{0, 1, -3.5f}, {16, 17, -3.0f}, {15, 16, -4.0f}, {31, 32, 3.5f}});
}

TEST(GgufLayout, Q8_0) {
  // d = 0.25 (0x3400); qs[0] = 127, qs[1] = -128, qs[31] = -1
  expect_layout(GgmlType::Q8_0, 0, {{1, 0x34}, {2, 0x7F}, {3, 0x80}, {33, 0xFF}},
                {{0, 1, 31.75f}, {1, 2, -32.0f}, {31, 32, -0.25f}});
}

TEST(GgufLayout, Q4_K) {
  // d = 1.0 (bytes 0-1), dmin = 0.5 (bytes 2-3), scales at 4..15, qs at 16.
  // Sub-block 0: scale sc[0] = 1, min sc[4] = 2 -> x = q - 1.0.
  // Sub-block 5: scale 37 = 0b10'0101, min 19 = 0b01'0011: low nibbles in sc[9] = 0x35, top two
  // bits in sc[1] bits 6-7 (= 0x80; sub-block 1 reads only sc[1] & 63 = 0) and sc[5] (= 0x40)
  // -> x = 37 q - 9.5. qs[0] = 0x53: element 0 = 3, element 32 = 5 (sub-block 1, scale 0 -> 0);
  // qs[64 + 7] = 0xA0: chunk 2 high nibble, element 64*2 + 32 + 7 = 167 = 10.
  expect_layout(GgmlType::Q4_K, 0,
                {{1, 0x3C}, {3, 0x38}, {4 + 0, 1}, {4 + 4, 2}, {4 + 9, 0x35}, {4 + 1, 0x80}, {4 + 5, 0x40},
                 {16 + 0, 0x53}, {16 + 64 + 7, 0xA0}},
                {{0, 32, -1.0f}, {0, 1, 2.0f}, {160, 192, -9.5f}, {167, 168, 360.5f}});
}

TEST(GgufLayout, Q3_K) {
  // d = 1.0 (bytes 108-109); scales at 96: bytes 8..11 = 0xAA give every sub-block top bits 2, so
  // code 32 = scale 0; sub-block 0: low nibble 1 -> code 33 = scale 1; sub-block 9: low nibble 0xD
  // (high nibble of byte 1), top bits 01 at bits 4-5 of byte 8 + 9 % 4 (0xAA -> 0x9A) -> code 29 = -3.
  // qs all 0 and hmask clear: q = 0 - 4. Element 0: low bits 3 (qs[0]) + hmask[0] bit 0 -> q = 3.
  // Element 150 = 128 + 22: low bits 2 (qs[32 + 22]) + hmask[22] bit 150 / 32 = 4 -> q = 2.
  expect_layout(GgmlType::Q3_K, 0,
                {{109, 0x3C}, {96 + 8, 0xAA}, {96 + 9, 0x9A}, {96 + 10, 0xAA}, {96 + 11, 0xAA}, {96 + 0, 0x01},
                 {96 + 1, 0xD0}, {32 + 0, 0x03}, {0, 0x01}, {32 + 32 + 22, 0x02}, {22, 0x10}},
                {{0, 16, -4.0f}, {0, 1, 3.0f}, {144, 160, 12.0f}, {150, 151, -6.0f}});
}

TEST(GgufLayout, Q6_K) {
  // d = 0.5 (bytes 208-209), scales[0] = 2, scales[13] = -3 (bytes 192..207); all codes 0 -> q = -32.
  // Element 5: ql[5] low nibble 13, qh[5] bits 0-1 = 2 -> code 45, q = 13.
  // Element 213 = 128 + 64 + 21: ql[64 + 21] high nibble 15, qh[32 + 21] bits 4-5 = 3 -> q = 31.
  expect_layout(GgmlType::Q6_K, 0,
                {{209, 0x38}, {192, 2}, {192 + 13, 0xFD}, {5, 0x0D}, {128 + 5, 0x02}, {64 + 21, 0xF0},
                 {128 + 32 + 21, 0x30}},
                {{0, 16, -32.0f}, {5, 6, 13.0f}, {208, 224, 48.0f}, {213, 214, -46.5f}});
}

TEST(GgufLayout, MXFP4) {
  // e = 128: scale 2^(128 - 127) = 2. qs[0] = 0xF1: element 0 = E2M1 0.5 * 2, element 16 = -6 * 2;
  // qs[15] = 0x9B: element 15 = -1.5 * 2, element 31 = -0.5 * 2. Nibble 0 decodes to 0.
  expect_layout(GgmlType::MXFP4, 0, {{0, 128}, {1, 0xF1}, {1 + 15, 0x9B}},
                {{0, 1, 1.0f}, {16, 17, -12.0f}, {15, 16, -3.0f}, {31, 32, -1.0f}});
}

// ---------------------------------------------------------------- real ggml (dlopen)

// struct ggml_type_traits, ggml/include/ggml.h, as built into @node-llama-cpp/linux-x64 3.22.1
// (ggml_version() 0.25.1, ggml_commit() 0ad4a86). Only the leading fields are declared; the table
// is only read through the returned pointer.
struct GgmlTypeTraits {
  const char* type_name;
  std::int64_t blck_size;
  std::int64_t blck_size_interleave;
  std::size_t type_size;
  bool is_quantized;
  void (*to_float)(const void* x, float* y, std::int64_t k);
  void (*from_float_ref)(const float* x, void* y, std::int64_t k);
};
using GetTraitsFn = const GgmlTypeTraits* (*)(int);

struct GgmlLib {
  GetTraitsFn get_traits = nullptr;
  std::string error;
};

const GgmlLib& ggml_lib() {
  static const GgmlLib lib = [] {
    GgmlLib l;
    const char* env = std::getenv("RAMQ_GGML_LIB");
    const std::string path = env && *env ? std::string(env)
                                         : std::string(RAMQ_SOURCE_DIR) +
                                               "/tests/peer/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/"
                                               "libggml-base.so";
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);  // kept open for the process lifetime
    if (h == nullptr) {
      const char* why = dlerror();
      l.error = "cannot load ggml from " + path + ": " + (why ? why : "?") +
                " (install it: cd tests/peer && npm install --no-audit --no-fund @node-llama-cpp/linux-x64@3.22.1,"
                " or set RAMQ_GGML_LIB; RAMQ_ALLOW_MISSING_LLAMA=1 skips these tests)";
      return l;
    }
    void* sym = dlsym(h, "ggml_get_type_traits");
    if (sym == nullptr) {
      l.error = path + " has no ggml_get_type_traits";
      return l;
    }
    std::memcpy(&l.get_traits, &sym, sizeof sym);
    return l;
  }();
  return lib;
}

bool allow_missing_ggml() {
  const char* v = std::getenv("RAMQ_ALLOW_MISSING_LLAMA");
  return v != nullptr && std::string(v) == "1";
}

// Missing library: the test fails, unless RAMQ_ALLOW_MISSING_LLAMA=1 (then it is skipped).
#define REQUIRE_GGML()                                                                   \
  if (ggml_lib().get_traits == nullptr) {                                                \
    if (allow_missing_ggml()) GTEST_SKIP() << ggml_lib().error;                          \
    FAIL() << ggml_lib().error;                                                          \
  }

const GgmlTypeTraits& traits(GgmlType t) { return *ggml_lib().get_traits(static_cast<int>(t)); }

std::vector<float> ggml_decode(GgmlType t, const Bytes& b, std::int64_t n) {
  std::vector<float> y(static_cast<std::size_t>(n));
  traits(t).to_float(b.data(), y.data(), n);
  return y;
}

Bytes ggml_encode(GgmlType t, const std::vector<float>& x) {
  const auto n = static_cast<std::int64_t>(x.size());
  Bytes out(ggml_row_bytes(t, n));
  traits(t).from_float_ref(x.data(), out.data(), n);
  return out;
}

// Index of the first differing float (bit pattern), or -1.
std::int64_t first_bit_difference(const std::vector<float>& a, const std::vector<float>& b) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], 4) != 0) return static_cast<std::int64_t>(i);
  }
  return -1;
}

// Rows of Gaussian, Student-t and outlier data, a row of zeros, then a row of one zero super-block
// followed by tiny (1e-6) and large (300) values.
constexpr std::int64_t kPeerZeroRow = 3;
std::vector<float> peer_data(std::int64_t cols) {
  std::vector<float> x;
  for (Dist d : {Dist::Gaussian, Dist::HeavyTailed, Dist::Outliers}) {
    const auto r = make_data(d, static_cast<std::size_t>(cols), 11 + static_cast<int>(d));
    x.insert(x.end(), r.begin(), r.end());
  }
  x.insert(x.end(), static_cast<std::size_t>(cols), 0.0f);  // row kPeerZeroRow
  const auto r = make_data(Dist::Gaussian, static_cast<std::size_t>(cols), 17);
  for (std::int64_t i = 0; i < cols; ++i) x.push_back(i < 256 ? 0.0f : r[i] * (i < cols / 2 ? 5e-5f : 1.5e4f));
  return x;
}

TEST(GgmlPeer, TraitsMatchOurTypeTable) {
  REQUIRE_GGML();
  for (const GgmlTypeInfo& info : ggml_types()) {
    const GgmlTypeTraits& tr = traits(info.type);
    std::string upper(tr.type_name);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(upper, info.name);
    EXPECT_EQ(tr.blck_size, info.block_size) << info.name;
    EXPECT_EQ(tr.type_size, info.block_bytes) << info.name;
    EXPECT_EQ(tr.is_quantized, !is_float_type(info.type)) << info.name;
    if (info.type != GgmlType::F32) {  // ggml has no F32 row converters in this table
      EXPECT_NE(tr.to_float, nullptr) << info.name;
      EXPECT_NE(tr.from_float_ref, nullptr) << info.name;
    }
  }
}

TEST(GgmlPeer, DecodersAreBitIdenticalToGgml) {
  REQUIRE_GGML();
  const std::int64_t cols = 2048;
  const auto x = peer_data(cols);
  const auto n = static_cast<std::int64_t>(x.size());
  for (const GgmlTypeInfo& info : ggml_types()) {
    if (info.type == GgmlType::F32) continue;
    // our encoder's bytes, decoded by ggml and by us
    const Bytes ours = encode(info.type, x, cols);
    const auto a = ggml_decode(info.type, ours, n), b = decode(info.type, ours, n);
    const std::int64_t i = first_bit_difference(a, b);
    EXPECT_EQ(i, -1) << info.name << " (our encoding): ggml " << (i < 0 ? 0.0f : a[i]) << " ours " << (i < 0 ? 0.0f : b[i]);
    // the all-zero row decodes to zeros (no NaN from a zero scale, no offset from a min)
    const auto zero_row = a.begin() + kPeerZeroRow * cols;
    EXPECT_EQ(std::find_if(zero_row, zero_row + cols, [](float v) { return v != 0.0f; }) - zero_row, cols)
        << info.name << ": first non-zero element of the zero row";
    // ggml's reference encoder's bytes (the distribution rows and the zero row), decoded by ggml and by us
    const std::int64_t n_ref = (kPeerZeroRow + 1) * cols;
    const std::vector<float> normal(x.begin(), x.begin() + n_ref);
    const Bytes ref = ggml_encode(info.type, normal);
    const auto c = ggml_decode(info.type, ref, n_ref), d = decode(info.type, ref, n_ref);
    const std::int64_t j = first_bit_difference(c, d);
    EXPECT_EQ(j, -1) << info.name << " (ggml encoding): ggml " << (j < 0 ? 0.0f : c[j]) << " ours " << (j < 0 ? 0.0f : d[j]);
    if (is_float_type(info.type)) {
      EXPECT_EQ(ref, encode(info.type, normal, cols)) << info.name << " rounding";
    }
  }
}

// MXFP4: every scale byte (255 included) with every nibble pair, decoded by ggml and by us.
TEST(GgmlPeer, Mxfp4EveryByteDecodesLikeGgml) {
  REQUIRE_GGML();
  Bytes raw;
  for (int e = 0; e < 256; ++e) {
    for (int blk = 0; blk < 16; ++blk) {
      raw.push_back(static_cast<std::byte>(e));
      for (int j = 0; j < 16; ++j) raw.push_back(static_cast<std::byte>(blk * 16 + j));
    }
  }
  const auto n = static_cast<std::int64_t>(raw.size() / 17 * 32);
  const auto a = ggml_decode(GgmlType::MXFP4, raw, n), b = decode(GgmlType::MXFP4, raw, n);
  const std::int64_t i = first_bit_difference(a, b);
  EXPECT_EQ(i, -1) << "element " << i << ": ggml " << (i < 0 ? 0.0f : a[i]) << " ours " << (i < 0 ? 0.0f : b[i]);
}

// ggml's reference encoders (from_float_ref) are plain round-to-nearest from each block's extremes.
// Ours search scales (and mins): every quantized type must have a lower reconstruction error on
// Gaussian, heavy-tailed and outlier-laden data (issue: better encoders, still data-free).
// Float types convert exactly like ggml (ratio 1).
TEST(GgmlPeer, EncodersBeatGgmlReference) {
  REQUIRE_GGML();
  const std::int64_t cols = 4096, rows = 32;
  for (const GgmlTypeInfo& info : ggml_types()) {
    if (info.type == GgmlType::F32) continue;
    for (Dist dist : testkit::kAllDists) {
      const auto x = make_data(dist, static_cast<std::size_t>(rows * cols), 23 + static_cast<int>(dist));
      const double ours = rms_diff(x, ggml_decode(info.type, encode(info.type, x, cols), rows * cols));
      const double ref = rms_diff(x, ggml_decode(info.type, ggml_encode(info.type, x), rows * cols));
      std::printf("[ quality ] %-6s %-10s rms ours %.4e  ggml ref %.4e  ratio %.4f\n", std::string(info.name).c_str(),
                  dist_name(dist), ours, ref, ref > 0 ? ours / ref : 1.0);
      if (is_float_type(info.type)) {
        EXPECT_EQ(ours, ref) << info.name;
      } else {
        EXPECT_LT(ours, 0.995 * ref) << info.name << " " << dist_name(dist);
      }
    }
  }
}

}  // namespace
}  // namespace ramq
