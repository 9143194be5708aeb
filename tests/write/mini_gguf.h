// Test support for the GGUF writer tests: a deliberately separate, minimal GGUF parser (whole file
// in memory, throws std::runtime_error on anything unexpected) so the writer is not checked
// against ramq's own GgufReader.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/run_ramq.h"

namespace ramq::testkit {

struct MiniValue {
  std::uint32_t type = 0;
  std::uint64_t u = 0;  // unsigned integers and bool
  std::int64_t i = 0;   // signed integers
  double f = 0;         // floats
  std::string s;
  std::uint32_t elem = 0;
  std::vector<MiniValue> arr;
};

struct MiniInfo {
  std::string name;
  std::vector<std::uint64_t> ne;
  std::uint32_t type = 0;
  std::uint64_t offset = 0;  // relative to the data section
};

struct MiniGguf {
  std::string bytes;
  std::uint32_t version = 0;
  std::vector<std::string> keys;  // in file order
  std::map<std::string, MiniValue> kv;
  std::vector<MiniInfo> tensors;  // in file order
  std::uint64_t infos_end = 0, data_start = 0;

  const MiniValue& at(const std::string& k) const {
    const auto it = kv.find(k);
    if (it == kv.end()) throw std::runtime_error("no key " + k);
    return it->second;
  }
  // Raw data bytes of tensor i given its byte size.
  std::string data(std::size_t i, std::uint64_t nbytes) const { return bytes.substr(data_start + tensors.at(i).offset, nbytes); }
};

class MiniParser {
 public:
  explicit MiniParser(std::string b) : b_(std::move(b)) {}

  std::uint64_t le(int n) {
    if (pos_ + static_cast<std::size_t>(n) > b_.size()) throw std::runtime_error("mini gguf: truncated");
    std::uint64_t v = 0;
    for (int k = 0; k < n; ++k) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(b_[pos_ + k])) << (8 * k);
    pos_ += static_cast<std::size_t>(n);
    return v;
  }
  std::string str() {
    const std::uint64_t n = le(8);
    if (n > b_.size() - pos_) throw std::runtime_error("mini gguf: string too long");
    std::string s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  MiniValue value(std::uint32_t t) {
    MiniValue v;
    v.type = t;
    switch (t) {
      case 0: v.u = le(1); break;
      case 1: v.i = static_cast<std::int8_t>(le(1)); break;
      case 2: v.u = le(2); break;
      case 3: v.i = static_cast<std::int16_t>(le(2)); break;
      case 4: v.u = le(4); break;
      case 5: v.i = static_cast<std::int32_t>(le(4)); break;
      case 6: {
        const auto bits = static_cast<std::uint32_t>(le(4));
        float f;
        std::memcpy(&f, &bits, 4);
        v.f = f;
        break;
      }
      case 7: v.u = le(1); break;
      case 8: v.s = str(); break;
      case 9: {
        v.elem = static_cast<std::uint32_t>(le(4));
        const std::uint64_t n = le(8);
        for (std::uint64_t k = 0; k < n; ++k) v.arr.push_back(value(v.elem));
        break;
      }
      case 10: v.u = le(8); break;
      case 11: v.i = static_cast<std::int64_t>(le(8)); break;
      case 12: {
        const std::uint64_t bits = le(8);
        std::memcpy(&v.f, &bits, 8);
        break;
      }
      default: throw std::runtime_error("mini gguf: bad value type");
    }
    return v;
  }

  MiniGguf parse() {
    MiniGguf g;
    if (b_.substr(0, 4) != "GGUF") throw std::runtime_error("mini gguf: magic");
    pos_ = 4;
    g.version = static_cast<std::uint32_t>(le(4));
    const std::uint64_t nt = le(8), nkv = le(8);
    for (std::uint64_t k = 0; k < nkv; ++k) {
      const std::string key = str();
      const auto t = static_cast<std::uint32_t>(le(4));
      g.keys.push_back(key);
      g.kv[key] = value(t);
    }
    std::uint64_t align = 32;
    if (g.kv.count("general.alignment")) align = g.kv["general.alignment"].u;
    for (std::uint64_t k = 0; k < nt; ++k) {
      MiniInfo t;
      t.name = str();
      const auto nd = static_cast<std::uint32_t>(le(4));
      for (std::uint32_t d = 0; d < nd; ++d) t.ne.push_back(le(8));
      t.type = static_cast<std::uint32_t>(le(4));
      t.offset = le(8);
      g.tensors.push_back(t);
    }
    g.infos_end = pos_;
    g.data_start = (pos_ + align - 1) / align * align;
    g.bytes = std::move(b_);
    return g;
  }

 private:
  std::string b_;
  std::size_t pos_ = 0;
};

inline MiniGguf mini_gguf(const std::filesystem::path& p) { return MiniParser(slurp(p)).parse(); }

}  // namespace ramq::testkit
