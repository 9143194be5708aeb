// Legacy 4/5-bit types, blocks of 32 (layouts from ggml-common.h, meaning from ggml-quants.c):
//   Q4_0 { fp16 d; u8 qs[16] }                   18 bytes  x = (nib - 8) * d
//   Q4_1 { fp16 d; fp16 m; u8 qs[16] }           20 bytes  x = nib * d + m
//   Q5_0 { fp16 d; u8 qh[4]; u8 qs[16] }         22 bytes  x = ((nib | hb << 4) - 16) * d
//   Q5_1 { fp16 d; fp16 m; u8 qh[4]; u8 qs[16] } 24 bytes  x = (nib | hb << 4) * d + m
// Element j < 16 is the low nibble of qs[j], element j + 16 the high nibble; the 5th bit of
// element e is bit e of the little-endian uint32 qh.
//
// Encoders (searches: src/encode/simd/gguf_kernels.cpp): Q4_0/Q5_0 pick, by exact block error
// after fp16 rounding, among ggml's d = max/-8 (resp. -16; max = the signed value of largest
// magnitude) and the sym_fit least-squares scale with its two fp16 neighbours. Q4_1/Q5_1 likewise
// among ggml's (max - min)/qmax and min, and the affine_fit (scale, offset) with fp16 neighbours
// of either.
#include "encode/gguf/codec_common.h"

namespace ramq::gguf {
namespace {

constexpr int kBlock = 32;

// Unsigned codes (0 .. 2^bits - 1) of symmetric blocks: ggml's d = max/-2^(bits-1) (max = the
// signed value of largest magnitude) and the searched fit compete (simd::kernels().sym32).
template <class Emit>
void sym_blocks(const float* x, std::int64_t n, int bits, Emit emit) {
  const int half = 1 << (bits - 1);
  const std::int64_t nblocks = n / kBlock;
  Sym32Block b[kChunkBlocks];
  std::array<int, kBlock> code{};
  for (std::int64_t c0 = 0; c0 < nblocks; c0 += kChunkBlocks) {
    const std::int64_t m = std::min(kChunkBlocks, nblocks - c0);
    simd::kernels().sym32(x + c0 * kBlock, m, Sym32Spec{-half, half - 1, static_cast<float>(-half), true}, b);
    for (std::int64_t k = 0; k < m; ++k) {
      for (int i = 0; i < kBlock; ++i) code[i] = b[k].q[i] + half;
      emit(c0 + k, b[k].d, std::uint16_t{0}, code);
    }
  }
}

// Unsigned codes of affine blocks: ggml's (max - min)/qmax and min, and the searched (scale,
// offset) with fp16 neighbours of either (simd::kernels().aff32).
template <class Emit>
void affine_blocks(const float* x, std::int64_t n, int bits, Emit emit) {
  const std::int64_t nblocks = n / kBlock;
  Aff32Block b[kChunkBlocks];
  std::array<int, kBlock> code{};
  for (std::int64_t c0 = 0; c0 < nblocks; c0 += kChunkBlocks) {
    const std::int64_t m = std::min(kChunkBlocks, nblocks - c0);
    simd::kernels().aff32(x + c0 * kBlock, m, (1 << bits) - 1, b);
    for (std::int64_t k = 0; k < m; ++k) {
      for (int i = 0; i < kBlock; ++i) code[i] = b[k].q[i];
      emit(c0 + k, b[k].d, b[k].m, code);
    }
  }
}

void pack_nibbles(const std::array<int, kBlock>& code, std::uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<std::uint8_t>((code[j] & 0xF) | ((code[j + 16] & 0xF) << 4));
}

void pack_high_bits(const std::array<int, kBlock>& code, std::uint8_t* qh) {
  std::uint32_t h = 0;
  for (int e = 0; e < kBlock; ++e) h |= static_cast<std::uint32_t>((code[e] >> 4) & 1) << e;
  for (int b = 0; b < 4; ++b) qh[b] = static_cast<std::uint8_t>(h >> (8 * b));
}

std::uint32_t load_u32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

}  // namespace

void encode_q4_0(const float* x, std::int64_t n, std::uint8_t* out) {
  sym_blocks(x, n, 4, [&](std::int64_t k, std::uint16_t d, std::uint16_t, const std::array<int, kBlock>& code) {
    std::uint8_t* o = out + k * 18;
    put_u16(o, d);
    pack_nibbles(code, o + 2);
  });
}

void encode_q5_0(const float* x, std::int64_t n, std::uint8_t* out) {
  sym_blocks(x, n, 5, [&](std::int64_t k, std::uint16_t d, std::uint16_t, const std::array<int, kBlock>& code) {
    std::uint8_t* o = out + k * 22;
    put_u16(o, d);
    pack_high_bits(code, o + 2);
    pack_nibbles(code, o + 6);
  });
}

void encode_q4_1(const float* x, std::int64_t n, std::uint8_t* out) {
  affine_blocks(x, n, 4, [&](std::int64_t k, std::uint16_t d, std::uint16_t m, const std::array<int, kBlock>& code) {
    std::uint8_t* o = out + k * 20;
    put_u16(o, d);
    put_u16(o + 2, m);
    pack_nibbles(code, o + 4);
  });
}

void encode_q5_1(const float* x, std::int64_t n, std::uint8_t* out) {
  affine_blocks(x, n, 5, [&](std::int64_t k, std::uint16_t d, std::uint16_t m, const std::array<int, kBlock>& code) {
    std::uint8_t* o = out + k * 24;
    put_u16(o, d);
    put_u16(o + 2, m);
    pack_high_bits(code, o + 4);
    pack_nibbles(code, o + 8);
  });
}

// ggml dequantize_row_q4_0: x0 = (qs[j] & 0x0F) - 8; y = x0*d
void decode_q4_0(const std::uint8_t* in, std::int64_t n, float* y) {
  for (std::int64_t b = 0; b < n / kBlock; ++b, in += 18, y += kBlock) {
    const float d = from_fp16(get_u16(in));
    const std::uint8_t* qs = in + 2;
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>((qs[j] & 0x0F) - 8) * d;
      y[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
    }
  }
}

// ggml dequantize_row_q4_1: y = x0*d + m
void decode_q4_1(const std::uint8_t* in, std::int64_t n, float* y) {
  for (std::int64_t b = 0; b < n / kBlock; ++b, in += 20, y += kBlock) {
    const float d = from_fp16(get_u16(in)), m = from_fp16(get_u16(in + 2));
    const std::uint8_t* qs = in + 4;
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>(qs[j] & 0x0F) * d + m;
      y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
    }
  }
}

