// IQ4_NL: blocks of 32, { fp16 d; u8 qs[16] } (18 bytes), x = d * kvalues_iq4nl[nibble], with the
// Q4_0 nibble order (element j < 16 low nibble of qs[j], element j + 16 high nibble).
// kvalues_iq4nl is ggml's non-linear 4-bit codebook (ggml-common.h).
//
// Encoder (simd::kernels().iq4_nl, src/encode/simd/gguf_kernels.cpp): for both signs of d, the
// largest-magnitude element is mapped near the codebook end (-127 or +113, offsets -7..+7 like
// ggml's search), every element takes the nearest codebook value, and d is refit by least squares
// and scored by <x,v>^2/<v,v>; the best gets up to three Lloyd steps. Finally ggml's reference
// d = max/-127, the fit and its fp16 neighbours compete by exact error after fp16 rounding.
#include "encode/gguf/codec_common.h"

namespace ramq::gguf {
namespace {

constexpr int kBlock = 32;
constexpr int kBytes = 18;
constexpr std::array<int, 16> kValues = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

}  // namespace

void encode_iq4_nl(const float* x, std::int64_t n, std::uint8_t* out) {
  const std::int64_t nblocks = n / kBlock;
  Iq4Block b[kChunkBlocks];
  for (std::int64_t c0 = 0; c0 < nblocks; c0 += kChunkBlocks) {
    const std::int64_t m = std::min(kChunkBlocks, nblocks - c0);
    simd::kernels().iq4_nl(x + c0 * kBlock, m, b);
    for (std::int64_t k = 0; k < m; ++k) {
      std::uint8_t* o = out + (c0 + k) * kBytes;
      put_u16(o, b[k].d);
      for (int j = 0; j < 16; ++j) o[2 + j] = static_cast<std::uint8_t>(b[k].q[j] | (b[k].q[j + 16] << 4));
    }
  }
}

// ggml dequantize_row_iq4_nl: y[j] = d * kvalues_iq4nl[qs[j] & 0xf], y[j+16] = d * kvalues[qs[j] >> 4]
void decode_iq4_nl(const std::uint8_t* in, std::int64_t n, float* y) {
  for (std::int64_t b = 0; b < n / kBlock; ++b, in += kBytes, y += kBlock) {
    const float d = from_fp16(get_u16(in));
    for (int j = 0; j < 16; ++j) {
      y[j] = d * static_cast<float>(kValues[in[2 + j] & 0xF]);
      y[j + 16] = d * static_cast<float>(kValues[in[2 + j] >> 4]);
    }
  }
}

}  // namespace ramq::gguf
