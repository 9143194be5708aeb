// GGUF v3 container: writing (streamed, aligned) and reading (mmap, validated).
// Layout: magic "GGUF", u32 version 3, u64 tensor_count, u64 kv_count, kv pairs, tensor infos
// (name, n_dims, ne[] in ggml order (fastest-varying first), type, offset relative to the data
// section), padding to general.alignment (default 32), then tensor data, each tensor aligned.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "ramq/ggml_types.h"

namespace ramq {

// GGUF metadata value types (gguf_type ids).
enum class GgufValueType : std::uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};

struct GgufArray;
// One metadata value. Arrays hold values of one element type.
struct GgufValue {
  GgufValueType type = GgufValueType::UINT32;
  std::variant<std::uint64_t, std::int64_t, double, bool, std::string, std::shared_ptr<GgufArray>> v;

  static GgufValue u32(std::uint32_t x);
  static GgufValue i32(std::int32_t x);
  static GgufValue u64(std::uint64_t x);
  static GgufValue f32(float x);
  static GgufValue boolean(bool x);
  static GgufValue str(std::string s);
  static GgufValue strings(std::vector<std::string> xs);
  static GgufValue f32s(std::vector<float> xs);
  static GgufValue i32s(std::vector<std::int32_t> xs);
  static GgufValue booleans(std::vector<bool> xs);
};
struct GgufArray {
  GgufValueType elem_type = GgufValueType::UINT8;
  std::vector<GgufValue> items;
};

struct GgufKV {
  std::string key;
  GgufValue value;
};

struct GgufTensorSpec {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<std::int64_t> ne;  // ggml order: ne[0] = row length (fastest varying)
  std::uint64_t nbytes() const;  // ggml_row_bytes(type, ne[0]) * product(ne[1..])
};

// The bytes before the data section: header, metadata, tensor infos (offsets of tensors padded to
// `alignment`), zero-padded to the alignment. Validates keys, names, dimensions and block sizes
// (ramq::Error naming `file`).
std::string gguf_header_bytes(const std::vector<GgufKV>& kvs, const std::vector<GgufTensorSpec>& tensors,
                              std::uint32_t alignment, const std::string& file);
// Size of the file GgufStreamWriter writes for these: the header plus every tensor padded.
std::uint64_t gguf_file_size(const std::vector<GgufKV>& kvs, const std::vector<GgufTensorSpec>& tensors,
                             std::uint32_t alignment, const std::string& file);

// Writes header, metadata and tensor infos first, then tensor data in order (padded to the
// alignment), so only one tensor needs to be in memory.
class GgufStreamWriter {
 public:
  GgufStreamWriter(const std::filesystem::path& path, const std::vector<GgufKV>& kvs,
                   std::vector<GgufTensorSpec> tensors, std::uint32_t alignment = 32);
  void write_next(const std::string& name, std::span<const std::byte> data);
  void finish();  // checks all tensors were written; throws ramq::Error on I/O failure
  std::uint64_t file_bytes() const { return file_bytes_; }

 private:
  std::filesystem::path path_;
  std::vector<GgufTensorSpec> tensors_;
  std::uint32_t alignment_;
  std::size_t next_ = 0;
  std::ofstream out_;
  std::uint64_t file_bytes_ = 0;
};

struct GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<std::int64_t> ne;
  std::uint64_t offset = 0;  // absolute offset in the file
  std::uint64_t nbytes = 0;
};

class MappedFile;

// A GGUF file opened for reading (mmap); every count, length and offset is validated.
class GgufReader {
 public:
  explicit GgufReader(const std::filesystem::path& path);  // throws ramq::Error(file, tensor, problem)
  ~GgufReader();
  GgufReader(const GgufReader&) = delete;
  GgufReader& operator=(const GgufReader&) = delete;

  std::uint32_t version() const { return version_; }
  const std::vector<GgufKV>& metadata() const { return kvs_; }
  const GgufValue* find(const std::string& key) const;
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(const std::string& name) const;
  std::span<const std::byte> data(const GgufTensorInfo& t) const;
  // Decodes a tensor to float32 (row-major, rows = product of ne[1..], cols = ne[0]).
  std::vector<float> load_f32(const GgufTensorInfo& t) const;

 private:
  std::filesystem::path path_;
  std::unique_ptr<MappedFile> file_;
  std::uint32_t version_ = 0;
  std::vector<GgufKV> kvs_;
  std::vector<GgufTensorInfo> tensors_;
};

}  // namespace ramq
