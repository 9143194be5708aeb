// The randomized SVD's matrix products with W (and its Gram matrix in double), as our own SIMD
// kernels (src/analyze/products.cpp chooses them at run time, or OpenBLAS on CPUs without AVX2 +
// FMA). The same source, product_kernels.cpp, is compiled once for AVX2 + FMA and once for
// AVX-512, each into its own namespace below.
//
// Why both levels give the same bits: every output element is one chain of fused multiply-adds
// over the reduction index in ascending order, starting from 0 (the Gram matrix: continuing from
// what g holds). Tiles, vector widths, cache blocks and pieces of work only decide which elements
// are computed together, never the order inside one element's chain, so the result depends
// neither on the level nor on the thread count.
#pragma once

#include <cstdint>

namespace ramq::analyze_simd {

// Rows of W that cols_times takes at a time, and the scratch it needs for nj columns. W's rows are
// often a multiple of 4 KiB apart, so one block's cache lines share a few L2 sets: 64 rows still fit
// their 16 ways, with the next block asked for ahead of time.
inline constexpr int kColsReduceRows = 64;
inline constexpr long cols_scratch_floats(int nj) { return static_cast<long>(kColsReduceRows) * nj; }

#define RAMQ_PRODUCT_KERNELS_DECLARE(ns)                                                                 \
  namespace ns {                                                                                         \
  /* out[r * cp + c] = sum over k < n of w[r * ldw + k] * vp[k * cp + c], for r < rows, c < cp. */       \
  /* vp is row-major n x cp; cp is a multiple of 16. */                                                  \
  void rows_times(const float* w, std::int64_t ldw, int rows, int n, const float* vp, int cp, float* out); \
  /* z[c * ldz + j] = sum over i < m of w[i * ldw + j] * yp[i * cp + c], for j0 <= j < j0 + nj and */     \
  /* c < c_count. yp is row-major m x cp (cp >= c_count); scratch holds cols_scratch_floats(nj). */       \
  void cols_times(const float* w, std::int64_t ldw, int m, int j0, int nj, const float* yp, int cp,        \
                  int c_count, float* z, std::int64_t ldz, float* scratch);                              \
  /* g[a * cp + b] += sum over r < nr of p[r * cp + a] * p[r * cp + b], for every b < cp and at least */ \
  /* every a <= b (tiles on the diagonal also add some a > b). p is row-major nr x cp, g row-major    */ \
  /* cp x cp; cp is a multiple of 8. Each element's chain continues from g in ascending r.            */ \
  void gram_rows(const double* p, int nr, int cp, double* g);                                             \
  }

RAMQ_PRODUCT_KERNELS_DECLARE(avx2)
RAMQ_PRODUCT_KERNELS_DECLARE(avx512)

#undef RAMQ_PRODUCT_KERNELS_DECLARE

}  // namespace ramq::analyze_simd
