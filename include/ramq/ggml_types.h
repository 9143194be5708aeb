// ggml tensor types that ramq writes into GGUF files, their block geometry, and one
// encoder/decoder pair per type (each in its own file under src/encode/gguf/).
// Byte layouts are bit-exact with ggml: ggml decodes exactly the values gguf_decode_rows returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace ramq {

// Values are ggml's `enum ggml_type` ids (stored in GGUF tensor infos).
enum class GgmlType : std::uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  IQ4_NL = 20,
  BF16 = 30,
};

struct GgmlTypeInfo {
  GgmlType type;
  std::string_view name;    // "Q4_K", as llama.cpp spells it
  std::int64_t block_size;  // elements per block (1 for F32/F16/BF16, 32, or 256 for K-quants)
  std::size_t block_bytes;  // bytes per block
};

// All supported types, in a fixed order.
std::span<const GgmlTypeInfo> ggml_types();
const GgmlTypeInfo& ggml_type_info(GgmlType t);
std::optional<GgmlType> parse_ggml_type(std::string_view name);  // "Q4_K" -> GgmlType::Q4_K
// Bytes of one row of n elements (n % block_size must be 0).
std::size_t ggml_row_bytes(GgmlType t, std::int64_t n);
// Average bits per weight of the type (block_bytes * 8 / block_size).
double ggml_bits_per_weight(GgmlType t);

// Encodes `rows` rows of `cols` floats (row-major; cols % block_size == 0) into
// rows * ggml_row_bytes(t, cols) bytes. Deterministic, independent of threads.
void gguf_encode_rows(GgmlType t, const float* src, std::int64_t rows, std::int64_t cols, std::byte* dst);
// Decodes what gguf_encode_rows (or ggml) wrote.
void gguf_decode_rows(GgmlType t, const std::byte* src, std::int64_t rows, std::int64_t cols, float* dst);

// The largest magnitude type t holds faithfully. Every 16-bit float field of a block (d, dmin, m)
// saturates at 65504, so a value beyond this bound would be clipped, or (far beyond it) make the
// encoders' sums of squares overflow: ggml's block layouts give, with d <= 65504, F16 65504; Q8_0
// 127 d; Q4_0 8 d and Q5_0 16 d (d = max / -8, / -16); Q4_1 and Q5_1 65504 (the block minimum is
// stored as m); Q2_K 15 dmin, Q4_K and Q5_K 63 dmin (the minimum side, the smaller); Q3_K 32 x 4 d
// and Q6_K 128 x 32 d (super-block scale times sub-block scale times quant); IQ4_NL 127 d. F32 and
// BF16 hold every finite float.
float gguf_largest_value(GgmlType t);
// The index of the first of n values beyond gguf_largest_value(t), or nullopt.
std::optional<std::int64_t> gguf_first_unrepresentable(GgmlType t, const float* src, std::int64_t n);

// ---- SIMD level of the encoders (GGUF here and MLX, include/ramq/mlx_affine.h)
// The encoders' hot loops exist for several instruction sets and are chosen at run time. The
// output never depends on the level: every level gives the same bytes (tested). By default the
// best level the CPU supports is used; the environment variable RAMQ_ISA=portable|avx2|avx512
// (read once, at the first encode) caps it, and set_simd_level overrides both (process-wide,
// thread-safe; for tests and benchmarks).
#define RAMQ_ENCODE_SIMD_API 1
enum class SimdLevel : int { Portable = 0, Avx2 = 1, Avx512 = 2 };
std::string_view simd_level_name(SimdLevel level);               // "portable", "avx2", "avx512"
std::optional<SimdLevel> parse_simd_level(std::string_view name);  // case-insensitive
// Levels this build and CPU can run, from Portable up (AVX-512 needs F, BW, DQ and VL).
std::vector<SimdLevel> supported_simd_levels();
SimdLevel simd_level();  // the level in use
// Throws std::invalid_argument if the level is not in supported_simd_levels().
void set_simd_level(SimdLevel level);
void reset_simd_level();  // back to the default (RAMQ_ISA, else the best supported level)

}  // namespace ramq
