#include "ramq/dtype.h"

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>

namespace ramq {

namespace {
struct DTypeEntry {
  DType type;
  std::string_view name;
  std::size_t size;
};
constexpr std::array<DTypeEntry, 12> kDTypes{{
    {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2}, {DType::U32, "U32", 4},
    {DType::U8, "U8", 1},   {DType::I8, "I8", 1},   {DType::I16, "I16", 2},   {DType::I32, "I32", 4},
    {DType::I64, "I64", 8}, {DType::F64, "F64", 8}, {DType::BOOL, "BOOL", 1}, {DType::F8_E4M3, "F8_E4M3", 1},
}};
const DTypeEntry& entry(DType t) {
  for (const auto& e : kDTypes)
    if (e.type == t) return e;
  throw std::logic_error("unknown dtype enum value");
}
}  // namespace

std::string_view dtype_name(DType t) { return entry(t).name; }
std::size_t dtype_size(DType t) { return entry(t).size; }
std::optional<DType> parse_dtype(std::string_view s) {
  for (const auto& e : kDTypes)
    if (e.name == s) return e.type;
  return std::nullopt;
}
bool is_float_weight_dtype(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t man = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        man <<= 1;
      } while ((man & 0x400u) == 0);
      bits = sign | static_cast<std::uint32_t>(127 - 15 - e) << 23 | (man & 0x3ffu) << 13;
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | man << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | man << 13;
  }
  return std::bit_cast<float>(bits);
}

std::uint16_t f32_to_f16(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const std::uint32_t abs = x & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));  // NaN
  if (abs >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // >= 65520: inf
  if (abs < 0x38800000u) {  // below the smallest normal half: subnormal or zero
    // value = abs_float; half subnormal unit = 2^-24. Round to nearest even.
    const float a = std::bit_cast<float>(abs);
    const float scaled = a * 16777216.0f;  // exact (power of two)
    auto q = static_cast<std::uint32_t>(scaled);
    const float frac = scaled - static_cast<float>(q);
    if (frac > 0.5f || (frac == 0.5f && (q & 1u))) ++q;
    return static_cast<std::uint16_t>(sign | q);
  }
  // normal: rebias exponent, round mantissa from 23 to 10 bits (nearest even)
  std::uint32_t r = abs - ((127u - 15u) << 23);
  const std::uint32_t lsb = (r >> 13) & 1u;
  r += 0x0fffu + lsb;
  return static_cast<std::uint16_t>(sign | (r >> 13));
}

float bf16_to_f32(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

std::uint16_t f32_to_bf16(float f) {
  std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  const std::uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  return static_cast<std::uint16_t>(x >> 16);
}

float round_to_dtype(float f, DType t) {
  switch (t) {
    case DType::F16: return f16_to_f32(f32_to_f16(f));
    case DType::BF16: return bf16_to_f32(f32_to_bf16(f));
    default: return f;
  }
}

float e4m3_to_f32(std::uint8_t code) {
  const int exp = (code >> 3) & 0xf, man = code & 0x7;
  if (exp == 0xf && man == 0x7) return std::numeric_limits<float>::quiet_NaN();
  const float mag = exp == 0 ? std::ldexp(static_cast<float>(man), -9)                // m/8 * 2^(1-7)
                             : std::ldexp(static_cast<float>(8 + man), exp - 7 - 3);  // 1.m * 2^(e-7)
  return (code & 0x80) ? -mag : mag;
}

float e2m1_to_f32(std::uint8_t nibble) {
  static constexpr std::array<float, 8> kMag{0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  const float mag = kMag[nibble & 0x7];
  return (nibble & 0x8) ? -mag : mag;
}

float e8m0_to_f32(std::uint8_t s) {
  return s == 0xff ? std::numeric_limits<float>::quiet_NaN() : std::ldexp(1.0f, static_cast<int>(s) - 127);
}

void convert_to_f32(DType t, std::span<const std::byte> raw, std::span<float> out) {
  const std::size_t n = out.size();
  if (raw.size() != n * dtype_size(t)) throw std::invalid_argument("convert_to_f32: size mismatch");
  if (n == 0 && is_float_weight_dtype(t)) return;  // empty spans may hold null pointers: no memcpy on them
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  switch (t) {
    case DType::F32:
      std::memcpy(out.data(), p, n * 4);
      break;
    case DType::F16:
      for (std::size_t i = 0; i < n; ++i) out[i] = f16_to_f32(static_cast<std::uint16_t>(p[2 * i] | p[2 * i + 1] << 8));
      break;
    case DType::BF16:
      for (std::size_t i = 0; i < n; ++i) out[i] = bf16_to_f32(static_cast<std::uint16_t>(p[2 * i] | p[2 * i + 1] << 8));
      break;
    default:
      throw std::invalid_argument("convert_to_f32: not a float dtype");
  }
}

void convert_from_f32(DType t, std::span<const float> in, std::span<std::byte> out) {
  const std::size_t n = in.size();
  if (out.size() != n * dtype_size(t)) throw std::invalid_argument("convert_from_f32: size mismatch");
  if (n == 0 && is_float_weight_dtype(t)) return;
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  switch (t) {
    case DType::F32:
      std::memcpy(p, in.data(), n * 4);
      break;
    case DType::F16:
    case DType::BF16:
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint16_t h = t == DType::F16 ? f32_to_f16(in[i]) : f32_to_bf16(in[i]);
        p[2 * i] = static_cast<unsigned char>(h & 0xff);
        p[2 * i + 1] = static_cast<unsigned char>(h >> 8);
      }
      break;
    default:
      throw std::invalid_argument("convert_from_f32: not a float dtype");
  }
}

std::string shape_text(std::span<const std::int64_t> shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

}  // namespace ramq
