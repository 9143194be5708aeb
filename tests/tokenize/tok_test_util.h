// Helpers shared by the tokenizer tests.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ramq::toktest {

inline const std::string kShared = RAMQ_SHARED_DIR;

inline std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_bytes(const std::filesystem::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

inline std::vector<std::uint32_t> read_u32(const std::filesystem::path& p) {
  const std::string b = read_bytes(p);
  if (b.size() % 4 != 0) throw std::runtime_error(p.string() + ": size is not a multiple of 4");
  std::vector<std::uint32_t> ids(b.size() / 4);
  if (!ids.empty()) std::memcpy(ids.data(), b.data(), b.size());
  return ids;
}

// Index of the first difference (or the common length if one is a prefix of the other).
inline std::size_t first_mismatch(const std::vector<std::uint32_t>& a, const std::vector<std::uint32_t>& b) {
  std::size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return i;
}

}  // namespace ramq::toktest
