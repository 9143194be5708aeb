// Writing safetensors files as a stream: the header (8-byte little-endian length + JSON padded
// with spaces to a multiple of 8) is written first from the tensor specs, then each tensor's
// bytes in the same order, so no more than one tensor needs to be in memory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "ramq/dtype.h"

namespace ramq {

struct OutTensorSpec {
  std::string name;
  DType dtype = DType::F16;
  std::vector<std::int64_t> shape;
  std::uint64_t nbytes() const;  // numel * dtype_size
};

// Header bytes (length prefix included) for tensors laid out in the given order.
std::vector<std::byte> safetensors_header_bytes(const std::vector<OutTensorSpec>& tensors,
                                               const std::map<std::string, std::string>& metadata);

class SafetensorsStreamWriter {
 public:
  SafetensorsStreamWriter(const std::filesystem::path& path, std::vector<OutTensorSpec> tensors,
                          const std::map<std::string, std::string>& metadata);
  // Appends the data of the next tensor; its size must equal that tensor's nbytes().
  void write_next(const std::string& name, std::span<const std::byte> data);
  // Checks all tensors were written and flushes; throws ramq::Error on I/O failure.
  void finish();
  std::uint64_t file_bytes() const { return file_bytes_; }

 private:
  std::filesystem::path path_;
  std::vector<OutTensorSpec> tensors_;
  std::size_t next_ = 0;
  std::ofstream out_;
  std::uint64_t file_bytes_ = 0;
};

}  // namespace ramq
