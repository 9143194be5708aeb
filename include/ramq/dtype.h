// Element types of safetensors files and the float conversions ramq needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ramq {

// F8_E4M3: the e4m3fn byte of FP8 checkpoints (DeepSeek-V3/R1, Qwen3-*-FP8), read only together
// with its block scales (ModelReader presents the pair as one float tensor).
enum class DType : std::uint8_t { F32, F16, BF16, U32, U8, I8, I16, I32, I64, F64, BOOL, F8_E4M3 };

std::string_view dtype_name(DType t);                  // safetensors spelling, e.g. "BF16"
std::optional<DType> parse_dtype(std::string_view s);  // nullopt for unknown names
std::size_t dtype_size(DType t);                       // bytes per element
bool is_float_weight_dtype(DType t);                   // F32, F16 or BF16: the inputs ramq quantizes

float f16_to_f32(std::uint16_t h);
std::uint16_t f32_to_f16(float f);  // round to nearest even, overflow to inf, NaN kept
float bf16_to_f32(std::uint16_t b);
std::uint16_t f32_to_bf16(float f);  // round to nearest even, NaN kept

// Value after a round trip through a 16-bit float type (F16 or BF16); F32 returns f unchanged.
float round_to_dtype(float f, DType t);

// Element codes of the block-scaled input formats (exact; docs/formats.md, "Inputs").
// e4m3fn: sign, 4 exponent bits (bias 7), 3 mantissa bits; exponent 0 is subnormal
// (m/8 * 2^-6), no infinities, S.1111.111 is NaN; largest finite value 448.
float e4m3_to_f32(std::uint8_t code);
// E2M1 (OCP MX): a 4-bit code, sign in bit 3: 0, 0.5, 1, 1.5, 2, 3, 4, 6 and their negatives.
float e2m1_to_f32(std::uint8_t nibble);
// E8M0 (OCP MX scale): 2^(s - 127) for s in 0..254 (2^-127 is an F32 subnormal); 255 is NaN.
float e8m0_to_f32(std::uint8_t s);

// Converts little-endian raw elements of type t (F32/F16/BF16) to float32.
void convert_to_f32(DType t, std::span<const std::byte> raw, std::span<float> out);
// Writes floats as little-endian elements of type t (F32/F16/BF16); out.size() == in.size() * dtype_size(t).
void convert_from_f32(DType t, std::span<const float> in, std::span<std::byte> out);

// "[4, 32]": a shape as error messages show it.
std::string shape_text(std::span<const std::int64_t> shape);

}  // namespace ramq
