// MXFP4 (OCP microscaling FP4): blocks of 32, { u8 e; u8 qs[16] } (17 bytes), with the Q4_0
// nibble order (element j < 16 low nibble of qs[j], element j + 16 high nibble).
//   e: E8M0 shared scale, 2^(e - 127).
//   nibble: E2M1, sign bit 3, magnitude {0, 0.5, 1, 1.5, 2, 3, 4, 6} by bits 0-2.
// ggml stores the E2M1 values doubled (kvalues_mxfp4 = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, ..., -12},
// ggml-common.h) and halves the scale instead (ggml_e8m0_to_fp32_half(e) = 2^(e - 128),
// ggml-impl.h), so x = kvalues_mxfp4[nibble] * 2^(e - 128) (ggml-quants.c dequantize_row_mxfp4).
// Code 8 (-0) decodes to +0.
//
// Encoder: ggml's reference (quantize_row_mxfp4_ref) takes e = floor(log2(amax)) - 2 + 127, which
// maps amax to [4, 8) E2M1 units, so amax above 6 units is clipped to 6. Here that exponent and
// its two neighbours compete; for each, every element takes the nearest representable value
// (ties to the smaller magnitude), and the exponent with the least block squared error wins (ties:
// ggml's, then the larger, then the smaller). Exponents are kept in [0, 254] (255 is NaN in the
// OCP format), and a code whose float value would overflow (kvalue * 2^(e - 128) >= 2^128, only
// for e >= 253) is never chosen: the encoder writes no block that decodes to inf or NaN. Plain
// scalar code; the search is a few comparisons per element and exponent.
//
// Largest value (the type table's row): the largest E2M1 magnitude is 6 and the largest E8M0
// scale 2^(254 - 127) (e = 255 is NaN), so the format itself reaches 6 * 2^127 = 1.5 * 2^130,
// beyond FLT_MAX (just under 2^128). ggml decodes into float, though, as kvalue * 2^(e - 128):
// at e = 254 only kvalues 1..3 (E2M1 0.5..1.5) stay below 2^128 (4 * 2^126 = 2^128 is inf), at
// e = 253 kvalues up to 6 (E2M1 3), so the largest finite value a block decodes to is
// 3 * 2^126 = 1.5 * 2^127 (about 2.55e38). Every magnitude up to it is held within the grid's
// half step (at e = 252 the grid, all finite, steps by 2^126 from 2^127 to 1.5 * 2^127);
// magnitudes above it, up to FLT_MAX, could only be clipped to it (error up to 25%), so the row's
// largest value is 1.5 * 2^127, not FLT_MAX.
#include <bit>

#include "encode/gguf/codec_common.h"

namespace ramq::gguf {
namespace {

constexpr int kBlock = 32;
constexpr int kBytes = 17;
// ggml's kvalues_mxfp4: twice the E2M1 value of each nibble.
constexpr std::array<int, 16> kValues = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
// The magnitudes (nibbles 0-7) and the midpoints between neighbours, in the same doubled units.
constexpr std::array<int, 8> kMagnitudes = {0, 1, 2, 3, 4, 6, 8, 12};
constexpr std::array<double, 7> kMidpoints = {0.5, 1.5, 2.5, 3.5, 5.0, 7.0, 10.0};
constexpr int kMaxExponent = 254;

// 2^(e - 128) as a float, the value ggml_e8m0_to_fp32_half builds from bits: for e >= 2 a normal
// float with biased exponent e - 1; for e = 0 and 1 the subnormals 2^-128 and 2^-127 (mantissa
// bit 21 and 22).
float e8m0_half(std::uint8_t e) {
  const std::uint32_t bits = e >= 2 ? static_cast<std::uint32_t>(e - 1) << 23 : std::uint32_t{1} << (21 + e);
  return std::bit_cast<float>(bits);
}

struct Fit {
  double err = 0.0;
  std::array<std::uint8_t, kBlock> code{};
};

// Nearest-value codes of one block for exponent e, and their squared error. a = |x| / 2^(e - 128)
// is exact in double (|x| <= FLT_MAX < 2^128, e - 128 >= -128); the decoded values are computed
// as the decoder computes them.
void fit_block(const float* x, int e, Fit& fit) {
  const float d = e8m0_half(static_cast<std::uint8_t>(e));
  int top = 7;  // largest magnitude index whose value stays finite
  while (top > 0 && !std::isfinite(static_cast<float>(kMagnitudes[top]) * d)) --top;
  fit.err = 0.0;
  for (int i = 0; i < kBlock; ++i) {
    const double a = std::ldexp(static_cast<double>(std::fabs(x[i])), 128 - e);
    int m = 0;
    for (const double t : kMidpoints) m += a > t ? 1 : 0;
    m = std::min(m, top);
    const float v = static_cast<float>(kMagnitudes[m]) * d;
    const double diff = static_cast<double>(std::fabs(x[i])) - static_cast<double>(v);
    fit.err += diff * diff;
    fit.code[i] = static_cast<std::uint8_t>(m == 0 || !(x[i] < 0.0f) ? m : m | 8);
  }
}

}  // namespace

void encode_mxfp4(const float* x, std::int64_t n, std::uint8_t* out) {
  const float fmax = std::numeric_limits<float>::max();
  for (std::int64_t b = 0; b < n / kBlock; ++b, x += kBlock, out += kBytes) {
    // Values beyond the type's range are refused by the writers; here NaN counts as 0 and +-inf
    // as +-FLT_MAX so that the search stays finite whatever it is given.
    std::array<float, kBlock> xs;
    float amax = 0.0f;
    for (int i = 0; i < kBlock; ++i) {
      xs[i] = std::isnan(x[i]) ? 0.0f : std::clamp(x[i], -fmax, fmax);
      amax = std::max(amax, std::fabs(xs[i]));
    }
    int best_e = 0;
    Fit best, trial;
    if (amax > 0.0f) {
      int p = 0;
      std::frexp(amax, &p);  // amax = f * 2^p, f in [0.5, 1): floor(log2(amax)) = p - 1
      const int e_ggml = std::clamp(p - 1 - 2 + 127, 0, kMaxExponent);
      bool have = false;
      for (const int e : {e_ggml, e_ggml + 1, e_ggml - 1}) {
        if (e < 0 || e > kMaxExponent) continue;
        fit_block(xs.data(), e, trial);
        if (!have || trial.err < best.err) best = trial, best_e = e;
        have = true;
      }
    }
    out[0] = static_cast<std::uint8_t>(best_e);
    for (int j = 0; j < 16; ++j) out[1 + j] = static_cast<std::uint8_t>(best.code[j] | (best.code[j + 16] << 4));
  }
}

// ggml dequantize_row_mxfp4: d = GGML_E8M0_TO_FP32_HALF(e); y[j] = kvalues_mxfp4[qs[j] & 0xf] * d,
// y[j+16] = kvalues_mxfp4[qs[j] >> 4] * d (the int8 table value converted to float, one product).
void decode_mxfp4(const std::uint8_t* in, std::int64_t n, float* y) {
  for (std::int64_t b = 0; b < n / kBlock; ++b, in += kBytes, y += kBlock) {
    const float d = e8m0_half(in[0]);
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>(kValues[in[1 + j] & 0xF]) * d;
      y[j + 16] = static_cast<float>(kValues[in[1 + j] >> 4]) * d;
    }
  }
}

}  // namespace ramq::gguf
