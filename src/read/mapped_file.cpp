// MappedFile: a whole file mapped read-only.
#include "read/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "ramq/error.h"
#include "ramq/input_file.h"

namespace ramq {

MappedFile::MappedFile(const std::string& path) : path_(path) {
  std::uint64_t size = 0;
  const int fd = open_regular_file(path, size);  // non-blocking: a FIFO is refused, not waited on
  size_ = static_cast<std::size_t>(size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      throw Error(path, "", std::string("cannot memory-map: ") + std::strerror(err));
    }
    data_ = static_cast<const std::byte*>(p);
  }
  ::close(fd);  // the mapping stays valid without the descriptor
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
}

namespace {
// [first, last) page-aligned range of the mapping that covers [offset, offset + len).
bool page_range(std::uint64_t offset, std::uint64_t len, std::size_t size, std::uint64_t& first, std::uint64_t& last) {
  if (len == 0 || offset >= size) return false;
  const long page_l = ::sysconf(_SC_PAGESIZE);
  const std::uint64_t page = page_l > 0 ? static_cast<std::uint64_t>(page_l) : 4096;
  const std::uint64_t end = std::min<std::uint64_t>(offset + len, size);
  first = offset / page * page;
  last = std::min<std::uint64_t>((end + page - 1) / page * page, (size + page - 1) / page * page);
  return true;
}
}  // namespace

void MappedFile::release(std::uint64_t offset, std::uint64_t len) const {
  std::uint64_t first = 0, last = 0;
  if (!data_ || !page_range(offset, len, size_, first, last)) return;
  ::madvise(const_cast<std::byte*>(data_) + first, static_cast<std::size_t>(last - first), MADV_DONTNEED);
}

void MappedFile::prefetch(std::uint64_t offset, std::uint64_t len) const {
  std::uint64_t first = 0, last = 0;
  if (!data_ || !page_range(offset, len, size_, first, last)) return;
  ::madvise(const_cast<std::byte*>(data_) + first, static_cast<std::size_t>(last - first), MADV_WILLNEED);
}

}  // namespace ramq
