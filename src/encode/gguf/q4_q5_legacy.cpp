// Legacy 4/5-bit types, blocks of 32 (layouts from ggml-common.h, meaning from ggml-quants.c):
//   Q4_0 { fp16 d; u8 qs[16] }                   18 bytes  x = (nib - 8) * d
//   Q4_1 { fp16 d; fp16 m; u8 qs[16] }           20 bytes  x = nib * d + m
//   Q5_0 { fp16 d; u8 qh[4]; u8 qs[16] }         22 bytes  x = ((nib | hb << 4) - 16) * d
//   Q5_1 { fp16 d; fp16 m; u8 qh[4]; u8 qs[16] } 24 bytes  x = (nib | hb << 4) * d + m
// Element j < 16 is the low nibble of qs[j], element j + 16 the high nibble; the 5th bit of
// element e is bit e of the little-endian uint32 qh.
//
// Encoders: Q4_0/Q5_0 pick, by exact block error after fp16 rounding, among ggml's d = max/-8
// (resp. -16; max = the signed value of largest magnitude) and the sym_fit least-squares scale with
// its two fp16 neighbours. Q4_1/Q5_1 likewise among ggml's (max - min)/qmax and min, and the
// affine_fit (scale, offset) with fp16 neighbours of either.
#include "encode/gguf/codec_common.h"

namespace ramq::gguf {
namespace {

constexpr int kBlock = 32;

float signed_absmax(const float* x) {
  float amax = 0.0f, vmax = 0.0f;
  for (int i = 0; i < kBlock; ++i) {
    if (std::fabs(x[i]) > amax) { amax = std::fabs(x[i]); vmax = x[i]; }
  }
  return vmax;
}

// Unsigned codes (0 .. 2^bits - 1) of a symmetric block; writes d at out[0..1].
void sym_codes(const float* x, int bits, std::uint8_t* out, std::array<int, kBlock>& code) {
  const int half = 1 << (bits - 1);
  const std::uint16_t d16 = best_sym_fp16(x, kBlock, -half, half - 1, signed_absmax(x) / static_cast<float>(-half));
  put_u16(out, d16);
  const float d = from_fp16(d16);
  for (int i = 0; i < kBlock; ++i) code[i] = (d != 0.0f ? round_clamp(x[i] / d, -half, half - 1) : 0) + half;
}

// Unsigned codes of an affine block; writes d at out[0..1] and m at out[2..3].
void affine_codes(const float* x, int bits, std::uint8_t* out, std::array<int, kBlock>& code) {
  const int qmax = (1 << bits) - 1;
  float lo = x[0], hi = x[0];
  for (int i = 1; i < kBlock; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  const Affine fit = affine_fit(x, kBlock, qmax, false);
  const std::uint16_t fd = to_fp16(fit.scale), fm = to_fp16(fit.offset);
  // ggml's reference (max - min)/qmax and min, then the searched fit and its fp16 neighbours
  const std::array<std::array<std::uint16_t, 2>, 6> cand = {{
      {to_fp16((hi - lo) / static_cast<float>(qmax)), to_fp16(lo)},
      {fd, fm},
      {fp16_neighbour(fd, -1), fm},
      {fp16_neighbour(fd, 1), fm},
      {fd, fp16_neighbour(fm, -1)},
      {fd, fp16_neighbour(fm, 1)},
  }};
  std::uint16_t best_d = 0, best_m = 0;
  double best_err = std::numeric_limits<double>::infinity();
  for (const auto& [d16, m16] : cand) {
    const double e = affine_error(x, kBlock, Affine{from_fp16(d16), from_fp16(m16)}, qmax);
    if (e < best_err) { best_err = e; best_d = d16; best_m = m16; }
  }
  put_u16(out, best_d);
  put_u16(out + 2, best_m);
  const float d = from_fp16(best_d), m = from_fp16(best_m), inv = d > 0.0f ? 1.0f / d : 0.0f;
  for (int i = 0; i < kBlock; ++i) code[i] = round_clamp((x[i] - m) * inv, 0, qmax);  // as affine_error
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
  std::array<int, kBlock> code{};
  for (std::int64_t b = 0; b < n / kBlock; ++b, x += kBlock, out += 18) {
    sym_codes(x, 4, out, code);
    pack_nibbles(code, out + 2);
  }
}

void encode_q5_0(const float* x, std::int64_t n, std::uint8_t* out) {
  std::array<int, kBlock> code{};
  for (std::int64_t b = 0; b < n / kBlock; ++b, x += kBlock, out += 22) {
    sym_codes(x, 5, out, code);
    pack_high_bits(code, out + 2);
    pack_nibbles(code, out + 6);
  }
}

void encode_q4_1(const float* x, std::int64_t n, std::uint8_t* out) {
  std::array<int, kBlock> code{};
  for (std::int64_t b = 0; b < n / kBlock; ++b, x += kBlock, out += 20) {
    affine_codes(x, 4, out, code);
    pack_nibbles(code, out + 4);
  }
}

void encode_q5_1(const float* x, std::int64_t n, std::uint8_t* out) {
  std::array<int, kBlock> code{};
  for (std::int64_t b = 0; b < n / kBlock; ++b, x += kBlock, out += 24) {
    affine_codes(x, 5, out, code);
    pack_high_bits(code, out + 4);
    pack_nibbles(code, out + 8);
  }
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
