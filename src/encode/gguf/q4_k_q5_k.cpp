// Q4_K and Q5_K: super-blocks of 256 = 8 sub-blocks of 32 (ggml-common.h block_q4_K / block_q5_K):
//   Q4_K (144 bytes): fp16 d, fp16 dmin, u8 scales[12], u8 qs[128]
//   Q5_K (176 bytes): fp16 d, fp16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]
// scales[12] packs eight 6-bit scales ls_j and mins lm_j (ggml get_scale_min_k4):
//   j < 4:  ls = b[j] & 63,                          lm = b[j + 4] & 63
//   j >= 4: ls = (b[j + 4] & 0xF) | (b[j - 4] >> 6) << 4,  lm = (b[j + 4] >> 4) | (b[j] >> 6) << 4
// qs: 64-element chunk c: element 64c + l is the low nibble of qs[32c + l], element 64c + 32 + l the
// high nibble. Q5_K high bit: element 64c + l is bit 2c of qh[l], element 64c + 32 + l bit 2c + 1.
// x = (d * ls_j) * q - (dmin * lm_j)   (ggml: d1 * q - m1)
//
// Encoder: the affine K-quant search (simd::kernels().aff_k, src/encode/simd/gguf_kernels.cpp) with
// 32-element sub-blocks, q in [0, 15] / [0, 31], 6-bit scales/mins chosen by exact error in the
// neighbourhood of the rounded values.
#include "encode/gguf/codec_common.h"

namespace ramq::gguf {
namespace {

// The 12-byte 6-bit scale/min packing shared by Q4_K and Q5_K.
void pack_scales_k4(const AffKBlock& b, std::uint8_t* s) {
  for (int i = 0; i < 12; ++i) s[i] = 0;
  for (int j = 0; j < 8; ++j) {
    const int ls = b.ls[j], lm = b.lm[j];
    if (j < 4) {
      s[j] = static_cast<std::uint8_t>(s[j] | ls);
      s[j + 4] = static_cast<std::uint8_t>(s[j + 4] | lm);
    } else {
      s[j + 4] = static_cast<std::uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
      s[j - 4] = static_cast<std::uint8_t>(s[j - 4] | ((ls >> 4) << 6));
      s[j] = static_cast<std::uint8_t>(s[j] | ((lm >> 4) << 6));
    }
  }
}

void scale_min_k4(int j, const std::uint8_t* s, std::uint8_t& sc, std::uint8_t& m) {
  if (j < 4) {
    sc = static_cast<std::uint8_t>(s[j] & 63);
    m = static_cast<std::uint8_t>(s[j + 4] & 63);
  } else {
    sc = static_cast<std::uint8_t>((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    m = static_cast<std::uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// bits = 4 (Q4_K) or 5 (Q5_K)
void pack_k(const AffKBlock& b, std::uint8_t* out, int bits) {
  put_u16(out, b.d);
  put_u16(out + 2, b.dmin);
  pack_scales_k4(b, out + 4);
  std::uint8_t* qh = out + 16;
  std::uint8_t* qs = out + (bits == 4 ? 16 : 48);
  if (bits == 5) {
    for (int l = 0; l < 32; ++l) qh[l] = 0;
  }
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      const int lo = b.q[64 * c + l], hi = b.q[64 * c + 32 + l];
      qs[32 * c + l] = static_cast<std::uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
      if (bits == 5) qh[l] = static_cast<std::uint8_t>(qh[l] | ((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
    }
  }
}

void encode_k(const float* x, std::int64_t n, std::uint8_t* out, int bits) {
  const std::int64_t bytes = bits == 4 ? 144 : 176, nblocks = n / kQK;
  const AffKSpec spec{32, (1 << bits) - 1, 63};
  AffKBlock b[kChunkBlocks];
  for (std::int64_t c0 = 0; c0 < nblocks; c0 += kChunkBlocks) {
    const std::int64_t m = std::min(kChunkBlocks, nblocks - c0);
    simd::kernels().aff_k(x + c0 * kQK, m, spec, b);
    for (std::int64_t k = 0; k < m; ++k) pack_k(b[k], out + (c0 + k) * bytes, bits);
  }
}

void decode_k(const std::uint8_t* in, std::int64_t n, float* y, int bits) {
  const std::int64_t bytes = bits == 4 ? 144 : 176;
  for (std::int64_t blk = 0; blk < n / kQK; ++blk, in += bytes) {
    const float d = from_fp16(get_u16(in)), dmin = from_fp16(get_u16(in + 2));
    const std::uint8_t* qh = in + 16;
    const std::uint8_t* q = in + (bits == 4 ? 16 : 48);
    int u1 = 1, u2 = 2;
    for (int is = 0; is < 8; is += 2, q += 32, u1 <<= 2, u2 <<= 2) {
      std::uint8_t sc = 0, m = 0;
      scale_min_k4(is, in + 4, sc, m);
      const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
      scale_min_k4(is + 1, in + 4, sc, m);
      const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
      if (bits == 4) {
        for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
        for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
      } else {
        for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>((q[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - m1;
        for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>((q[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
      }
    }
  }
}

}  // namespace

void encode_q4_k(const float* x, std::int64_t n, std::uint8_t* out) { encode_k(x, n, out, 4); }
void decode_q4_k(const std::uint8_t* in, std::int64_t n, float* y) { decode_k(in, n, y, 4); }
void encode_q5_k(const float* x, std::int64_t n, std::uint8_t* out) { encode_k(x, n, out, 5); }
void decode_q5_k(const std::uint8_t* in, std::int64_t n, float* y) { decode_k(in, n, y, 5); }

}  // namespace ramq::gguf
