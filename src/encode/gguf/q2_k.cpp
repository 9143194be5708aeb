// Q2_K: super-blocks of 256 = 16 sub-blocks of 16 (84 bytes, ggml-common.h block_q2_K):
//   u8 scales[16]  sub-block j: low nibble = scale ls_j, high nibble = min lm_j
//   u8 qs[64]      2-bit quants: element 128*h + 32*s + l is bits 2s..2s+1 of qs[32*h + l]
//   fp16 d, dmin   at bytes 80, 82
// x = (d * ls_j) * q - (dmin * lm_j)   (ggml dequantize_row_q2_K: dl * q - ml)
//
// Encoder: the affine K-quant search (simd::kernels().aff_k, src/encode/simd/gguf_kernels.cpp) with
// 16-element sub-blocks, q in [0, 3], 4-bit scales/mins: per-sub-block affine search, then the
// 4-bit scale/min pair chosen by exact error.
#include "encode/gguf/codec_common.h"

namespace ramq::gguf {
namespace {

constexpr int kBytes = 84;

void pack_block(const AffKBlock& b, std::uint8_t* out) {
  for (int j = 0; j < 16; ++j) out[j] = static_cast<std::uint8_t>(b.ls[j] | (b.lm[j] << 4));
  std::uint8_t* qs = out + 16;
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      int v = 0;
      for (int s = 0; s < 4; ++s) v |= b.q[128 * h + 32 * s + l] << (2 * s);
      qs[32 * h + l] = static_cast<std::uint8_t>(v);
    }
  }
  put_u16(out + 80, b.d);
  put_u16(out + 82, b.dmin);
}

}  // namespace

void encode_q2_k(const float* x, std::int64_t n, std::uint8_t* out) {
  const std::int64_t nblocks = n / kQK;
  AffKBlock b[kChunkBlocks];
  for (std::int64_t c0 = 0; c0 < nblocks; c0 += kChunkBlocks) {
    const std::int64_t m = std::min(kChunkBlocks, nblocks - c0);
    simd::kernels().aff_k(x + c0 * kQK, m, AffKSpec{16, 3, 15}, b);
    for (std::int64_t k = 0; k < m; ++k) pack_block(b[k], out + (c0 + k) * kBytes);
  }
}

// ggml dequantize_row_q2_K: dl = d * (sc & 0xF); ml = min * (sc >> 4); y = dl * q - ml
void decode_q2_k(const std::uint8_t* in, std::int64_t n, float* y) {
  for (std::int64_t b = 0; b < n / kQK; ++b, in += kBytes) {
    const float d = from_fp16(get_u16(in + 80)), dmin = from_fp16(get_u16(in + 82));
    const std::uint8_t* q = in + 16;
    int is = 0;
    for (int h = 0; h < 2; ++h, q += 32) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int half = 0; half < 2; ++half) {
          const std::uint8_t sc = in[is++];
          const float dl = d * static_cast<float>(sc & 0xF), ml = dmin * static_cast<float>(sc >> 4);
          for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>((q[l + 16 * half] >> shift) & 3) - ml;
        }
      }
    }
  }
}

}  // namespace ramq::gguf
