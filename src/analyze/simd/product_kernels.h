// The randomized SVD's matrix products with W, as our own SIMD kernels (src/analyze/products.cpp
// chooses them at run time, or OpenBLAS on CPUs without AVX2 + FMA). The same source,
// product_kernels.cpp, is compiled once for AVX2 + FMA and once for AVX-512, each into its own
// namespace below.
//
// Why both levels give the same bits: every output element is one chain of fused multiply-adds
// over the reduction index in ascending order, starting from 0. Tiles, vector widths, cache
// blocks and pieces of work only decide which elements are computed together, never the order
// inside one element's chain, so the result depends neither on the level nor on the thread
// count.
#pragma once

#include <cstdint>

namespace ramq::analyze_simd {

// Rows of W that cols_times takes at a time, and the scratch it needs for nj columns.
inline constexpr int kColsReduceBlock = 128;
inline constexpr long cols_scratch_floats(int nj) { return static_cast<long>(kColsReduceBlock) * nj; }

#define RAMQ_PRODUCT_KERNELS_DECLARE(ns)                                                                 \
  namespace ns {                                                                                         \
  /* out[r * cp + c] = sum over k < n of w[r * ldw + k] * vp[k * cp + c], for r < rows, c < cp. */       \
  /* vp is row-major n x cp; cp is a multiple of 16. */                                                  \
  void rows_times(const float* w, std::int64_t ldw, int rows, int n, const float* vp, int cp, float* out); \
  /* z[c * ldz + j] = sum over i < m of w[i * ldw + j] * yp[i * cp + c], for j0 <= j < j0 + nj and */     \
  /* c < c_count. yp is row-major m x cp (cp >= c_count); scratch holds cols_scratch_floats(nj). */       \
  void cols_times(const float* w, std::int64_t ldw, int m, int j0, int nj, const float* yp, int cp,        \
                  int c_count, float* z, std::int64_t ldz, float* scratch);                              \
  }

RAMQ_PRODUCT_KERNELS_DECLARE(avx2)
RAMQ_PRODUCT_KERNELS_DECLARE(avx512)

#undef RAMQ_PRODUCT_KERNELS_DECLARE

}  // namespace ramq::analyze_simd
