// Test support: FP8 (e4m3fn + block scales) and MXFP4 (E2M1 + E8M0) encoders and decoders,
// written from the format definitions alone (bit fields and std::ldexp), independent of ramq's
// decoders, to build block-scaled checkpoints and the float values they encode.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace ramq::testkit {

// e4m3fn: S EEEE MMM, bias 7; E = 0 subnormal (M/8 * 2^-6); S.1111.111 NaN; no infinities.
inline float e4m3_reference(std::uint8_t code) {
  const int s = code >> 7, e = (code >> 3) & 15, m = code & 7;
  if (e == 15 && m == 7) return std::numeric_limits<float>::quiet_NaN();
  const double mag = e == 0 ? std::ldexp(m / 8.0, -6) : std::ldexp(1.0 + m / 8.0, e - 7);
  return static_cast<float>(s ? -mag : mag);
}

// E2M1: S EE M, bias 1; E = 0 subnormal (M * 0.5).
inline float e2m1_reference(std::uint8_t nibble) {
  const int s = (nibble >> 3) & 1, e = (nibble >> 1) & 3, m = nibble & 1;
  const double mag = e == 0 ? m * 0.5 : std::ldexp(1.0 + m / 2.0, e - 1);
  return static_cast<float>(s ? -mag : mag);
}

// The finite code nearest to x (ties: the lower code), by brute force over the candidates.
inline std::uint8_t nearest_code(float x, int codes, float (*value)(std::uint8_t)) {
  std::uint8_t best = 0;
  float best_err = std::numeric_limits<float>::infinity();
  for (int c = 0; c < codes; ++c) {
    const float v = value(static_cast<std::uint8_t>(c));
    if (std::isnan(v)) continue;
    const float err = std::fabs(v - x);
    if (err < best_err) best = static_cast<std::uint8_t>(c), best_err = err;
  }
  return best;
}

// A [rows, cols] matrix as F8_E4M3 codes with F32 scale_inv blocks of br x bc (amax -> 448).
struct Fp8Matrix {
  std::string codes;            // rows * cols bytes
  std::vector<float> scale_inv;  // [ceil(rows/br), ceil(cols/bc)]
  std::vector<float> decoded;   // code value * scale_inv, as F32
};
inline Fp8Matrix fp8_encode(const std::vector<float>& w, std::int64_t rows, std::int64_t cols, std::int64_t br = 128,
                            std::int64_t bc = 128) {
  const std::int64_t sr = (rows + br - 1) / br, sc = (cols + bc - 1) / bc;
  Fp8Matrix m;
  m.scale_inv.assign(static_cast<std::size_t>(sr * sc), 0.0f);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) {
      float& s = m.scale_inv[static_cast<std::size_t>(r / br * sc + c / bc)];
      s = std::max(s, std::fabs(w[static_cast<std::size_t>(r * cols + c)]));
    }
  for (auto& s : m.scale_inv) s = s > 0 ? s / 448.0f : 1.0f;
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) {
      const float s = m.scale_inv[static_cast<std::size_t>(r / br * sc + c / bc)];
      const std::uint8_t code = nearest_code(w[static_cast<std::size_t>(r * cols + c)] / s, 256, e4m3_reference);
      m.codes.push_back(static_cast<char>(code));
      m.decoded.push_back(e4m3_reference(code) * s);
    }
  return m;
}

// A [rows, cols] matrix (cols % 32 == 0) as MXFP4: blocks [rows, cols/32, 16], scales [rows, cols/32].
struct Mxfp4Matrix {
  std::string blocks, scales;
  std::vector<float> decoded;
};
inline Mxfp4Matrix mxfp4_encode(const std::vector<float>& w, std::int64_t rows, std::int64_t cols) {
  Mxfp4Matrix m;
  m.blocks.assign(static_cast<std::size_t>(rows * cols / 2), '\0');
  for (std::int64_t g = 0; g < rows * cols / 32; ++g) {
    float amax = 0;
    for (int k = 0; k < 32; ++k) amax = std::max(amax, std::fabs(w[static_cast<std::size_t>(g * 32 + k)]));
    const int e = amax > 0 ? static_cast<int>(std::ceil(std::log2(amax / 6.0f))) : 0;  // amax / 2^e <= 6
    m.scales.push_back(static_cast<char>(e + 127));
    for (int k = 0; k < 32; ++k) {
      const std::size_t i = static_cast<std::size_t>(g * 32 + k);
      const std::uint8_t code = nearest_code(std::ldexp(w[i], -e), 16, e2m1_reference);
      m.blocks[i / 2] = static_cast<char>(static_cast<unsigned char>(m.blocks[i / 2]) | (k % 2 ? code << 4 : code));
      m.decoded.push_back(std::ldexp(e2m1_reference(code), e));
    }
  }
  return m;
}

}  // namespace ramq::testkit
