// Internals shared by the GGUF block codecs in src/encode/gguf/: fp16 fields, little-endian access,
// rounding, the scale searches the encoders use, and one encode/decode pair per ggml type.
//
// Decoders repeat ggml's dequantize_row_* float operations in the same order (ggml-quants.c), so
// their output is bit-identical to ggml's to_float. These sources are compiled with
// -ffp-contract=off so that a*b-c is never fused.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "ramq/dtype.h"

namespace ramq::gguf {

inline constexpr int kQK = 256;  // QK_K: elements per K-quant super-block

// ---------------------------------------------------------------- fields

// fp16 field: round to nearest even; finite values beyond the fp16 range saturate to +-65504
// (an encoder never writes inf), NaN becomes 0.
inline std::uint16_t to_fp16(float f) {
  return std::isnan(f) ? std::uint16_t{0} : f32_to_f16(std::clamp(f, -65504.0f, 65504.0f));
}
inline float from_fp16(std::uint16_t h) { return f16_to_f32(h); }

inline std::uint16_t get_u16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
inline void put_u16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v & 0xffu);
  p[1] = static_cast<std::uint8_t>(v >> 8);
}

// Nearest integer (ties to even) of v, clamped to [lo, hi] (|lo|, |hi| < 2^22); NaN gives lo.
// Adding 1.5 * 2^23 leaves the rounded integer in the low mantissa bits (no libm call).
inline int round_clamp(float v, int lo, int hi) {
  if (!(v > static_cast<float>(lo))) return lo;
  if (v >= static_cast<float>(hi)) return hi;
  const float t = v + 12582912.0f;
  std::int32_t bits = 0;
  std::memcpy(&bits, &t, sizeof bits);
  return (bits & 0x007fffff) - 0x00400000;
}

// ---------------------------------------------------------------- scale searches

// Ranges below this are treated as constant (their fp16 scales would be 0 anyway); keeps every
// reciprocal in the searches finite.
inline constexpr float kTiny = 1e-30f;

// fp16 bits one ulp from h: dir = +1 the next larger magnitude, -1 the next smaller (same sign);
// h itself at zero, at the smallest subnormal (dir -1) or at the largest finite value (dir +1).
inline std::uint16_t fp16_neighbour(std::uint16_t h, int dir) {
  const int mag = h & 0x7fff;
  if (mag == 0 || mag + dir < 1 || mag + dir > 0x7bff) return h;
  return static_cast<std::uint16_t>((h & 0x8000) | (mag + dir));
}

// Least-squares scale search for a symmetric quantizer x ~ s*q, q in [qmin, qmax] (qmin < 0 < qmax).
// For each sign of s the max-|x| element is mapped to kSymTargets fractional levels between
// L - max(1.5, L/4) and L + 0.6 (L = -qmin or qmax; L itself is always tried), q is rounded and
// s refit by least squares, scored by <x,q>^2/<q,q> (the error reduction of the refit scale).
// The best candidate gets up to three Lloyd steps (re-round q, refit s). 0 for all-zero input.
inline constexpr int kSymTargets = 16;

