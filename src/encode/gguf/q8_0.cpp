// Q8_0: blocks of 32, { fp16 d; int8 qs[32] } (34 bytes), x = qs[j] * d.
//
// Encoder: symmetric fit with q in [-127, 127] (ggml's range: -128 is avoided because some SIMD dot
// products take |q| with a sign trick). best_sym_fp16 picks, by exact block error after fp16
// rounding, among ggml's d = amax/127 and the sym_fit least-squares scale with its fp16 neighbours.
#include "encode/gguf/codec_common.h"

namespace ramq::gguf {
namespace {

constexpr int kBlock = 32;
constexpr int kBytes = 34;

void encode_block(const float* x, std::uint8_t* out) {
  float amax = 0.0f;
  for (int i = 0; i < kBlock; ++i) amax = std::max(amax, std::fabs(x[i]));
  const std::uint16_t d16 = best_sym_fp16(x, kBlock, -127, 127, amax / 127.0f);
  put_u16(out, d16);
  const float d = from_fp16(d16);
  for (int i = 0; i < kBlock; ++i) {
    const int q = d != 0.0f ? round_clamp(x[i] / d, -127, 127) : 0;
    out[2 + i] = static_cast<std::uint8_t>(q & 0xff);
  }
}

}  // namespace

void encode_q8_0(const float* x, std::int64_t n, std::uint8_t* out) {
  for (std::int64_t b = 0; b < n / kBlock; ++b) encode_block(x + b * kBlock, out + b * kBytes);
}

// ggml dequantize_row_q8_0: y[j] = qs[j]*d
void decode_q8_0(const std::uint8_t* in, std::int64_t n, float* y) {
  for (std::int64_t b = 0; b < n / kBlock; ++b) {
    const std::uint8_t* p = in + b * kBytes;
    const float d = from_fp16(get_u16(p));
    float* yb = y + b * kBlock;
    for (int j = 0; j < kBlock; ++j) yb[j] = static_cast<float>(static_cast<std::int8_t>(p[2 + j])) * d;
  }
}

}  // namespace ramq::gguf
