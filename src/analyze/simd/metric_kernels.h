// Hot loops of the SWAN statistics (src/analyze/metrics.cpp), compiled once per SIMD level
// (portable, AVX2, AVX-512: metric_kernels.cpp, each into its own namespace) and chosen at run
// time from ramq::simd_level().
//
// Why every level gives the same bits: the loops are written as fixed lanes - 16 floats for
// minimum and maximum, 8 doubles for sums - and lane l only ever combines its own elements, in
// the order the scalar definition does (element i goes to lane i mod 8, lanes are added 0..7 at
// the end). The compiler turns the lanes into vector registers of whatever width the level has;
// each element-wise IEEE operation (+ - * /, compare, select, float <-> int conversion) gives the
// same bits at every width. Compiled with -ffp-contract=off (no FMA) and no fast-math.
#pragma once

#include <cstdint>

namespace ramq::analyze_simd {

struct FloatRange {
  float lo = 0.0f;
  float hi = 0.0f;
};

#define RAMQ_METRIC_KERNELS_DECLARE(ns)                                                               \
  namespace ns {                                                                                      \
  /* Smallest and largest of x[0..n) (n > 0; no NaN). */                                             \
  FloatRange min_max(const float* x, std::int64_t n);                                                 \
  /* Sum of squared errors of one row of n values after min/max affine quantization to qmax + 1 */    \
  /* levels in groups of g (a short last group is padded with zeros for its min/max only): the */     \
  /* groups' sums added in order, each over 8 double lanes. */                                        \
  double nrmse_row_sse(const float* x, std::int64_t n, std::int64_t g, int qmax);                     \
  /* Sum of x[0..n) over 8 double lanes. */                                                           \
  double lane_sum(const float* x, std::int64_t n);                                                    \
  /* Sums of d^2 and d^4, d = x - mean in double, over 8 double lanes each. */                        \
  void central_moment_sums(const float* x, std::int64_t n, double mean, double* s2, double* s4);      \
  /* Uniform noise in [-width/2, width/2): draw t is the SplitMix64 output mix(key + (t + 1) * */     \
  /* golden gamma), independent of every other draw; it gives out[2t] (its high 24 bits) and   */     \
  /* out[2t + 1] (bits 8..31) as (u * 2^-24 - 1/2) * width. Integer steps are exact and the float */  \
  /* ones exact but the last product (one rounding), so every level gives the same bits.       */     \
  void uniform_noise(std::uint64_t key, float* out, std::int64_t n, float width);                    \
  }

RAMQ_METRIC_KERNELS_DECLARE(portable)
RAMQ_METRIC_KERNELS_DECLARE(avx2)
RAMQ_METRIC_KERNELS_DECLARE(avx512)

#undef RAMQ_METRIC_KERNELS_DECLARE

}  // namespace ramq::analyze_simd