inline float sym_fit(const float* x, int n, int qmin, int qmax) {
  float amax = 0.0f, vmax = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) { amax = std::fabs(x[i]); vmax = x[i]; }
  }
  if (!(amax > kTiny) || !std::isfinite(amax)) return 0.0f;
  auto refit = [&](float s, double& score) {
    const float inv = 1.0f / s;
    double sxq = 0.0, sqq = 0.0;
    for (int i = 0; i < n; ++i) {
      const double q = round_clamp(x[i] * inv, qmin, qmax);
      sxq += q * x[i];
      sqq += q * q;
    }
    score = sqq > 0.0 ? sxq * sxq / sqq : 0.0;
    return sqq > 0.0 ? static_cast<float>(sxq / sqq) : s;
  };
  float best = 0.0f;
  double best_score = -1.0;
  for (int side = 0; side < 2; ++side) {
    const float level = side == 0 ? static_cast<float>(-qmin) : static_cast<float>(qmax);
    const float sign = side == 0 ? -1.0f : 1.0f;  // side 0 maps the max element to qmin
    const float lo = level - std::max(1.5f, 0.25f * level), hi = level + 0.6f;
    for (int k = -1; k < kSymTargets; ++k) {
      const float target = k < 0 ? level : lo + (hi - lo) * static_cast<float>(k) / (kSymTargets - 1);
      double score = 0.0;
      const float s = refit(sign * vmax / target, score);
      if (score > best_score) { best_score = score; best = s; }
    }
  }
  for (int it = 0; it < 3 && best != 0.0f; ++it) {
    double score = 0.0;
    const float s = refit(best, score);
    if (!(score > best_score)) break;
    best_score = score;
    best = s;
  }
  return best;
}

// Squared error of a block quantized as q*d (q nearest to x/d, clamped; decoder order q*d).
inline double sym_block_error(const float* x, int n, float d, int qmin, int qmax) {
  double e = 0.0;
  for (int i = 0; i < n; ++i) {
    const int q = d != 0.0f ? round_clamp(x[i] / d, qmin, qmax) : 0;
    const double diff = static_cast<double>(static_cast<float>(q) * d) - x[i];
    e += diff * diff;
  }
  return e;
}

// fp16 scale of a single-scale symmetric block (Q4_0, Q5_0, Q8_0): the candidate with the smallest
// exact error after fp16 rounding among ref_d (ggml's reference choice) and the sym_fit scale with
// its two fp16 neighbours.
inline std::uint16_t best_sym_fp16(const float* x, int n, int qmin, int qmax, float ref_d) {
  const std::uint16_t fit = to_fp16(sym_fit(x, n, qmin, qmax));
  const std::array<std::uint16_t, 4> cand = {to_fp16(ref_d), fit, fp16_neighbour(fit, -1), fp16_neighbour(fit, 1)};
  std::uint16_t best = 0;
  double best_err = std::numeric_limits<double>::infinity();
  for (const std::uint16_t d16 : cand) {
    const double e = sym_block_error(x, n, from_fp16(d16), qmin, qmax);
    if (e < best_err) { best_err = e; best = d16; }
  }
  return best;
}

// Affine quantizer x ~ scale*q + offset, q in [0, qmax].
struct Affine {
  float scale;
  float offset;
};

// Squared error of x quantized with a (q nearest, clamped; decoder order scale*q + offset).
inline double affine_error(const float* x, int n, const Affine& a, int qmax) {
  double e = 0.0;
  const float inv = a.scale > 0.0f ? 1.0f / a.scale : 0.0f;
  for (int i = 0; i < n; ++i) {
    const float q = static_cast<float>(round_clamp((x[i] - a.offset) * inv, 0, qmax));
    const double diff = static_cast<double>(a.scale * q + a.offset) - x[i];
    e += diff * diff;
  }
  return e;
}

// Searches affine fits: the range [lo, hi] of x (lo <= 0 if nonpos_offset, the K-quant convention
// offset = -dmin*m <= 0) is covered with (qmax - 1 + 0.1k)/(hi - lo) steps per unit (k = 0..30),
// q rounded, scale and offset refit by least squares and scored by their residual; the plain
// min/max fit competes too. The best gets up to three Lloyd steps judged by exact error.
inline constexpr int kAffSteps = 31;

