// Test helper (header-only): builds safetensors files byte by byte, plus temp directories.
//
// Files are held in std::string (one char per byte) so they are easy to edit and write.
//
//   ramq::testkit::SafetensorsBuilder b;
//   b.add("w", ramq::DType::F16, {2, 2}, {1.0f, -2.0f, 0.5f, 0.0f})   // encoded exactly
//    .add_rounded("r", ramq::DType::BF16, {2}, {0.1f, 0.2f})           // rounded like ramq does
//    .add_raw("ids", "I32", {2}, std::string(8, '\0'))                 // any dtype text, raw data
//    .metadata("format", "pt");
//   std::string file = b.bytes();          // 8-byte length + header JSON + data
//   b.write(dir / "model.safetensors");
//
//   // Arbitrary (possibly broken) files:
//   std::string f = ramq::testkit::raw_safetensors(R"({"a":{...}})", data_bytes);
//   std::string g = ramq::testkit::raw_safetensors(header, data, /*declared header length*/ 1ull << 63);
//
//   ramq::testkit::TempDir tmp;            // unique dir under temp_directory_path(); removed in dtor
//   ramq::testkit::write_file(tmp.path() / "config.json", ramq::testkit::tiny_config_json());
//   ramq::testkit::write_model(tmp.path(), b);   // config.json (tiny_config_json()) + model.safetensors
//
// add() is independent of ramq's own converters: F32 is the IEEE bit pattern, and F16/BF16 values
// must be exactly representable (else std::invalid_argument), so expected values are exact.
// add_rounded() accepts any values and rounds with ramq::convert_from_f32.
#pragma once

#include <unistd.h>

#include <atomic>
#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramq/dtype.h"
#include "support/temp_dir.h"

namespace ramq::testkit {

// 8 bytes, little-endian.
inline std::string le_u64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xffu);
  return s;
}

// A safetensors file from raw parts: le_u64(declared_len or header.size()) + header + data.
inline std::string raw_safetensors(std::string_view header_json, std::string_view data = {},
                                   std::optional<std::uint64_t> declared_len = std::nullopt) {
  std::string out = le_u64(declared_len ? *declared_len : header_json.size());
  out.append(header_json);
  out.append(data);
  return out;
}

// Exact F16 bit pattern of f; throws std::invalid_argument if f is not exactly representable.
inline std::uint16_t exact_f16_bits(float f) {
  const auto x = std::bit_cast<std::uint32_t>(f);
  const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t a = x & 0x7fffffffu;
  if (a == 0) return sign;
  if (a == 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7c00u);
  if (a > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u);  // NaN
  const int e = static_cast<int>(a >> 23) - 127;
  const std::uint32_t full = 0x800000u | (a & 0x7fffffu);
  if (a >= 0x00800000u && e >= -14 && e <= 15 && (full & 0x1fffu) == 0)
    return static_cast<std::uint16_t>(sign | static_cast<std::uint32_t>(e + 15) << 10 | (full & 0x7fffffu) >> 13);
  if (a >= 0x00800000u && e >= -24 && e < -14) {
    const int shift = -1 - e;  // value = (full >> shift) * 2^-24
    if ((full & ((1u << shift) - 1u)) == 0) return static_cast<std::uint16_t>(sign | full >> shift);
  }
  throw std::invalid_argument("exact_f16_bits: value not exactly representable as F16");
}

// Exact BF16 bit pattern of f; throws std::invalid_argument if f is not exactly representable.
inline std::uint16_t exact_bf16_bits(float f) {
  const auto x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0xffffu) != 0) throw std::invalid_argument("exact_bf16_bits: value not exactly representable as BF16");
  return static_cast<std::uint16_t>(x >> 16);
}

// Little-endian bytes of values as F32, F16 or BF16 (exact; see above).
inline std::string encode_floats(DType dtype, std::span<const float> values) {
  std::string out;
  for (const float v : values) {
    if (dtype == DType::F32) {
      const auto b = std::bit_cast<std::uint32_t>(v);
      for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((b >> (8 * i)) & 0xffu));
    } else if (dtype == DType::F16 || dtype == DType::BF16) {
      const std::uint16_t h = dtype == DType::F16 ? exact_f16_bits(v) : exact_bf16_bits(v);
      out.push_back(static_cast<char>(h & 0xffu));
      out.push_back(static_cast<char>(h >> 8));
    } else {
      throw std::invalid_argument("encode_floats: dtype must be F32, F16 or BF16");
    }
  }
  return out;
}

