// Internals of the MLX affine encoders: the grid of one group, w = scale * q + bias with q in
// [0, qmax]. The encoders themselves are SIMD kernels (src/encode/simd/mlx_kernels.cpp); this
// scalar min/max grid is the reference they follow and reports the groups they cannot encode.
#pragma once

#include "ramq/dtype.h"

namespace ramq::mlx_detail {

struct Grid {
  float scale = 0.0f;  // >= 0, a value of the scale dtype
  float bias = 0.0f;   // a value of the scale dtype
};

// Min/max grid of n values: bias = the minimum rounded down to the dtype, scale = range / qmax
// rounded to nearest and stepped up until the grid covers the maximum (every value within half
// a step). Throws ramq::Error for NaN/Inf or a range the dtype cannot hold.
Grid minmax_grid(const float* x, int n, int qmax, DType scale_dtype);

}  // namespace ramq::mlx_detail
