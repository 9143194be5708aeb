// Test support: a deliberately separate, minimal safetensors reader (whole file in memory,
// no validation beyond what the tests need) so tests do not check ramq's reader against itself.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/run_ramq.h"

namespace ramq::testkit {

struct MiniTensor {
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::string bytes;
};

struct MiniFile {
  nlohmann::json header;
  std::map<std::string, std::string> metadata;
  std::map<std::string, MiniTensor> tensors;
};

inline MiniFile mini_read(const std::filesystem::path& p) {
  const std::string all = slurp(p);
  if (all.size() < 8) throw std::runtime_error("short file");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | static_cast<unsigned char>(all[static_cast<std::size_t>(i)]);
  MiniFile f;
  f.header = nlohmann::json::parse(all.substr(8, n));
  const std::size_t data = 8 + n;
  for (auto it = f.header.begin(); it != f.header.end(); ++it) {
    if (it.key() == "__metadata__") {
      for (auto m = it.value().begin(); m != it.value().end(); ++m) f.metadata[m.key()] = m.value().get<std::string>();
      continue;
    }
    MiniTensor t;
    t.dtype = it.value()["dtype"].get<std::string>();
    t.shape = it.value()["shape"].get<std::vector<std::int64_t>>();
    const auto b = it.value()["data_offsets"][0].get<std::size_t>(), e = it.value()["data_offsets"][1].get<std::size_t>();
    t.bytes = all.substr(data + b, e - b);
    f.tensors[it.key()] = std::move(t);
  }
  return f;
}

// IEEE half -> float, written independently of ramq's converter (via ldexp).
inline float mini_half(std::uint16_t h) {
  const int e = (h >> 10) & 31, m = h & 1023;
  const float sign = (h & 0x8000) ? -1.0f : 1.0f;
  if (e == 0) return sign * std::ldexp(static_cast<float>(m), -24);
  if (e == 31) return sign * INFINITY;
  return sign * std::ldexp(static_cast<float>(1024 + m), e - 25);
}

inline std::vector<float> mini_floats(const MiniTensor& t) {
  std::vector<float> out;
  if (t.dtype == "F32") {
    out.resize(t.bytes.size() / 4);
    std::memcpy(out.data(), t.bytes.data(), t.bytes.size());
  } else if (t.dtype == "BF16") {  // the high half of a float32
    for (std::size_t i = 0; i + 1 < t.bytes.size(); i += 2) {
      const std::uint32_t bits = (static_cast<std::uint32_t>(static_cast<unsigned char>(t.bytes[i])) |
                                  static_cast<std::uint32_t>(static_cast<unsigned char>(t.bytes[i + 1])) << 8)
                                 << 16;
      float f;
      std::memcpy(&f, &bits, 4);
      out.push_back(f);
    }
  } else if (t.dtype == "F16") {
    for (std::size_t i = 0; i + 1 < t.bytes.size(); i += 2)
      out.push_back(mini_half(static_cast<std::uint16_t>(static_cast<unsigned char>(t.bytes[i]) |
                                                         static_cast<unsigned char>(t.bytes[i + 1]) << 8)));
  } else {
    throw std::runtime_error("mini_floats: unsupported dtype " + t.dtype);
  }
  return out;
}

// MLX affine dequantization written from the format description: element i of a row is bits
// [i*bits, (i+1)*bits) of the row's little-endian bit stream.
inline std::vector<float> mini_mlx_dequant(const MiniTensor& w, const MiniTensor& scales, const MiniTensor& biases,
                                           int bits, int group) {
  const auto s = mini_floats(scales), b = mini_floats(biases);
  const std::int64_t rows = w.shape[0], words = w.shape[1];
  const std::int64_t cols = words * 32 / bits;
  std::vector<float> out(static_cast<std::size_t>(rows * cols));
  const auto* bytes = reinterpret_cast<const unsigned char*>(w.bytes.data());
  for (std::int64_t r = 0; r < rows; ++r) {
    const unsigned char* row = bytes + r * words * 4;
    for (std::int64_t c = 0; c < cols; ++c) {
      std::uint32_t q = 0;
      for (int k = 0; k < bits; ++k) {
        const std::int64_t bit = c * bits + k;
        q |= static_cast<std::uint32_t>((row[bit / 8] >> (bit % 8)) & 1) << k;
      }
      const std::size_t g = static_cast<std::size_t>(r * (cols / group) + c / group);
      out[static_cast<std::size_t>(r * cols + c)] = s[g] * static_cast<float>(q) + b[g];
    }
  }
  return out;
}

}  // namespace ramq::testkit