inline Affine affine_fit(const float* x, int n, int qmax, bool nonpos_offset) {
  float lo = x[0], hi = x[0];
  double sx = 0.0, sxx = 0.0;
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    sx += x[i];
    sxx += static_cast<double>(x[i]) * x[i];
  }
  if (nonpos_offset) lo = std::min(lo, 0.0f);
  if (!(hi - lo > kTiny) || !std::isfinite(hi - lo)) return {0.0f, std::isfinite(lo) ? lo : 0.0f};
  // least-squares (scale, offset) for q = round((x - base)/step); sse = its squared residual
  auto refit = [&](float base, float step, Affine& out, double& sse) {
    const float inv = 1.0f / step;
    double sq = 0.0, sqq = 0.0, sxq = 0.0;
    for (int i = 0; i < n; ++i) {
      const double q = round_clamp((x[i] - base) * inv, 0, qmax);
      sq += q;
      sqq += q * q;
      sxq += q * x[i];
    }
    const double det = n * sqq - sq * sq;
    if (!(det > 0.0)) return false;
    double s = (n * sxq - sx * sq) / det;
    double b = (sqq * sx - sq * sxq) / det;
    if (nonpos_offset && b > 0.0) {
      b = 0.0;
      s = sxq / sqq;
    }
    if (!(s > 0.0)) return false;
    sse = sxx - 2.0 * (s * sxq + b * sx) + s * s * sqq + 2.0 * s * b * sq + n * b * b;
    out = {static_cast<float>(s), static_cast<float>(b)};
    return true;
  };
  Affine best{(hi - lo) / static_cast<float>(qmax), lo};
  double best_err = affine_error(x, n, best, qmax);
  for (int k = 0; k < kAffSteps; ++k) {
    const float steps = static_cast<float>(qmax) - 1.0f + 0.1f * static_cast<float>(k);
    Affine a{};
    double sse = 0.0;
    if (refit(lo, (hi - lo) / steps, a, sse) && sse < best_err) { best_err = sse; best = a; }
  }
  best_err = affine_error(x, n, best, qmax);
  for (int it = 0; it < 3; ++it) {
    Affine a{};
    double sse = 0.0;
    if (!refit(best.offset, best.scale, a, sse)) break;
    const double e = affine_error(x, n, a, qmax);
    if (!(e < best_err)) break;
    best_err = e;
    best = a;
  }
  return best;
}

// ---------------------------------------------------------------- K-quant super-blocks

// Symmetric K-quant (Q3_K, Q6_K): x = (d * l_j) * q, d fp16, sub-block scale l_j in [lmin, lmax],
// q in [qmin, qmax]. Sub-block scales are searched first (sym_fit); then d maps the largest one to
// lmin (ggml's convention) or lmax, each l_j is chosen among the three integers nearest s_j/d by
// exact error, and d is refit by least squares over the super-block (kept only if better).
struct SymKSpec {
  int sub, qmin, qmax, lmin, lmax;  // sub-block size, quant range, sub-block scale range
};
struct SymKBlock {
  std::uint16_t d = 0;
  std::array<int, 16> l{};
  std::array<int, kQK> q{};
};

// Squared error of n values quantized as dl*q (q nearest, clamped); writes q.
inline double sym_sub_error(const float* x, int n, float dl, int qmin, int qmax, int* q) {
  double e = 0.0;
  const float inv = dl != 0.0f ? 1.0f / dl : 0.0f;
  for (int i = 0; i < n; ++i) {
    q[i] = round_clamp(x[i] * inv, qmin, qmax);
    const double diff = static_cast<double>(dl * static_cast<float>(q[i])) - x[i];
    e += diff * diff;
  }
  return e;
}

