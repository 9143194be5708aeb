// Q6_K: super-blocks of 256 = 16 sub-blocks of 16 (210 bytes, ggml-common.h block_q6_K):
//   u8 ql[128]       low 4 bits: in half h (128 elements), element 128h + l + 32k (l < 32, k < 4)
//                    is the low (k = 0, 1) or high (k = 2, 3) nibble of ql[64h + l + 32*(k % 2)]
//   u8 qh[64]        high 2 bits of that element: bits 2k..2k+1 of qh[32h + l]
//   i8 scales[16]    one signed 8-bit scale per 16 elements (element e uses scales[e / 16])
//   fp16 d           at byte 208
// x = (d * scales[j]) * q with q = (low | high << 4) - 32 in [-32, 31]
// (ggml dequantize_row_q6_K: y = d * sc[is] * q, evaluated left to right).
//
// Encoder: the symmetric K-quant search (simd::kernels().sym_k, src/encode/simd/gguf_kernels.cpp): per-sub-block scale search, d mapping the largest scale
// to -128 (ggml's convention) or 127, each int8 scale chosen by exact error, d refit.
#include "encode/gguf/codec_common.h"

namespace ramq::gguf {
namespace {

constexpr int kBytes = 210;

void pack_block(const SymKBlock& b, std::uint8_t* out) {
  std::uint8_t* ql = out;
  std::uint8_t* qh = out + 128;
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      int u[4];
      for (int k = 0; k < 4; ++k) u[k] = b.q[128 * h + l + 32 * k] + 32;  // 0..63
      ql[64 * h + l] = static_cast<std::uint8_t>((u[0] & 0xF) | ((u[2] & 0xF) << 4));
      ql[64 * h + l + 32] = static_cast<std::uint8_t>((u[1] & 0xF) | ((u[3] & 0xF) << 4));
      qh[32 * h + l] = static_cast<std::uint8_t>((u[0] >> 4) | ((u[1] >> 4) << 2) | ((u[2] >> 4) << 4) | ((u[3] >> 4) << 6));
    }
  }
  for (int j = 0; j < 16; ++j) out[192 + j] = static_cast<std::uint8_t>(b.l[j] & 0xff);
  put_u16(out + 208, b.d);
}

}  // namespace

void encode_q6_k(const float* x, std::int64_t n, std::uint8_t* out) {
  const std::int64_t nblocks = n / kQK;
  SymKBlock b[kChunkBlocks];
  for (std::int64_t c0 = 0; c0 < nblocks; c0 += kChunkBlocks) {
    const std::int64_t m = std::min(kChunkBlocks, nblocks - c0);
    simd::kernels().sym_k(x + c0 * kQK, m, SymKSpec{16, -32, 31, -128, 127}, b);
    for (std::int64_t k = 0; k < m; ++k) pack_block(b[k], out + (c0 + k) * kBytes);
  }
}

void decode_q6_k(const std::uint8_t* in, std::int64_t n, float* y) {
  for (std::int64_t b = 0; b < n / kQK; ++b, in += kBytes) {
    const float d = from_fp16(get_u16(in + 208));
    const std::uint8_t* ql = in;
    const std::uint8_t* qh = in + 128;
    const std::uint8_t* sc = in + 192;
    for (int h = 0; h < 2; ++h, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        auto scale = [&](int k) { return static_cast<float>(static_cast<std::int8_t>(sc[is + k])); };
        y[l + 0] = d * scale(0) * static_cast<float>(q1);
        y[l + 32] = d * scale(2) * static_cast<float>(q2);
        y[l + 64] = d * scale(4) * static_cast<float>(q3);
        y[l + 96] = d * scale(6) * static_cast<float>(q4);
      }
    }
  }
}

}  // namespace ramq::gguf
