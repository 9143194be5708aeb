// Q8_0: blocks of 32, { fp16 d; int8 qs[32] } (34 bytes), x = qs[j] * d.
//
// Encoder: symmetric fit with q in [-127, 127] (ggml's range: -128 is avoided because some SIMD dot
// products take |q| with a sign trick). The search (simd::kernels().sym32) picks, by exact block
// error after fp16 rounding, among ggml's d = amax/127 and the least-squares scale of the sym_fit
// search with its fp16 neighbours.
#include "encode/gguf/codec_common.h"

namespace ramq::gguf {
namespace {

constexpr int kBlock = 32;
constexpr int kBytes = 34;

}  // namespace

void encode_q8_0(const float* x, std::int64_t n, std::uint8_t* out) {
  const std::int64_t nblocks = n / kBlock;
  Sym32Block b[kChunkBlocks];
  for (std::int64_t c0 = 0; c0 < nblocks; c0 += kChunkBlocks) {
    const std::int64_t m = std::min(kChunkBlocks, nblocks - c0);
    simd::kernels().sym32(x + c0 * kBlock, m, Sym32Spec{-127, 127, 127.0f, false}, b);
    for (std::int64_t k = 0; k < m; ++k) {
      std::uint8_t* o = out + (c0 + k) * kBytes;
      put_u16(o, b[k].d);
      for (int i = 0; i < kBlock; ++i) o[2 + i] = static_cast<std::uint8_t>(b[k].q[i]);
    }
  }
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