inline SymKBlock sym_superblock(const float* x, const SymKSpec& sp) {
  const int nsub = kQK / sp.sub;
  std::array<float, 16> s{};
  float smax = 0.0f;
  for (int j = 0; j < nsub; ++j) {
    s[j] = sym_fit(x + j * sp.sub, sp.sub, sp.qmin, sp.qmax);
    if (std::fabs(s[j]) > std::fabs(smax)) smax = s[j];
  }
  SymKBlock best;
  if (smax == 0.0f) return best;
  double best_err = std::numeric_limits<double>::infinity();
  std::array<int, 16> qtmp{};
  auto assign = [&](float d, SymKBlock& b) {
    b.d = to_fp16(d);
    const float df = from_fp16(b.d);
    double total = 0.0;
    for (int j = 0; j < nsub; ++j) {
      const float* xj = x + j * sp.sub;
      const int l0 = df != 0.0f ? round_clamp(s[j] / df, sp.lmin, sp.lmax) : 0;
      double ej = std::numeric_limits<double>::infinity();
      for (int l = std::max(sp.lmin, l0 - 1); l <= std::min(sp.lmax, l0 + 1); ++l) {
        const double e = sym_sub_error(xj, sp.sub, df * static_cast<float>(l), sp.qmin, sp.qmax, qtmp.data());
        if (e < ej) {
          ej = e;
          b.l[j] = l;
          for (int i = 0; i < sp.sub; ++i) b.q[j * sp.sub + i] = qtmp[i];
        }
      }
      total += ej;
    }
    return total;
  };
  SymKBlock cur;
  for (const float d0 : {smax / static_cast<float>(sp.lmin), smax / static_cast<float>(sp.lmax)}) {
    float d = d0;
    for (int it = 0; it < 3; ++it) {
      const double e = assign(d, cur);
      if (e < best_err) { best_err = e; best = cur; } else if (it > 0) break;
      double sxa = 0.0, saa = 0.0;  // refit d: x ~ d * (l_j q_i)
      for (int i = 0; i < kQK; ++i) {
        const double a = static_cast<double>(cur.l[i / sp.sub]) * cur.q[i];
        sxa += a * x[i];
        saa += a * a;
      }
      if (!(saa > 0.0)) break;
      d = static_cast<float>(sxa / saa);
    }
  }
  return best;
}

// Affine K-quant (Q2_K, Q4_K, Q5_K): x = (d*ls_j)*q - dmin*lm_j, d and dmin fp16 >= 0,
// ls_j, lm_j in [0, lmax], q in [0, qmax]. Sub-blocks are fit first (affine_fit, offset <= 0); d and
// dmin map the largest scale/min to lmax, each (ls_j, lm_j) is chosen in the 3x3 neighbourhood of
// the rounded values by exact error, and (d, dmin) is refit by least squares (kept only if better).
struct AffKSpec {
  int sub, qmax, lmax;  // sub-block size, quant range [0, qmax], scale/min range [0, lmax]
};
struct AffKBlock {
  std::uint16_t d = 0, dmin = 0;
  std::array<int, 16> ls{}, lm{};
  std::array<int, kQK> q{};
};

inline double aff_sub_error(const float* x, int n, float dl, float ml, int qmax, int* q) {
  double e = 0.0;
  const float inv = dl > 0.0f ? 1.0f / dl : 0.0f;
  for (int i = 0; i < n; ++i) {
    q[i] = round_clamp((x[i] + ml) * inv, 0, qmax);
    const double diff = static_cast<double>(dl * static_cast<float>(q[i]) - ml) - x[i];
    e += diff * diff;
  }
  return e;
}