// Builds a valid safetensors file: tensors are laid out contiguously in the order added.
class SafetensorsBuilder {
 public:
  struct Entry {
    std::string name;
    std::string dtype;  // safetensors spelling, written verbatim
    std::vector<std::int64_t> shape;
    std::string data;
  };

  // Float tensor; values.size() must equal the product of shape.
  SafetensorsBuilder& add(const std::string& name, DType dtype, std::vector<std::int64_t> shape,
                          const std::vector<float>& values) {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    if (static_cast<std::size_t>(n) != values.size()) throw std::invalid_argument("SafetensorsBuilder::add: size");
    return add_raw(name, std::string(dtype_name(dtype)), std::move(shape), encode_floats(dtype, values));
  }
  // Float tensor with arbitrary values, rounded to nearest-even by ramq::convert_from_f32 (use
  // ramq::round_to_dtype to get the expected decoded values).
  SafetensorsBuilder& add_rounded(const std::string& name, DType dtype, std::vector<std::int64_t> shape,
                                  const std::vector<float>& values) {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    if (static_cast<std::size_t>(n) != values.size()) throw std::invalid_argument("SafetensorsBuilder::add_rounded: size");
    std::string data(values.size() * dtype_size(dtype), '\0');
    convert_from_f32(dtype, values, {reinterpret_cast<std::byte*>(data.data()), data.size()});
    return add_raw(name, std::string(dtype_name(dtype)), std::move(shape), std::move(data));
  }
  // Any dtype string and any data bytes (no checks): for non-float dtypes and broken entries.
  SafetensorsBuilder& add_raw(const std::string& name, const std::string& dtype, std::vector<std::int64_t> shape,
                              std::string data) {
    entries_.push_back({name, dtype, std::move(shape), std::move(data)});
    return *this;
  }
  SafetensorsBuilder& metadata(const std::string& key, const std::string& value) {
    metadata_[key] = value;
    return *this;
  }

  // The header JSON (keys sorted by nlohmann::json) and the concatenated data area.
  std::string header_json() const {
    nlohmann::json h = nlohmann::json::object();
    if (!metadata_.empty()) h["__metadata__"] = metadata_;
    std::uint64_t off = 0;
    for (const auto& e : entries_) {
      h[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {off, off + e.data.size()}}};
      off += e.data.size();
    }
    return h.dump();
  }
  std::string data() const {
    std::string d;
    for (const auto& e : entries_) d += e.data;
    return d;
  }
  // Header data offsets (relative to the data area) of the i-th added tensor: {begin, end}.
  std::pair<std::uint64_t, std::uint64_t> data_offsets(std::size_t i) const {
    std::uint64_t off = 0;
    for (std::size_t k = 0; k < i; ++k) off += entries_.at(k).data.size();
    return {off, off + entries_.at(i).data.size()};
  }
  std::string bytes() const { return raw_safetensors(header_json(), data()); }
  void write(const std::filesystem::path& path) const;

  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
  nlohmann::json metadata_ = nlohmann::json::object();
};

// Writes bytes to path (creating or truncating it); throws std::runtime_error on failure.
inline void write_file(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw std::runtime_error("write_file failed: " + path.string());
}

inline void SafetensorsBuilder::write(const std::filesystem::path& path) const { write_file(path, bytes()); }

// As a std::span<const std::byte>, for parse_safetensors_header.
inline std::span<const std::byte> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// A small valid Llama config.json (hidden 8, 1 layer, 2 heads, 1 kv head, vocab 16).
inline std::string tiny_config_json() {
  return R"({"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":8,)"
         R"("intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,)"
         R"("vocab_size":16,"max_position_embeddings":32,"rms_norm_eps":1e-05,"rope_theta":10000.0,)"
         R"("tie_word_embeddings":false})";
}

// A config.json of a model_type with no known tensor layout: tensors are not checked against it
// (src/arch/config_check.cpp). For tests whose tensors are arbitrary stand-ins for a model.
inline std::string opaque_config_json() {
  std::string c = tiny_config_json();
  return c.replace(c.find("\"llama\""), 7, "\"opaque\"");
}

// Writes a single-file model: dir/config.json (config_text) and dir/model.safetensors.
inline void write_model(const std::filesystem::path& dir, const SafetensorsBuilder& weights,
                        const std::string& config_text = tiny_config_json()) {
  write_file(dir / "config.json", config_text);
  weights.write(dir / "model.safetensors");
}


}  // namespace ramq::testkit