// ggml dequantize_row_q5_0: xh_0 = ((qh >> j) << 4) & 0x10, xh_1 = (qh >> (j + 12)) & 0x10
void decode_q5_0(const std::uint8_t* in, std::int64_t n, float* y) {
  for (std::int64_t b = 0; b < n / kBlock; ++b, in += 22, y += kBlock) {
    const float d = from_fp16(get_u16(in));
    const std::uint32_t qh = load_u32(in + 2);
    const std::uint8_t* qs = in + 6;
    for (int j = 0; j < 16; ++j) {
      const int h0 = static_cast<int>(((qh >> j) << 4) & 0x10u), h1 = static_cast<int>((qh >> (j + 12)) & 0x10u);
      y[j] = static_cast<float>(((qs[j] & 0x0F) | h0) - 16) * d;
      y[j + 16] = static_cast<float>(((qs[j] >> 4) | h1) - 16) * d;
    }
  }
}

// ggml dequantize_row_q5_1: y = x0*d + m
void decode_q5_1(const std::uint8_t* in, std::int64_t n, float* y) {
  for (std::int64_t b = 0; b < n / kBlock; ++b, in += 24, y += kBlock) {
    const float d = from_fp16(get_u16(in)), m = from_fp16(get_u16(in + 2));
    const std::uint32_t qh = load_u32(in + 4);
    const std::uint8_t* qs = in + 8;
    for (int j = 0; j < 16; ++j) {
      const int h0 = static_cast<int>(((qh >> j) << 4) & 0x10u), h1 = static_cast<int>((qh >> (j + 12)) & 0x10u);
      y[j] = static_cast<float>((qs[j] & 0x0F) | h0) * d + m;
      y[j + 16] = static_cast<float>((qs[j] >> 4) | h1) * d + m;
    }
  }
}

}  // namespace ramq::gguf
