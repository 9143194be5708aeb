// Shared by the GGUF codec tests: encode/decode one run of rows, and MXFP4's values computed from
// the format's definition.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ramq/ggml_types.h"

namespace ramq {

using Bytes = std::vector<std::byte>;

inline Bytes encode(GgmlType t, const std::vector<float>& x, std::int64_t cols) {
  const std::int64_t rows = static_cast<std::int64_t>(x.size()) / cols;
  Bytes out(static_cast<std::size_t>(rows) * ggml_row_bytes(t, cols));
  gguf_encode_rows(t, x.data(), rows, cols, out.data());
  return out;
}

inline std::vector<float> decode(GgmlType t, const Bytes& b, std::int64_t n) {
  std::vector<float> y(static_cast<std::size_t>(n));
  gguf_decode_rows(t, b.data(), 1, n, y.data());
  return y;
}

// ---------------------------------------------------------------- MXFP4
// Expectations from the format's definition (OCP Microscaling Formats (MX) v1.0), not from ggml's
// tables: 32 E2M1 elements share one E8M0 scale 2^(e - 127). E2M1: sign bit 3, exponent bits 1-2
// (bias 1), mantissa bit 0; exponent 0 is subnormal (0.5 * m), else (1 + m / 2) * 2^(exp - 1):
// magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6. ggml's block: byte 0 = e, element j < 16 the low nibble
// of byte 1 + j, element j + 16 its high nibble. ggml decodes into float, so a value of 2^128 or
// more (only at e >= 253) is inf; e = 255 (NaN in the OCP format) is not an encoding ramq writes.

inline double e2m1_magnitude(int code) {
  const int exp = (code >> 1) & 3, man = code & 1;
  return exp == 0 ? 0.5 * man : (1.0 + 0.5 * man) * std::ldexp(1.0, exp - 1);
}

// The float a (code, e) pair decodes to: +-magnitude * 2^(e - 127), inf where that is >= 2^128.
inline float mxfp4_value(int code, int e) {
  const double v = e2m1_magnitude(code) * std::ldexp(1.0, e - 127);
  const float f = v >= 0x1p128 ? INFINITY : static_cast<float>(v);
  return (code & 8) ? -f : f;
}

// One block from its scale byte and 32 codes.
inline Bytes mxfp4_block(int e, const int (&code)[32]) {
  Bytes b(17);
  b[0] = static_cast<std::byte>(e);
  for (int j = 0; j < 16; ++j) b[1 + static_cast<std::size_t>(j)] = static_cast<std::byte>(code[j] | (code[j + 16] << 4));
  return b;
}

// Half the gap of the grid {0, 0.5, 1, 1.5, 2, 3, 4, 6} * 2^(e - 127) around |x| (|x| <= 6 * 2^(e - 127)).
inline double mxfp4_half_step(float x, int e) {
  const double a = std::fabs(static_cast<double>(x)), s = std::ldexp(1.0, e - 127);
  for (int m = 1; m < 8; ++m)
    if (a <= e2m1_magnitude(m) * s) return (e2m1_magnitude(m) - e2m1_magnitude(m - 1)) * s / 2;
  return INFINITY;
}

// The smallest scale byte whose grid reaches amax: amax <= 6 * 2^(e - 127), at least 0.
inline int mxfp4_fitting_exponent(float amax) {
  int e = 0;
  while (6.0 * std::ldexp(1.0, e - 127) < amax) ++e;
  return e;
}

}  // namespace ramq
