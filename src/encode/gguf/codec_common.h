// Internals shared by the GGUF block codecs in src/encode/gguf/: fp16 fields, little-endian access,
// and one encode/decode pair per ggml type. The encoders' scale searches are SIMD kernels
// (src/encode/simd/gguf_kernels.cpp, chosen at run time: simd::kernels()); the files here lay
// their results out as ggml's bytes.
//
// Decoders repeat ggml's dequantize_row_* float operations in the same order (ggml-quants.c), so
// their output is bit-identical to ggml's to_float. These sources are compiled with
// -ffp-contract=off so that a*b-c is never fused.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "encode/simd/kernels.h"
#include "ramq/dtype.h"

namespace ramq::gguf {

// ---------------------------------------------------------------- fields

// fp16 field: round to nearest even; finite values beyond the fp16 range saturate to +-65504
// (an encoder never writes inf), NaN becomes 0.
inline std::uint16_t to_fp16(float f) {
  return std::isnan(f) ? std::uint16_t{0} : f32_to_f16(std::clamp(f, -65504.0f, 65504.0f));
}
inline float from_fp16(std::uint16_t h) { return f16_to_f32(h); }

inline std::uint16_t get_u16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
inline void put_u16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v & 0xffu);
  p[1] = static_cast<std::uint8_t>(v >> 8);
}

// Blocks the encoders search at once (bounded stack use; results never depend on the chunking).
inline constexpr std::int64_t kChunkBlocks = 32;

// ---------------------------------------------------------------- codecs
// Each codec file defines encode_<type> (n floats, n a multiple of the block size, -> n / block
// * block_bytes bytes) and decode_<type> (the inverse, bit-exact with ggml's dequantize_row_*) in
// this namespace; the type table (ggml_types.cpp) declares them and holds their rows.

}  // namespace ramq::gguf
