// MLX affine group quantization: w = scale * q + bias, q unsigned in [0, 2^bits - 1], one
// (scale, bias) per group of `group` consecutive elements of a row. Packed LSB-first: element i
// of a row occupies bits [i*bits, (i+1)*bits) of the row's little-endian bit stream, stored as
// uint32 words (cols * bits / 32 per row). Encoder and decoder live together here.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ramq/dtype.h"

namespace ramq {

bool mlx_bits_supported(int bits);    // 2, 3, 4, 5, 6, 8
bool mlx_group_supported(int group);  // 32, 64, 128

struct MlxQuantized {
  std::int64_t rows = 0, cols = 0;
  int bits = 4, group = 64;
  DType scale_dtype = DType::F16;  // F16 or BF16; scales/biases below are already rounded to it
  std::vector<std::uint32_t> packed;  // rows x (cols * bits / 32)
  std::vector<float> scales;          // rows x (cols / group)
  std::vector<float> biases;          // rows x (cols / group)
};

// Packs n values (each < 2^bits) into n*bits/32 words; n*bits must be a multiple of 32.
void mlx_pack(std::span<const std::uint8_t> q, int bits, std::span<std::uint32_t> out);
void mlx_unpack(std::span<const std::uint32_t> words, int bits, std::span<std::uint8_t> q);

// Quantizes a row-major matrix (cols % group == 0). Min/max affine per group; scale and bias
// are rounded to scale_dtype first and q is chosen against the rounded values.
MlxQuantized mlx_quantize(const float* w, std::int64_t rows, std::int64_t cols, int bits, int group,
                          DType scale_dtype);
// w[r, c] = scale * q + bias, computed in float32.
std::vector<float> mlx_dequantize(const MlxQuantized& q);

}  // namespace ramq
