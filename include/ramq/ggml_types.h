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

// ggml's `enum ggml_type` ids (ggml.h), as stored in GGUF tensor infos: every id ggml defines,
// whether or not ramq encodes it. The types ramq can write and read are the rows of ggml_types().
enum class GgmlType : std::uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

// One row of the type table: everything ramq knows about a ggml type. Each codec file under
// src/encode/gguf/ holds the encoder and decoder of its types; src/encode/gguf/ggml_types.cpp
// holds the rows. Adding a type is one codec file and one row.
struct GgmlTypeInfo {
  GgmlType type;
  std::string_view name;    // "Q4_K", as llama.cpp spells it
  std::int64_t block_size;  // elements per block (1 for F32/F16/BF16, 32, or 256 for K-quants)
  std::size_t block_bytes;  // bytes per block
  // The plan's bit class of the type: 2 for Q2_K ... 8 for Q8_0; 16 for float types.
  int nominal_bits;
  // llama.h's llama_ftype of a file whose most common type this is (general.file_type; the K
  // types as their _M mixes).
  std::uint32_t file_type;
  // The largest magnitude the type holds faithfully (gguf_largest_value).
  float largest_value;
  // Position among the rate-distortion candidates, 1 first (0: not a candidate).
  int rd_order;
  // Position among ramq's fallbacks for rows that do not fit a type's block, 1 first (0: none).
  int fallback_order;
  // n floats (n a multiple of block_size) -> n / block_size * block_bytes bytes, and back
  // (bit-exact with ggml's dequantize_row_*).
  void (*encode)(const float* x, std::int64_t n, std::uint8_t* out);
  void (*decode)(const std::uint8_t* in, std::int64_t n, float* y);
  bool is_float() const { return block_size == 1; }
};

// All supported types, in a fixed order.
std::span<const GgmlTypeInfo> ggml_types();
// Throws std::invalid_argument for an id ramq does not support; ggml_type_supported asks first.
const GgmlTypeInfo& ggml_type_info(GgmlType t);
bool ggml_type_supported(GgmlType t);
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

// The largest magnitude type t holds faithfully (its row's largest_value). Every 16-bit float
// field of a block (d, dmin, m) saturates at 65504, so a value beyond this bound would be
// clipped, or (far beyond it) make the encoders' sums of squares overflow; each codec file
// derives its types' bound from ggml's block layout.
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
