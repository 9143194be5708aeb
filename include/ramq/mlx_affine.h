// MLX affine group quantization: w = scale * q + bias, q unsigned in [0, 2^bits - 1], one
// (scale, bias) per group of `group` consecutive elements of a row. Packed LSB-first: element i
// of a row occupies bits [i*bits, (i+1)*bits) of the row's little-endian bit stream, stored as
// uint32 words (cols * bits / 32 per row). Encoder and decoder live together here.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
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

// Quantizes a row-major matrix (cols % group == 0) with the default, error-minimising encoder:
// per group, the (scale, bias) with the smallest squared reconstruction error among the
// min/max grid, ranges clipped symmetrically by up to min(1/2, 2/2^bits) of the group's range,
// and least-squares refits of (scale, bias) to the chosen codes (alternated with re-assigning
// the codes while the error falls). No element errs by more than max(range / (2^bits - 1), the
// min/max grid's largest error), so outliers are never clipped away. Scale and bias are values
// of scale_dtype and every code is the nearest one for them. Deterministic.
MlxQuantized mlx_quantize(const float* w, std::int64_t rows, std::int64_t cols, int bits, int group,
                          DType scale_dtype);
// Plain min/max round-to-nearest, the reference: bias = the group minimum rounded down to
// scale_dtype, scale = (max - bias) / (2^bits - 1) rounded and stepped up until the grid covers
// the maximum, q = the nearest code (every element within half a step).
MlxQuantized mlx_quantize_minmax(const float* w, std::int64_t rows, std::int64_t cols, int bits, int group,
                                 DType scale_dtype);

// Which encoder writes MLX output (Options::mlx_encoder): "search" (mlx_quantize, the default)
// or "minmax" (mlx_quantize_minmax).
enum class MlxEncoder { Search, MinMax };
std::optional<MlxEncoder> parse_mlx_encoder(std::string_view name);
std::string_view mlx_encoder_name(MlxEncoder e);  // "search", "minmax"
MlxQuantized mlx_quantize(const float* w, std::int64_t rows, std::int64_t cols, int bits, int group,
                          DType scale_dtype, MlxEncoder encoder);
// w[r, c] = scale * q + bias, computed in float32.
std::vector<float> mlx_dequantize(const MlxQuantized& q);

}  // namespace ramq
