// Fixed-width lane vectors for the encoder kernels (src/encode/simd/*_kernels.cpp). Those sources
// are compiled once per SIMD level - portable (the target's baseline, SSE2 on x86-64), AVX2 and
// AVX-512 - each time into its own namespace ramq::simd::RAMQ_ISA_NS, and chosen at run time
// (src/encode/simd/dispatch.cpp).
//
// Why the output cannot depend on the level: every kernel solves kLanes = 16 independent problems
// (blocks, sub-blocks or groups) at once, one per lane, and lane l only ever combines values of
// lane l, in the order a scalar loop over the problem's elements would. There are no horizontal
// reductions inside a problem, hence no reassociation. The lane vectors below hold 16 floats (16
// doubles) whatever the level, as one AVX-512 register, two AVX2 or four SSE2 registers (structs
// of native-width vectors: GCC lowers wider generic vectors badly), and an element-wise IEEE
// operation (+ - * /, compare, select, conversion) gives the same bits at every width. The sources are compiled with -ffp-contract=off (never an
// FMA) and without -ffast-math, and use no libm function (glibc picks some of those per CPU).
//
// ODR: everything here has internal linkage or lives in the per-level namespace, and the kernels
// use no std:: templates, so no inline function compiled for AVX-512 can be merged by the linker
// into the portable code (tests/encode/CMakeLists.txt checks the object files' symbols).
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#ifndef RAMQ_ISA_NS
#error "common/simd/lanes.h is only for the per-level kernel sources (RAMQ_ISA_NS names their namespace)"
#endif

#define RAMQ_LANE static inline __attribute__((always_inline))

