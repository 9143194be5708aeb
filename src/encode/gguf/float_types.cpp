// F32, F16 and BF16 rows (block size 1). ggml stores them little-endian; F16 and BF16 are rounded
// to nearest even (ramq's f32_to_f16 / f32_to_bf16) and widened exactly.
#include <bit>
#include <cstring>

#include "encode/gguf/codec_common.h"

namespace ramq::gguf {

void encode_f32(const float* x, std::int64_t n, std::uint8_t* out) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(out, x, static_cast<std::size_t>(n) * 4);
    return;
  }
  for (std::int64_t i = 0; i < n; ++i) {
    std::uint32_t u = 0;
    std::memcpy(&u, &x[i], 4);
    for (int b = 0; b < 4; ++b) out[4 * i + b] = static_cast<std::uint8_t>(u >> (8 * b));
  }
}

void decode_f32(const std::uint8_t* in, std::int64_t n, float* y) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(y, in, static_cast<std::size_t>(n) * 4);
    return;
  }
  for (std::int64_t i = 0; i < n; ++i) {
    std::uint32_t u = 0;
    for (int b = 0; b < 4; ++b) u |= static_cast<std::uint32_t>(in[4 * i + b]) << (8 * b);
    std::memcpy(&y[i], &u, 4);
  }
}

void encode_f16(const float* x, std::int64_t n, std::uint8_t* out) {
  for (std::int64_t i = 0; i < n; ++i) put_u16(out + 2 * i, f32_to_f16(x[i]));
}

void decode_f16(const std::uint8_t* in, std::int64_t n, float* y) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = f16_to_f32(get_u16(in + 2 * i));
}

void encode_bf16(const float* x, std::int64_t n, std::uint8_t* out) {
  for (std::int64_t i = 0; i < n; ++i) put_u16(out + 2 * i, f32_to_bf16(x[i]));
}

void decode_bf16(const std::uint8_t* in, std::int64_t n, float* y) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(get_u16(in + 2 * i));
}

}  // namespace ramq::gguf
