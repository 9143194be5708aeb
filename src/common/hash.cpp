#include "ramq/hash.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>
#include <vector>

#include "ramq/error.h"
#include "ramq/input_file.h"

namespace ramq {

namespace {
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

MdCtx new_sha256() {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) throw std::runtime_error("sha256 init failed");
  return ctx;
}

std::string finish_hex(EVP_MD_CTX* ctx) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, md.data(), &len) != 1) throw std::runtime_error("sha256 final failed");
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 0xf]);
  }
  return out;
}
}  // namespace

std::string sha256_hex(std::span<const std::byte> data) {
  auto ctx = new_sha256();
  EVP_DigestUpdate(ctx.get(), data.data(), data.size());
  return finish_hex(ctx.get());
}

// The file is mapped and hashed in pieces whose pages are dropped from the mapping as soon as
// they are hashed: no copy into a buffer, and the resident set stays at one piece.
std::string sha256_file_hex(const std::filesystem::path& path) {
  auto ctx = new_sha256();
  std::uint64_t file_size = 0;
  const int fd = open_regular_file(path, file_size);  // non-blocking: a FIFO is refused, not waited on
  const auto size = static_cast<std::size_t>(file_size);
  if (size > 0) {
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      ::close(fd);
      throw Error(path.string(), "", "cannot memory-map file for hashing");
    }
    ::madvise(map, size, MADV_SEQUENTIAL);
    constexpr std::size_t kPiece = std::size_t{64} << 20;  // a multiple of the page size
    auto* base = static_cast<unsigned char*>(map);
    for (std::size_t off = 0; off < size; off += kPiece) {
      const std::size_t len = std::min(kPiece, size - off);
      EVP_DigestUpdate(ctx.get(), base + off, len);
      ::madvise(base + off, len, MADV_DONTNEED);
    }
    ::munmap(map, size);
  }
  ::close(fd);
  return finish_hex(ctx.get());
}

}  // namespace ramq
