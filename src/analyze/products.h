// Products of a row-major float32 matrix W with blocks of columns, for the randomized SVDs
// (src/analyze/svd.cpp). Our own kernels on CPUs with AVX2 + FMA or AVX-512
// (src/analyze/simd/product_kernels.h: the same bits at both levels), OpenBLAS below that or at
// RAMQ_ISA=portable. Either way the work is cut into pieces fixed by the shape, so the values do
// not depend on the thread count.
#pragma once

#include <string_view>
#include <vector>

#include "ramq/metrics.h"

namespace ramq::detail {

// Y (rows of W x c, column-major, leading dimension ldy) = W * N (cols of W x c, column-major,
// leading dimension ldn).
void w_times(MatrixView w, const float* nmat, int ldn, int c, float* y, int ldy, unsigned threads);

// N (cols of W x c, column-major, leading dimension ldn) = W^T * Y (rows of W x c, leading
// dimension ldy).
void wt_times(MatrixView w, const float* y, int ldy, int c, float* nmat, int ldn, unsigned threads);

// Y_r^T Y_r in double for the rows [r0, r1) of the column-major float matrix Y (cols columns,
// leading dimension ldy): a cols x cols column-major matrix of which the lower triangle (row >=
// column) holds the values, the rest is unspecified. With our kernels every element is one chain
// of fused multiply-adds over the rows in ascending order (the same bits at AVX2 and AVX-512);
// OpenBLAS's dsyrk otherwise. Single-threaded.
std::vector<double> gram_lower(const float* y, int ldy, int r0, int r1, int cols);

// Which implementation the two products use now: "avx512", "avx2" or "openblas".
std::string_view product_kernel_name();

}  // namespace ramq::detail
