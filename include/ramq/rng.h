// Deterministic random numbers, identical on every platform and standard library
// (std::normal_distribution is implementation-defined, so ramq does not use it).
#pragma once

#include <cstdint>
#include <string_view>

namespace ramq {

// 64-bit FNV-1a of a string: used to derive per-tensor seeds from tensor names.
std::uint64_t fnv1a64(std::string_view s);

// xoshiro256** seeded through splitmix64.
class Rng {
 public:
  explicit Rng(std::uint64_t seed);
  std::uint64_t next_u64();
  double uniform();        // [0, 1), 53 random bits
  double normal();         // standard normal, Box-Muller (pairs are cached)
 private:
  std::uint64_t s_[4];
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace ramq
