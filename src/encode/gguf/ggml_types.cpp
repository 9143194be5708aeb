// The ggml type table and the row encode/decode dispatch (codecs: src/encode/gguf/*.cpp).
// Type ids, block sizes and block bytes are ggml's (ggml.h enum ggml_type, ggml-common.h).
#include "ramq/ggml_types.h"

#include <array>
#include <cctype>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "encode/gguf/codec_common.h"

namespace ramq {
namespace {

// Every 16-bit float field of a block saturates at the largest finite F16 value.
constexpr float kF16Max = 65504.0f;
constexpr float kFloatMax = std::numeric_limits<float>::max();

// The codecs (one file each under src/encode/gguf/; several types may share a file).
#define RAMQ_GGUF_CODEC(name)                                              \
  void encode_##name(const float* x, std::int64_t n, std::uint8_t* out); \
  void decode_##name(const std::uint8_t* in, std::int64_t n, float* y)
}  // namespace
namespace gguf {
RAMQ_GGUF_CODEC(f32);    // float_types.cpp
RAMQ_GGUF_CODEC(f16);    // float_types.cpp
RAMQ_GGUF_CODEC(bf16);   // float_types.cpp
RAMQ_GGUF_CODEC(q4_0);   // q4_q5_legacy.cpp (also q4_1, q5_0, q5_1)
RAMQ_GGUF_CODEC(q4_1);
RAMQ_GGUF_CODEC(q5_0);
RAMQ_GGUF_CODEC(q5_1);
RAMQ_GGUF_CODEC(q8_0);   // q8_0.cpp
RAMQ_GGUF_CODEC(iq4_nl); // iq4_nl.cpp
RAMQ_GGUF_CODEC(mxfp4);  // mxfp4.cpp
RAMQ_GGUF_CODEC(q2_k);   // q2_k.cpp
RAMQ_GGUF_CODEC(q3_k);   // q3_k.cpp
RAMQ_GGUF_CODEC(q4_k);   // q4_k_q5_k.cpp (also q5_k)
RAMQ_GGUF_CODEC(q5_k);
RAMQ_GGUF_CODEC(q6_k);   // q6_k.cpp
}  // namespace gguf
#undef RAMQ_GGUF_CODEC
namespace {

// The type table, one row per type. Ids, block sizes and block bytes are ggml's (ggml.h,
// ggml-common.h); file types llama.h's llama_ftype. Largest values, from ggml's block layouts
// with every fp16 field d <= 65504: F16 65504; Q8_0 127 d; Q4_0 8 d and Q5_0 16 d (d = max / -8,
// / -16); Q4_1 and Q5_1 65504 (the block minimum is stored as m); Q2_K 15 dmin, Q4_K and Q5_K
// 63 dmin (the minimum side, the smaller); Q3_K 32 x 4 d and Q6_K 128 x 32 d (super-block scale
// times sub-block scale times quant); IQ4_NL 127 d. F32 and BF16 hold every finite float.
// Columns: type, name, block, bytes, nominal bits, file type, largest value, rd order, fallback
// order, encode, decode.
constexpr std::array<GgmlTypeInfo, 15> kTypes = {{
    {GgmlType::F32, "F32", 1, 4, 16, 0, kFloatMax, 0, 0, gguf::encode_f32, gguf::decode_f32},
    {GgmlType::F16, "F16", 1, 2, 16, 1, kF16Max, 0, 0, gguf::encode_f16, gguf::decode_f16},
    {GgmlType::Q4_0, "Q4_0", 32, 18, 4, 2, 8.0f * kF16Max, 8, 2, gguf::encode_q4_0, gguf::decode_q4_0},
    {GgmlType::Q4_1, "Q4_1", 32, 20, 4, 3, kF16Max, 9, 3, gguf::encode_q4_1, gguf::decode_q4_1},
    {GgmlType::Q5_0, "Q5_0", 32, 22, 5, 8, 16.0f * kF16Max, 10, 4, gguf::encode_q5_0, gguf::decode_q5_0},
    {GgmlType::Q5_1, "Q5_1", 32, 24, 5, 9, kF16Max, 11, 5, gguf::encode_q5_1, gguf::decode_q5_1},
    {GgmlType::Q8_0, "Q8_0", 32, 34, 8, 7, 127.0f * kF16Max, 6, 6, gguf::encode_q8_0, gguf::decode_q8_0},
    {GgmlType::Q2_K, "Q2_K", 256, 84, 2, 10, 15.0f * kF16Max, 1, 0, gguf::encode_q2_k, gguf::decode_q2_k},
    {GgmlType::Q3_K, "Q3_K", 256, 110, 3, 12, 32.0f * 4.0f * kF16Max, 2, 0, gguf::encode_q3_k, gguf::decode_q3_k},
    {GgmlType::Q4_K, "Q4_K", 256, 144, 4, 15, 63.0f * kF16Max, 3, 0, gguf::encode_q4_k, gguf::decode_q4_k},
    {GgmlType::Q5_K, "Q5_K", 256, 176, 5, 17, 63.0f * kF16Max, 4, 0, gguf::encode_q5_k, gguf::decode_q5_k},
    {GgmlType::Q6_K, "Q6_K", 256, 210, 6, 18, 128.0f * 32.0f * kF16Max, 5, 0, gguf::encode_q6_k, gguf::decode_q6_k},
    {GgmlType::IQ4_NL, "IQ4_NL", 32, 18, 4, 25, 127.0f * kF16Max, 7, 1, gguf::encode_iq4_nl, gguf::decode_iq4_nl},
    {GgmlType::MXFP4, "MXFP4", 32, 17, 4, 38, 3.0f * 0x1p126f, 0, 0, gguf::encode_mxfp4, gguf::decode_mxfp4},  // mxfp4.cpp
    {GgmlType::BF16, "BF16", 1, 2, 16, 32, kFloatMax, 0, 0, gguf::encode_bf16, gguf::decode_bf16},
}};

const GgmlTypeInfo* find_type(GgmlType t) {
  for (const auto& info : kTypes)
    if (info.type == t) return &info;
  return nullptr;
}

// Validates a rows x cols request and returns the row size in bytes.
std::size_t check_rows(GgmlType t, const void* src, std::int64_t rows, std::int64_t cols, const void* dst,
                       const char* what) {
  const GgmlTypeInfo& info = ggml_type_info(t);
  if (rows < 0 || cols < 0) throw std::invalid_argument(std::string(what) + ": negative rows or cols");
  if (cols % info.block_size != 0) {
    throw std::invalid_argument(std::string(what) + ": " + std::to_string(cols) + " columns is not a multiple of the " +
                                std::string(info.name) + " block size " + std::to_string(info.block_size));
  }
  if (rows > 0 && cols > 0 && (src == nullptr || dst == nullptr)) {
    throw std::invalid_argument(std::string(what) + ": null buffer");
  }
  return ggml_row_bytes(t, cols);
}

}  // namespace

float gguf_largest_value(GgmlType t) { return ggml_type_info(t).largest_value; }

std::optional<std::int64_t> gguf_first_unrepresentable(GgmlType t, const float* src, std::int64_t n) {
  const float limit = gguf_largest_value(t);
  for (std::int64_t i = 0; i < n; ++i)
    if (!(std::fabs(src[i]) <= limit)) return i;
  return std::nullopt;
}

std::span<const GgmlTypeInfo> ggml_types() { return kTypes; }

const GgmlTypeInfo& ggml_type_info(GgmlType t) {
  if (const GgmlTypeInfo* info = find_type(t)) return *info;
  throw std::invalid_argument("unsupported ggml type id " + std::to_string(static_cast<std::uint32_t>(t)));
}

bool ggml_type_supported(GgmlType t) { return find_type(t) != nullptr; }

std::optional<GgmlType> parse_ggml_type(std::string_view name) {
  for (const GgmlTypeInfo& info : kTypes) {
    if (info.name.size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < name.size() && same; ++i) {
      same = std::toupper(static_cast<unsigned char>(name[i])) == static_cast<unsigned char>(info.name[i]);
    }
    if (same) return info.type;
  }
  return std::nullopt;
}

std::size_t ggml_row_bytes(GgmlType t, std::int64_t n) {
  const GgmlTypeInfo& info = ggml_type_info(t);
  if (n < 0 || n % info.block_size != 0) {
    throw std::invalid_argument("ggml_row_bytes: " + std::to_string(n) + " is not a multiple of the " +
                                std::string(info.name) + " block size " + std::to_string(info.block_size));
  }
  return static_cast<std::size_t>(n / info.block_size) * info.block_bytes;
}

double ggml_bits_per_weight(GgmlType t) {
  const GgmlTypeInfo& info = ggml_type_info(t);
  return static_cast<double>(info.block_bytes) * 8.0 / static_cast<double>(info.block_size);
}

void gguf_encode_rows(GgmlType t, const float* src, std::int64_t rows, std::int64_t cols, std::byte* dst) {
  check_rows(t, src, rows, cols, dst, "gguf_encode_rows");
  const GgmlTypeInfo& codec = ggml_type_info(t);
  // Rows are contiguous and every block is encoded on its own: the rows are one run of blocks.
  if (rows > 0 && cols > 0) codec.encode(src, rows * cols, reinterpret_cast<std::uint8_t*>(dst));
}

void gguf_decode_rows(GgmlType t, const std::byte* src, std::int64_t rows, std::int64_t cols, float* dst) {
  const std::size_t row_bytes = check_rows(t, src, rows, cols, dst, "gguf_decode_rows");
  const GgmlTypeInfo& codec = ggml_type_info(t);
  const auto* in = reinterpret_cast<const std::uint8_t*>(src);
  for (std::int64_t r = 0; r < rows && cols > 0; ++r) {
    codec.decode(in + static_cast<std::size_t>(r) * row_bytes, cols, dst + r * cols);
  }
}

}  // namespace ramq
