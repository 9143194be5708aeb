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
// encode_*: n floats (n a multiple of the block size) -> n / block * block_bytes bytes.
// decode_*: the inverse, bit-exact with ggml's dequantize_row_*.

#define RAMQ_GGUF_CODEC(name)                                              \
  void encode_##name(const float* x, std::int64_t n, std::uint8_t* out); \
  void decode_##name(const std::uint8_t* in, std::int64_t n, float* y)

RAMQ_GGUF_CODEC(f32);    // float_types.cpp
RAMQ_GGUF_CODEC(f16);    // float_types.cpp
RAMQ_GGUF_CODEC(bf16);   // float_types.cpp
RAMQ_GGUF_CODEC(q4_0);   // q4_q5_legacy.cpp (also q4_1, q5_0, q5_1)
RAMQ_GGUF_CODEC(q4_1);
RAMQ_GGUF_CODEC(q5_0);
RAMQ_GGUF_CODEC(q5_1);
RAMQ_GGUF_CODEC(q8_0);   // q8_0.cpp
RAMQ_GGUF_CODEC(iq4_nl); // iq4_nl.cpp
RAMQ_GGUF_CODEC(q2_k);   // q2_k.cpp
RAMQ_GGUF_CODEC(q3_k);   // q3_k.cpp
RAMQ_GGUF_CODEC(q4_k);   // q4_k_q5_k.cpp (also q5_k)
RAMQ_GGUF_CODEC(q5_k);
RAMQ_GGUF_CODEC(q6_k);   // q6_k.cpp

#undef RAMQ_GGUF_CODEC

}  // namespace ramq::gguf
