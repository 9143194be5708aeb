// A whole file mapped read-only (mmap), shared by the safetensors and GGUF readers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace ramq {

// Zero-length files are not mapped (mmap rejects length 0); their bytes() is empty.
// Errors (cannot open, not a regular file, mmap failure) throw ramq::Error naming the file.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

  // Lets the kernel drop the pages covering [offset, offset + len). Failure is harmless and ignored.
  void release(std::uint64_t offset, std::uint64_t len) const;
  // Asks the kernel to read [offset, offset + len) ahead (MADV_WILLNEED), so that reading it
  // later overlaps with computing now. Failure is harmless and ignored.
  void prefetch(std::uint64_t offset, std::uint64_t len) const;

 private:
  std::string path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace ramq
