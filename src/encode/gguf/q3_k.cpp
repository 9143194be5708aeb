// Q3_K: super-blocks of 256 = 16 sub-blocks of 16 (110 bytes, ggml-common.h block_q3_K):
//   u8 hmask[32]   high bit of element e is bit e/32 of hmask[e % 32]; set means "no -4"
//   u8 qs[64]      low 2 bits: element 128*h + 32*s + l is bits 2s..2s+1 of qs[32*h + l]
//   u8 scales[12]  16 six-bit scales stored as l_j + 32: low 4 bits of scale j are the low
//                  (j < 8) or high (j >= 8) nibble of byte j % 8; its top 2 bits are bits
//                  2*(j/4)..2*(j/4)+1 of byte 8 + j % 4
//   fp16 d         at byte 108
// x = (d * l_j) * q with q = (low2 | high << 2) - 4 in [-4, 3], l_j in [-32, 31]
// (ggml dequantize_row_q3_K: dl = d_all * (scales[is] - 32); y = dl * (q - (hm ? 0 : 4))).
//
// Encoder: the symmetric K-quant search (simd::kernels().sym_k, src/encode/simd/gguf_kernels.cpp): per-sub-block scale search over both signs, d mapping
// the largest scale to -32 (ggml's convention) or 31, l_j chosen by exact error, d refit.
#include "encode/gguf/codec_common.h"

namespace ramq::gguf {
namespace {

constexpr int kBytes = 110;

// Six-bit value (0..63) of sub-block scale j from the 12 packed bytes.
int scale_code(const std::uint8_t* sc, int j) {
  const int low = j < 8 ? (sc[j] & 0xF) : (sc[j - 8] >> 4);
  return low | (((sc[8 + j % 4] >> (2 * (j / 4))) & 3) << 4);
}

void pack_block(const SymKBlock& b, std::uint8_t* out) {
  std::uint8_t* hmask = out;
  std::uint8_t* qs = out + 32;
  std::uint8_t* sc = out + 96;
  for (int i = 0; i < 32 + 64 + 12; ++i) out[i] = 0;
  for (int j = 0; j < 16; ++j) {
    const int code = b.l[j] + 32;
    sc[j % 8] = static_cast<std::uint8_t>(sc[j % 8] | ((code & 0xF) << (j < 8 ? 0 : 4)));
    sc[8 + j % 4] = static_cast<std::uint8_t>(sc[8 + j % 4] | ((code >> 4) << (2 * (j / 4))));
  }
  for (int e = 0; e < kQK; ++e) {
    const int u = b.q[e] + 4;  // 0..7
    if (u > 3) hmask[e % 32] = static_cast<std::uint8_t>(hmask[e % 32] | (1 << (e / 32)));
    const int h = e / 128, s = (e % 128) / 32, l = e % 32;
    qs[32 * h + l] = static_cast<std::uint8_t>(qs[32 * h + l] | ((u & 3) << (2 * s)));
  }
  put_u16(out + 108, b.d);
}

}  // namespace

void encode_q3_k(const float* x, std::int64_t n, std::uint8_t* out) {
  const std::int64_t nblocks = n / kQK;
  SymKBlock b[kChunkBlocks];
  for (std::int64_t c0 = 0; c0 < nblocks; c0 += kChunkBlocks) {
    const std::int64_t m = std::min(kChunkBlocks, nblocks - c0);
    simd::kernels().sym_k(x + c0 * kQK, m, SymKSpec{16, -4, 3, -32, 31}, b);
    for (std::int64_t k = 0; k < m; ++k) pack_block(b[k], out + (c0 + k) * kBytes);
  }
}

void decode_q3_k(const std::uint8_t* in, std::int64_t n, float* y) {
  for (std::int64_t b = 0; b < n / kQK; ++b, in += kBytes) {
    const float d_all = from_fp16(get_u16(in + 108));
    const std::uint8_t* hm = in;
    const std::uint8_t* q = in + 32;
    int is = 0;
    int m = 1;
    for (int h = 0; h < 2; ++h, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
        for (int half = 0; half < 2; ++half) {
          const float dl = d_all * static_cast<float>(scale_code(in + 96, is++) - 32);
          for (int l = 16 * half; l < 16 * half + 16; ++l) {
            const int v = ((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4);
            *y++ = dl * static_cast<float>(v);
          }
        }
      }
    }
  }
}

}  // namespace ramq::gguf