namespace ramq::simd::RAMQ_ISA_NS {

inline constexpr int kLanes = 16;

// One native register: 64 bytes (AVX-512), 32 (AVX2) or 16 (baseline). A lane vector of 16 floats
// (16 doubles) is an array of kPF (kPD) of them, processed part by part.
// RAMQ_LANE_BYTES forces the register width (tests/encode builds the 64-byte layout without
// AVX-512 to check it on machines that lack it).
#if defined(RAMQ_LANE_BYTES)
#define RAMQ_NATIVE_BYTES RAMQ_LANE_BYTES
#elif defined(__AVX512F__)
#define RAMQ_NATIVE_BYTES 64
#elif defined(__AVX2__)
#define RAMQ_NATIVE_BYTES 32
#else
#define RAMQ_NATIVE_BYTES 16
#endif
#if RAMQ_NATIVE_BYTES == 64
#define RAMQ_HALF_LO 0, 1, 2, 3, 4, 5, 6, 7
#define RAMQ_HALF_HI 8, 9, 10, 11, 12, 13, 14, 15
#define RAMQ_CAT 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
#elif RAMQ_NATIVE_BYTES == 32
#define RAMQ_HALF_LO 0, 1, 2, 3
#define RAMQ_HALF_HI 4, 5, 6, 7
#define RAMQ_CAT 0, 1, 2, 3, 4, 5, 6, 7
#elif RAMQ_NATIVE_BYTES == 16
#define RAMQ_HALF_LO 0, 1
#define RAMQ_HALF_HI 2, 3
#define RAMQ_CAT 0, 1, 2, 3
#else
#error "RAMQ_LANE_BYTES must be 16, 32 or 64"
#endif
inline constexpr int kF = RAMQ_NATIVE_BYTES / 4;  // floats per register
inline constexpr int kD = RAMQ_NATIVE_BYTES / 8;  // doubles per register
inline constexpr int kPF = kLanes / kF, kPD = kLanes / kD;
typedef float nat_f __attribute__((vector_size(RAMQ_NATIVE_BYTES)));
typedef std::int32_t nat_i __attribute__((vector_size(RAMQ_NATIVE_BYTES)));
typedef double nat_d __attribute__((vector_size(RAMQ_NATIVE_BYTES)));
typedef std::int64_t nat_l __attribute__((vector_size(RAMQ_NATIVE_BYTES)));
typedef float half_f __attribute__((vector_size(RAMQ_NATIVE_BYTES / 2)));
typedef std::int32_t half_i __attribute__((vector_size(RAMQ_NATIVE_BYTES / 2)));

struct vf {  // 16 floats
  nat_f p[kPF];
};
struct vi {  // 16 int32; also the masks of vf comparisons (all ones or zero per lane)
  nat_i p[kPF];
};
struct vd {  // 16 doubles
  nat_d p[kPD];
};
struct vl {  // masks of vd comparisons
  nat_l p[kPD];
};

#define RAMQ_BINARY(T, P, OP)                                        \
  RAMQ_LANE T operator OP(T a, const T& b) {                         \
    for (int k = 0; k < P; ++k) a.p[k] = a.p[k] OP b.p[k];           \
    return a;                                                        \
  }                                                                  \
  RAMQ_LANE T& operator OP##=(T& a, const T& b) { return a = a OP b; }
#define RAMQ_SCALAR(T, P, S, OP)                                     \
  RAMQ_LANE T operator OP(T a, S s) {                                \
    for (int k = 0; k < P; ++k) a.p[k] = a.p[k] OP s;                \
    return a;                                                        \
  }                                                                  \
  RAMQ_LANE T operator OP(S s, T a) {                                \
    for (int k = 0; k < P; ++k) a.p[k] = s OP a.p[k];                \
    return a;                                                        \
  }
#define RAMQ_COMPARE(T, M, P, OP)                                    \
  RAMQ_LANE M operator OP(const T& a, const T& b) {                  \
    M m;                                                             \
    for (int k = 0; k < P; ++k) m.p[k] = a.p[k] OP b.p[k];           \
    return m;                                                        \
  }

RAMQ_BINARY(vf, kPF, +)
RAMQ_BINARY(vf, kPF, -)
RAMQ_BINARY(vf, kPF, *)
RAMQ_BINARY(vf, kPF, /)
RAMQ_SCALAR(vf, kPF, float, +)
RAMQ_SCALAR(vf, kPF, float, -)
RAMQ_SCALAR(vf, kPF, float, *)
RAMQ_SCALAR(vf, kPF, float, /)
RAMQ_BINARY(vd, kPD, +)
RAMQ_BINARY(vd, kPD, -)
RAMQ_BINARY(vd, kPD, *)
RAMQ_BINARY(vd, kPD, /)
RAMQ_SCALAR(vd, kPD, double, +)
RAMQ_SCALAR(vd, kPD, double, -)
RAMQ_SCALAR(vd, kPD, double, *)
RAMQ_SCALAR(vd, kPD, double, /)
RAMQ_BINARY(vi, kPF, +)
RAMQ_BINARY(vi, kPF, &)
RAMQ_BINARY(vi, kPF, |)
RAMQ_SCALAR(vi, kPF, std::int32_t, +)
RAMQ_SCALAR(vi, kPF, std::int32_t, &)
RAMQ_BINARY(vl, kPD, &)
RAMQ_BINARY(vl, kPD, |)
RAMQ_COMPARE(vf, vi, kPF, <)
RAMQ_COMPARE(vf, vi, kPF, <=)
RAMQ_COMPARE(vf, vi, kPF, >)
RAMQ_COMPARE(vf, vi, kPF, >=)
RAMQ_COMPARE(vf, vi, kPF, ==)
RAMQ_COMPARE(vf, vi, kPF, !=)
RAMQ_COMPARE(vi, vi, kPF, >)
RAMQ_COMPARE(vd, vl, kPD, <)
RAMQ_COMPARE(vd, vl, kPD, <=)
RAMQ_COMPARE(vd, vl, kPD, >)

#undef RAMQ_BINARY
#undef RAMQ_SCALAR
#undef RAMQ_COMPARE

RAMQ_LANE vf operator-(vf a) {
  for (int k = 0; k < kPF; ++k) a.p[k] = -a.p[k];
  return a;
}
RAMQ_LANE vd operator-(vd a) {
  for (int k = 0; k < kPD; ++k) a.p[k] = -a.p[k];
  return a;
}
RAMQ_LANE vi operator~(vi a) {
  for (int k = 0; k < kPF; ++k) a.p[k] = ~a.p[k];
  return a;
}

RAMQ_LANE vf splat(float s) {
  vf r;
  for (int k = 0; k < kPF; ++k) r.p[k] = nat_f{} + s;
  return r;
}
RAMQ_LANE vd splatd(double s) {
  vd r;
  for (int k = 0; k < kPD; ++k) r.p[k] = nat_d{} + s;
  return r;
}
RAMQ_LANE vi splati(std::int32_t s) {
  vi r;
  for (int k = 0; k < kPF; ++k) r.p[k] = nat_i{} + s;
  return r;
}

// Lane l (scalar access, for the per-problem bookkeeping outside the hot loops).
RAMQ_LANE float get(const vf& v, int l) { return v.p[l / kF][l % kF]; }
RAMQ_LANE std::int32_t get(const vi& v, int l) { return v.p[l / kF][l % kF]; }
RAMQ_LANE double get(const vd& v, int l) { return v.p[l / kD][l % kD]; }
RAMQ_LANE void set(vf& v, int l, float x) { std::memcpy(reinterpret_cast<char*>(&v) + 4 * l, &x, 4); }
RAMQ_LANE void set(vi& v, int l, std::int32_t x) { std::memcpy(reinterpret_cast<char*>(&v) + 4 * l, &x, 4); }

// Unaligned loads and stores, one register at a time (a whole-struct memcpy can be split into
// smaller moves, which then stall store forwarding).
typedef float nat_fu __attribute__((vector_size(RAMQ_NATIVE_BYTES), aligned(4), may_alias));
RAMQ_LANE vf load(const float* p) {
  vf v;
  for (int k = 0; k < kPF; ++k) v.p[k] = *reinterpret_cast<const nat_fu*>(p + k * kF);
  return v;
}
RAMQ_LANE void store(float* p, const vf& v) {
  for (int k = 0; k < kPF; ++k) *reinterpret_cast<nat_fu*>(p + k * kF) = v.p[k];
}

// Lane-wise select: m ? a : b (m all ones or all zeros per lane).
RAMQ_LANE vf sel(const vi& m, const vf& a, const vf& b) {
  vf r;
  for (int k = 0; k < kPF; ++k) r.p[k] = m.p[k] ? a.p[k] : b.p[k];
  return r;
}
RAMQ_LANE vi seli(const vi& m, const vi& a, const vi& b) {
  vi r;
  for (int k = 0; k < kPF; ++k) r.p[k] = m.p[k] ? a.p[k] : b.p[k];
  return r;
}
RAMQ_LANE vd seld(const vl& m, const vd& a, const vd& b) {
  vd r;
  for (int k = 0; k < kPD; ++k) r.p[k] = m.p[k] ? a.p[k] : b.p[k];
  return r;
}

// std::min / std::max semantics per lane (b < a ? b : a; a < b ? b : a).
RAMQ_LANE vf vmin(const vf& a, const vf& b) { return sel(b < a, b, a); }
RAMQ_LANE vf vmax(const vf& a, const vf& b) { return sel(a < b, b, a); }

RAMQ_LANE vf vabs(vf a) {
  for (int k = 0; k < kPF; ++k) {
    nat_i u;
    std::memcpy(&u, &a.p[k], sizeof u);
    u &= 0x7fffffff;
    std::memcpy(&a.p[k], &u, sizeof u);
  }
  return a;
}

RAMQ_LANE vi is_finite(const vf& a) { return (a - a) == vf{}; }  // false for inf and NaN

RAMQ_LANE bool any(const vi& m) {
  nat_i r = m.p[0];
  for (int k = 1; k < kPF; ++k) r |= m.p[k];
  std::int32_t x = 0;
  for (int j = 0; j < kF; ++j) x |= r[j];
  return x != 0;
}

// Conversions, lane by lane: float <-> double, int32 masks <-> int64 masks, float <-> int32.
RAMQ_LANE vd to_d(const vf& a) {
  vd r;
  for (int k = 0; k < kPF; ++k) {
    const half_f lo = __builtin_shufflevector(a.p[k], a.p[k], RAMQ_HALF_LO);
    const half_f top = __builtin_shufflevector(a.p[k], a.p[k], RAMQ_HALF_HI);
    r.p[2 * k] = __builtin_convertvector(lo, nat_d);
    r.p[2 * k + 1] = __builtin_convertvector(top, nat_d);
  }
  return r;
}
RAMQ_LANE vf to_f(const vd& a) {
  vf r;
  for (int k = 0; k < kPF; ++k) {
    const half_f lo = __builtin_convertvector(a.p[2 * k], half_f), top = __builtin_convertvector(a.p[2 * k + 1], half_f);
    r.p[k] = __builtin_shufflevector(lo, top, RAMQ_CAT);
  }
  return r;
}
RAMQ_LANE vl wide(const vi& a) {
  vl r;
  for (int k = 0; k < kPF; ++k) {
    const half_i lo = __builtin_shufflevector(a.p[k], a.p[k], RAMQ_HALF_LO);
    const half_i top = __builtin_shufflevector(a.p[k], a.p[k], RAMQ_HALF_HI);
    r.p[2 * k] = __builtin_convertvector(lo, nat_l);
    r.p[2 * k + 1] = __builtin_convertvector(top, nat_l);
  }
  return r;
}
RAMQ_LANE vi narrow(const vl& a) {
  vi r;
  for (int k = 0; k < kPF; ++k) {
    const half_i lo = __builtin_convertvector(a.p[2 * k], half_i), top = __builtin_convertvector(a.p[2 * k + 1], half_i);
    r.p[k] = __builtin_shufflevector(lo, top, RAMQ_CAT);
  }
  return r;
}
RAMQ_LANE vi to_i(const vf& a) {  // only for integral values in range
  vi r;
  for (int k = 0; k < kPF; ++k) r.p[k] = __builtin_convertvector(a.p[k], nat_i);
  return r;
}

// Nearest integer (ties to even) of v clamped to [lo, hi] (|lo|, |hi| < 2^22), as a float; NaN
// gives lo. Clamping first keeps |v| < 2^22, where adding 1.5 * 2^23 rounds to an integer.
RAMQ_LANE vf round_clamp(const vf& v, const vf& lo, const vf& top) {
  vf r;
  for (int k = 0; k < kPF; ++k) {
    nat_f x = v.p[k] > lo.p[k] ? v.p[k] : lo.p[k];
    x = x < top.p[k] ? x : top.p[k];
    r.p[k] = (x + 12582912.0f) - 12582912.0f;
  }
  return r;
}

// table[idx] per lane (idx in [0, 15]).
RAMQ_LANE vf lookup16(const float* table, const vi& idx) {
  vf out;
#if defined(__AVX512F__) && RAMQ_NATIVE_BYTES == 64
  __m512 t;
  __m512i i;
  std::memcpy(&t, table, sizeof t);
  std::memcpy(&i, &idx.p[0], sizeof i);
  const __m512 r = _mm512_mask_permutexvar_ps(t, static_cast<__mmask16>(0xffff), i, t);  // GCC 12: the unmasked form warns
  std::memcpy(&out.p[0], &r, sizeof r);
#elif defined(__AVX2__) && RAMQ_NATIVE_BYTES == 32
  __m256 tl, th;
  std::memcpy(&tl, table, sizeof tl);
  std::memcpy(&th, table + 8, sizeof th);
  for (int k = 0; k < kPF; ++k) {
    __m256i ix;
    std::memcpy(&ix, &idx.p[k], sizeof ix);
    const __m256 a = _mm256_permutevar8x32_ps(tl, ix), b = _mm256_permutevar8x32_ps(th, ix);
    const __m256i upper = _mm256_cmpgt_epi32(ix, _mm256_set1_epi32(7));
    const __m256 r = _mm256_blendv_ps(a, b, _mm256_castsi256_ps(upper));
    std::memcpy(&out.p[k], &r, sizeof r);
  }
#else
  for (int l = 0; l < kLanes; ++l) set(out, l, table[get(idx, l)]);
#endif
  return out;
}

// Transposes count problems of n consecutive floats each (from x) into X[i * kLanes + l] = element i
// of problem l; lanes count..kLanes-1 are zero.
RAMQ_LANE void gather(const float* x, int n, int count, float* X) {
  for (int l = 0; l < kLanes; ++l) {
    const float* p = x + static_cast<std::int64_t>(l) * n;
    if (l < count) {
      for (int i = 0; i < n; ++i) X[i * kLanes + l] = p[i];
    } else {
      for (int i = 0; i < n; ++i) X[i * kLanes + l] = 0.0f;
    }
  }
}

}  // namespace ramq::simd::RAMQ_ISA_NS