inline AffKBlock aff_superblock(const float* x, const AffKSpec& sp) {
  const int nsub = kQK / sp.sub;
  std::array<float, 16> s{}, m{};
  float smax = 0.0f, mmax = 0.0f;
  for (int j = 0; j < nsub; ++j) {
    const Affine a = affine_fit(x + j * sp.sub, sp.sub, sp.qmax, true);
    s[j] = a.scale;
    m[j] = -a.offset;
    smax = std::max(smax, s[j]);
    mmax = std::max(mmax, m[j]);
  }
  std::array<int, 32> qtmp{};
  auto assign = [&](float d, float dmin, AffKBlock& b) {
    b.d = to_fp16(d);
    b.dmin = to_fp16(dmin);
    const float df = from_fp16(b.d), mf = from_fp16(b.dmin);
    double total = 0.0;
    for (int j = 0; j < nsub; ++j) {
      const float* xj = x + j * sp.sub;
      const int s0 = df > 0.0f ? round_clamp(s[j] / df, 0, sp.lmax) : 0;
      const int m0 = mf > 0.0f ? round_clamp(m[j] / mf, 0, sp.lmax) : 0;
      double ej = std::numeric_limits<double>::infinity();
      for (int ls = std::max(0, s0 - 1); ls <= std::min(sp.lmax, s0 + 1); ++ls) {
        for (int lm = std::max(0, m0 - 1); lm <= std::min(sp.lmax, m0 + 1); ++lm) {
          const float dl = df * static_cast<float>(ls), ml = mf * static_cast<float>(lm);
          const double e = aff_sub_error(xj, sp.sub, dl, ml, sp.qmax, qtmp.data());
          if (e < ej) {
            ej = e;
            b.ls[j] = ls;
            b.lm[j] = lm;
            for (int i = 0; i < sp.sub; ++i) b.q[j * sp.sub + i] = qtmp[i];
          }
        }
      }
      total += ej;
    }
    return total;
  };
  AffKBlock best, cur;
  const float lmax = static_cast<float>(sp.lmax);
  double best_err = assign(smax / lmax, mmax / lmax, best);
  float d = from_fp16(best.d), dmin = from_fp16(best.dmin);
  for (int it = 0; it < 3; ++it) {
    // refit x ~ d*a - dmin*b with a = ls_j*q_i, b = lm_j (normal equations of the 2x2 system)
    double A = 0, B = 0, C = 0, P = 0, Q = 0;
    for (int i = 0; i < kQK; ++i) {
      const double a = static_cast<double>(best.ls[i / sp.sub]) * best.q[i], b = best.lm[i / sp.sub];
      A += a * a, B += a * b, C += b * b, P += a * x[i], Q += b * x[i];
    }
    const double det = B * B - A * C;
    if (C > 0.0 && det != 0.0) {
      d = static_cast<float>((B * Q - C * P) / det);
      dmin = static_cast<float>((A * Q - B * P) / det);
    } else if (A > 0.0) {
      d = static_cast<float>(P / A);
    }
    if (!(d >= 0.0f) || !(dmin >= 0.0f)) break;
    const double e = assign(d, dmin, cur);
    if (!(e < best_err)) break;
    best_err = e;
    best = cur;
  }
  return best;
}

// ---------------------------------------------------------------- codecs
// encode_*: n floats (n a multiple of the block size) -> n / block * block_bytes bytes.
// decode_*: the inverse, bit-exact with ggml's dequantize_row_*.

#define RAMQ_GGUF_CODEC(name)                                              \
  void encode_##name(const float* x, std::int64_t n, std::uint8_t* out); \
  void decode_##name(const std::uint8_t* in, std::int64_t n, float* y)

RAMQ_GGUF_CODEC(f32);    // float_types.cpp
RAMQ_GGUF_CODEC(f16);    // float_types.cpp
RAMQ_GGUF_CODEC(bf16);   // float_types.cpp
RAMQ_GGUF_CODEC(q4_0);   // q4_q5_legacy.cpp (also q4_1, q5_0, q5_1)
RAMQ_GGUF_CODEC(q4_1);
RAMQ_GGUF_CODEC(q5_0);
RAMQ_GGUF_CODEC(q5_1);
RAMQ_GGUF_CODEC(q8_0);   // q8_0.cpp
RAMQ_GGUF_CODEC(iq4_nl); // iq4_nl.cpp
RAMQ_GGUF_CODEC(q2_k);   // q2_k.cpp
RAMQ_GGUF_CODEC(q3_k);   // q3_k.cpp
RAMQ_GGUF_CODEC(q4_k);   // q4_k_q5_k.cpp (also q5_k)
RAMQ_GGUF_CODEC(q5_k);
RAMQ_GGUF_CODEC(q6_k);   // q6_k.cpp

#undef RAMQ_GGUF_CODEC

}  // namespace ramq::gguf
