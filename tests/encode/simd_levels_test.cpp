// The encoders' SIMD levels (src/encode/simd): every level the machine supports, plus the
// AVX-512 register layout built without AVX-512 (so that it is checked here too), must give
// byte-identical output for every GGUF type and both MLX encoders, on Gaussian, Student-t and
// outlier data at odd magnitudes, zero and constant blocks, spikes and non-finite GGUF inputs;
// results must not depend on how rows are split between threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "encode/simd/kernels.h"
#include "ramq/ggml_types.h"
#include "ramq/mlx_affine.h"
#include "support/weight_distributions.h"

namespace ramq::simd::wide64 {
extern const Kernels kKernels;  // the 64-byte (AVX-512) layout, generic code (tests/encode/CMakeLists.txt)
}

namespace ramq {
namespace {

struct Level {
  std::string name;
  std::function<void()> select;
};

std::vector<Level> all_levels() {
  std::vector<Level> out;
  for (const SimdLevel l : supported_simd_levels()) {
    out.push_back({std::string(simd_level_name(l)), [l] {
                     simd::override_kernels_for_testing(nullptr);
                     set_simd_level(l);
                   }});
  }
  out.push_back({"avx512-layout (generic code)", [] { simd::override_kernels_for_testing(&simd::wide64::kKernels); }});
  return out;
}

struct RestoreLevel {
  ~RestoreLevel() {
    simd::override_kernels_for_testing(nullptr);
    reset_simd_level();
  }
};

// Rows of `cols` values: the three distributions at several magnitudes, then zero, constant,
// spiky and mixed rows; with_non_finite adds rows holding inf and NaN.
std::vector<float> level_data(std::int64_t cols, const std::vector<float>& magnitudes, bool with_non_finite,
                              std::int64_t& rows) {
  std::vector<float> x;
  std::uint64_t seed = 100;
  for (const float mag : magnitudes) {
    for (testkit::Dist d : testkit::kAllDists) {
      const auto r = testkit::make_weights(d, static_cast<std::size_t>(cols), seed++);
      for (const float v : r) x.push_back(v * (mag / 0.02f));
    }
  }
  const auto g = testkit::make_weights(testkit::Dist::Gaussian, static_cast<std::size_t>(cols), seed++);
  for (std::int64_t i = 0; i < cols; ++i) x.push_back(0.0f);                          // all zero
  for (std::int64_t i = 0; i < cols; ++i) x.push_back((i / 32) % 2 ? g[i] : 0.0f);    // zero blocks between
  for (std::int64_t i = 0; i < cols; ++i) x.push_back(i < cols / 2 ? 0.375f : -2.5f);  // constant blocks
  for (std::int64_t i = 0; i < cols; ++i) x.push_back(i % 37 == 5 ? 3.0f : g[i] * 1e-3f);  // spikes
  for (std::int64_t i = 0; i < cols; ++i) {  // magnitudes changing from block to block
    const float scale = std::ldexp(1.0f, static_cast<int>((i / 16) % 41) - 30);
    x.push_back(g[i] * scale);
  }
  for (std::int64_t i = 0; i < cols; ++i) x.push_back(std::fabs(g[i]) + 1.0f);  // all positive, offset
  if (with_non_finite) {
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    for (std::int64_t i = 0; i < cols; ++i) x.push_back(i % 97 == 3 ? inf : i % 89 == 7 ? -inf : i % 53 == 1 ? nan : g[i]);
  }
  rows = static_cast<std::int64_t>(x.size()) / cols;
  return x;
}

std::vector<std::byte> gguf_bytes(GgmlType t, const std::vector<float>& x, std::int64_t rows, std::int64_t cols) {
  std::vector<std::byte> out(static_cast<std::size_t>(rows) * ggml_row_bytes(t, cols));
  gguf_encode_rows(t, x.data(), rows, cols, out.data());
  return out;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

TEST(EncodeSimd, IdenticalBytesAtEverySimdLevel) {
  const RestoreLevel restore;
  const auto levels = all_levels();
  std::printf("[ levels ] ");
  for (const Level& l : levels) std::printf("%s; ", l.name.c_str());
  std::printf("\n");

  // GGUF: 768 columns = 3 super-blocks (an odd count: Q4_K/Q5_K pair super-blocks in the lanes)
  // = 24 blocks of 32 (lanes hold 16); an odd number of rows.
  const std::int64_t gcols = 768;
  std::int64_t grows = 0;
  const auto gx = level_data(gcols, {1e-30f, 3e-7f, 0.02f, 1.0f, 7e3f, 1e9f}, true, grows);
  // MLX: 384 columns = 3, 6 or 12 groups per row; magnitudes within the F16 scale range.
  const std::int64_t mcols = 384;
  std::int64_t mrows = 0;
  const auto mx = level_data(mcols, {1e-6f, 0.02f, 1.0f, 300.0f}, false, mrows);

  std::vector<std::vector<std::byte>> ref_gguf;
  std::vector<MlxQuantized> ref_mlx;
  for (std::size_t li = 0; li < levels.size(); ++li) {
    levels[li].select();
    std::size_t gi = 0, mi = 0;
    for (const GgmlTypeInfo& info : ggml_types()) {
      const auto b = gguf_bytes(info.type, gx, grows, gcols);
      if (li == 0) {
        ref_gguf.push_back(b);
      } else {
        EXPECT_TRUE(same_bits(b, ref_gguf[gi])) << info.name << " differs at level " << levels[li].name;
      }
      ++gi;
    }
    for (const bool search : {true, false}) {
      for (const DType sdt : {DType::F16, DType::BF16}) {
        for (const int bits : {2, 3, 4, 5, 6, 8}) {
          for (const int group : {32, 64, 128}) {
            const auto q = mlx_quantize(mx.data(), mrows, mcols, bits, group, sdt,
                                        search ? MlxEncoder::Search : MlxEncoder::MinMax);
            if (li == 0) {
              ref_mlx.push_back(q);
            } else {
              const MlxQuantized& r = ref_mlx[mi];
              const std::string what = std::string(search ? "search" : "minmax") + " bits " + std::to_string(bits) +
                                       " group " + std::to_string(group) + " " + std::string(dtype_name(sdt)) +
                                       " at level " + levels[li].name;
              EXPECT_TRUE(same_bits(q.packed, r.packed)) << what;
              EXPECT_TRUE(same_bits(q.scales, r.scales)) << what;
              EXPECT_TRUE(same_bits(q.biases, r.biases)) << what;
            }
            ++mi;
          }
        }
      }
    }
  }
}

// Rows encoded by four threads at once, in slices of different sizes, equal the whole-matrix
// encoding at every level.
TEST(EncodeSimd, ConcurrentRowSlicesMatchWholeMatrix) {
  const RestoreLevel restore;
  const std::int64_t cols = 512;
  std::int64_t rows = 0;
  const auto x = level_data(cols, {0.02f, 1.0f}, false, rows);
  for (const Level& level : all_levels()) {
    level.select();
    for (const GgmlType t : {GgmlType::Q4_K, GgmlType::Q2_K, GgmlType::Q6_K, GgmlType::Q8_0, GgmlType::IQ4_NL,
                             GgmlType::Q5_1}) {
      const auto whole = gguf_bytes(t, x, rows, cols);
      std::vector<std::byte> parts(whole.size());
      const std::size_t row_bytes = ggml_row_bytes(t, cols);
      std::vector<std::thread> pool;
      const std::int64_t cuts[] = {0, 1, 4, 9, rows};
      for (int k = 0; k < 4; ++k) {
        pool.emplace_back([&, k] {
          const std::int64_t r0 = std::min(cuts[k], rows), r1 = std::min(cuts[k + 1], rows);
          gguf_encode_rows(t, x.data() + r0 * cols, r1 - r0, cols, parts.data() + static_cast<std::size_t>(r0) * row_bytes);
        });
      }
      for (auto& th : pool) th.join();
      EXPECT_EQ(parts, whole) << ggml_type_info(t).name << " at level " << level.name;
    }
    const auto whole = mlx_quantize(x.data(), rows, cols, 4, 64, DType::BF16);
    std::vector<MlxQuantized> part(2);
    std::thread a([&] { part[0] = mlx_quantize(x.data(), 3, cols, 4, 64, DType::BF16); });
    std::thread b([&] { part[1] = mlx_quantize(x.data() + 3 * cols, rows - 3, cols, 4, 64, DType::BF16); });
    a.join();
    b.join();
    std::vector<float> scales = part[0].scales;
    scales.insert(scales.end(), part[1].scales.begin(), part[1].scales.end());
    std::vector<std::uint32_t> packed = part[0].packed;
    packed.insert(packed.end(), part[1].packed.begin(), part[1].packed.end());
    EXPECT_TRUE(same_bits(scales, whole.scales)) << level.name;
    EXPECT_TRUE(same_bits(packed, whole.packed)) << level.name;
  }
}

TEST(EncodeSimd, LevelSelection) {
  const RestoreLevel restore;
  const auto levels = supported_simd_levels();
  ASSERT_FALSE(levels.empty());
  EXPECT_EQ(levels.front(), SimdLevel::Portable);
  for (const SimdLevel l : levels) {
    set_simd_level(l);
    EXPECT_EQ(simd_level(), l);
    EXPECT_EQ(parse_simd_level(simd_level_name(l)), l);
  }
  EXPECT_EQ(parse_simd_level("AVX2"), SimdLevel::Avx2);
  EXPECT_FALSE(parse_simd_level("sse9").has_value());
  for (const SimdLevel l : {SimdLevel::Avx2, SimdLevel::Avx512}) {
    bool supported = false;
    for (const SimdLevel s : levels) supported = supported || s == l;
    if (!supported) {
      EXPECT_THROW(set_simd_level(l), std::invalid_argument) << simd_level_name(l);
    }
  }
}

// The default level is the best one supported, capped by RAMQ_ISA (CTest also runs this test with
// RAMQ_ISA=portable).
TEST(EncodeSimd, EnvironmentCapsTheDefault) {
  reset_simd_level();
  const auto levels = supported_simd_levels();
  SimdLevel expect = levels.back();
  const char* env = std::getenv("RAMQ_ISA");
  if (env != nullptr && *env != '\0') {
    if (const auto want = parse_simd_level(env)) {
      while (static_cast<int>(expect) > static_cast<int>(*want)) expect = static_cast<SimdLevel>(static_cast<int>(expect) - 1);
    }
  }
  EXPECT_EQ(simd_level(), expect) << "RAMQ_ISA=" << (env ? env : "(unset)");
}

}  // namespace
}  // namespace ramq
