// Internals of the MLX affine encoders (src/encode/mlx_affine*.cpp): the grid of one group,
// w = scale * q + bias with q in [0, qmax], and how a value is assigned to it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "ramq/dtype.h"

namespace ramq::mlx_detail {

struct Grid {
  float scale = 0.0f;  // >= 0, a value of the scale dtype
  float bias = 0.0f;   // a value of the scale dtype
};

// Nearest code (ties to even) of x on the grid, clamped to [0, qmax] (qmax < 2^8); 0 for a zero
// scale. Identical to clamp(nearbyint((x - bias) / scale), 0, qmax) for finite inputs, without
// a libm call or a branch on the value.
inline int nearest_code(float x, const Grid& g, int qmax) {
  if (!(g.scale > 0.0f)) return 0;
  float v = (x - g.bias) / g.scale;
  v = std::min(std::max(v, 0.0f), static_cast<float>(qmax));
  const float t = v + 12582912.0f;  // 1.5 * 2^23: the rounded integer lands in the low mantissa bits
  std::int32_t bits = 0;
  std::memcpy(&bits, &t, sizeof bits);
  return (bits & 0x007fffff) - 0x00400000;
}

// The decoder's value of code q (float32, as mlx_dequantize computes it).
inline float grid_value(const Grid& g, int q) { return g.scale * static_cast<float>(q) + g.bias; }

// Min/max grid of n values: bias = the minimum rounded down to the dtype, scale = range / qmax
// rounded to nearest and stepped up until the grid covers the maximum (every value within half
// a step). Throws ramq::Error for NaN/Inf or a range the dtype cannot hold.
Grid minmax_grid(const float* x, int n, int qmax, DType scale_dtype);

// Error-minimising grid of n values (src/encode/mlx_affine_search.cpp): the smallest squared
// error among the min/max grid, clipped ranges and least-squares refits, with no value erring
// by more than max(range / qmax, the min/max grid's largest error).
Grid search_grid(const float* x, int n, int qmax, DType scale_dtype);

}  // namespace ramq::mlx_detail
