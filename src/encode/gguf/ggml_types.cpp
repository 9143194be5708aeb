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

using EncodeFn = void (*)(const float*, std::int64_t, std::uint8_t*);
using DecodeFn = void (*)(const std::uint8_t*, std::int64_t, float*);

constexpr std::array<GgmlTypeInfo, 14> kTypes = {{
    {GgmlType::F32, "F32", 1, 4},
    {GgmlType::F16, "F16", 1, 2},
    {GgmlType::Q4_0, "Q4_0", 32, 18},
    {GgmlType::Q4_1, "Q4_1", 32, 20},
    {GgmlType::Q5_0, "Q5_0", 32, 22},
    {GgmlType::Q5_1, "Q5_1", 32, 24},
    {GgmlType::Q8_0, "Q8_0", 32, 34},
    {GgmlType::Q2_K, "Q2_K", 256, 84},
    {GgmlType::Q3_K, "Q3_K", 256, 110},
    {GgmlType::Q4_K, "Q4_K", 256, 144},
    {GgmlType::Q5_K, "Q5_K", 256, 176},
    {GgmlType::Q6_K, "Q6_K", 256, 210},
    {GgmlType::IQ4_NL, "IQ4_NL", 32, 18},
    {GgmlType::BF16, "BF16", 1, 2},
}};

struct Codec {
  EncodeFn encode;
  DecodeFn decode;
};

// Same order as kTypes.
constexpr std::array<Codec, 14> kCodecs = {{
    {gguf::encode_f32, gguf::decode_f32},
    {gguf::encode_f16, gguf::decode_f16},
    {gguf::encode_q4_0, gguf::decode_q4_0},
    {gguf::encode_q4_1, gguf::decode_q4_1},
    {gguf::encode_q5_0, gguf::decode_q5_0},
    {gguf::encode_q5_1, gguf::decode_q5_1},
    {gguf::encode_q8_0, gguf::decode_q8_0},
    {gguf::encode_q2_k, gguf::decode_q2_k},
    {gguf::encode_q3_k, gguf::decode_q3_k},
    {gguf::encode_q4_k, gguf::decode_q4_k},
    {gguf::encode_q5_k, gguf::decode_q5_k},
    {gguf::encode_q6_k, gguf::decode_q6_k},
    {gguf::encode_iq4_nl, gguf::decode_iq4_nl},
    {gguf::encode_bf16, gguf::decode_bf16},
}};

std::size_t index_of(GgmlType t) {
  for (std::size_t i = 0; i < kTypes.size(); ++i) {
    if (kTypes[i].type == t) return i;
  }
  throw std::invalid_argument("unsupported ggml type id " + std::to_string(static_cast<std::uint32_t>(t)));
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

float gguf_largest_value(GgmlType t) {
  constexpr float h = 65504.0f;  // the largest finite F16 value
  switch (t) {
    case GgmlType::F32:
    case GgmlType::BF16: return std::numeric_limits<float>::max();
    case GgmlType::F16:
    case GgmlType::Q4_1:
    case GgmlType::Q5_1: return h;
    case GgmlType::Q8_0: return 127.0f * h;
    case GgmlType::Q4_0: return 8.0f * h;
    case GgmlType::Q5_0: return 16.0f * h;
    case GgmlType::Q2_K: return 15.0f * h;
    case GgmlType::Q3_K: return 32.0f * 4.0f * h;
    case GgmlType::Q4_K:
    case GgmlType::Q5_K: return 63.0f * h;
    case GgmlType::Q6_K: return 128.0f * 32.0f * h;
    case GgmlType::IQ4_NL: return 127.0f * h;
  }
  throw std::invalid_argument("gguf_largest_value: unknown type");
}

std::optional<std::int64_t> gguf_first_unrepresentable(GgmlType t, const float* src, std::int64_t n) {
  const float limit = gguf_largest_value(t);
  for (std::int64_t i = 0; i < n; ++i)
    if (!(std::fabs(src[i]) <= limit)) return i;
  return std::nullopt;
}

std::span<const GgmlTypeInfo> ggml_types() { return kTypes; }

const GgmlTypeInfo& ggml_type_info(GgmlType t) { return kTypes[index_of(t)]; }

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
  const Codec& codec = kCodecs[index_of(t)];
  // Rows are contiguous and every block is encoded on its own: the rows are one run of blocks.
  if (rows > 0 && cols > 0) codec.encode(src, rows * cols, reinterpret_cast<std::uint8_t*>(dst));
}

void gguf_decode_rows(GgmlType t, const std::byte* src, std::int64_t rows, std::int64_t cols, float* dst) {
  const std::size_t row_bytes = check_rows(t, src, rows, cols, dst, "gguf_decode_rows");
  const Codec& codec = kCodecs[index_of(t)];
  const auto* in = reinterpret_cast<const std::uint8_t*>(src);
  for (std::int64_t r = 0; r < rows && cols > 0; ++r) {
    codec.decode(in + static_cast<std::size_t>(r) * row_bytes, cols, dst + r * cols);
  }
}

}  // namespace ramq
