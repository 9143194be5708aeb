// ramq_bench_kernels: Google Benchmark of ramq's hot kernels through the public API
// (include/ramq/*.h), one thread each (OpenBLAS pinned to one thread, as in `ramq analyze`,
// which runs one tensor per core). Throughput (bytes_per_second) is counted in input weight
// bytes *as BF16*, i.e. 2 bytes x elements, for every kernel, so the figures compare directly
// with the size of a BF16 checkpoint; items_per_second is elements per second. Both are per
// CPU second (Google Benchmark's default) and printed with 1024-based prefixes (G/s = GiB/s).
// Inputs: bench/synthetic_weights.h matrices (Gaussian-like with outliers and a rank-4 spike).
//
//   build-bench/bin/ramq_bench_kernels [--benchmark_filter=REGEX] [--benchmark_format=json]
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "analyze/products.h"
#include "ramq/dtype.h"
#include "ramq/ggml_types.h"
#include "ramq/metrics.h"
#include "ramq/mlx_affine.h"
#include "synthetic_weights.h"

namespace {

using ramq::DType;

constexpr std::uint64_t kSeed = 20240601;

// One synthetic matrix per shape, made on first use and kept for the whole run.
const std::vector<float>& matrix(std::int64_t rows, std::int64_t cols) {
  static std::map<std::pair<std::int64_t, std::int64_t>, std::vector<float>> cache;
  auto it = cache.find({rows, cols});
  if (it == cache.end()) it = cache.emplace(std::pair{rows, cols}, ramq::bench::synthetic_matrix(rows, cols, kSeed)).first;
  return it->second;
}

void count(benchmark::State& st, std::int64_t elements) {
  st.SetItemsProcessed(st.iterations() * elements);
  st.SetBytesProcessed(st.iterations() * elements * 2);  // input as BF16
}

// ---- dtype conversion --------------------------------------------------------------------
template <DType T>
void BM_ConvertToF32(benchmark::State& st) {
  const std::int64_t rows = st.range(0), cols = st.range(1), n = rows * cols;
  const auto& w = matrix(rows, cols);
  std::vector<std::byte> raw(static_cast<std::size_t>(n) * ramq::dtype_size(T));
  ramq::convert_from_f32(T, w, raw);
  std::vector<float> out(static_cast<std::size_t>(n));
  for (auto _ : st) {
    ramq::convert_to_f32(T, raw, out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  count(st, n);
}
BENCHMARK(BM_ConvertToF32<DType::BF16>)->Name("convert_to_f32/BF16")->Args({4096, 4096});
BENCHMARK(BM_ConvertToF32<DType::F16>)->Name("convert_to_f32/F16")->Args({4096, 4096});

// ---- the four SWAN metrics ------------------------------------------------------------------
void BM_ExcessKurtosis(benchmark::State& st) {
  const auto& w = matrix(st.range(0), st.range(1));
  for (auto _ : st) benchmark::DoNotOptimize(ramq::excess_kurtosis(w));
  count(st, st.range(0) * st.range(1));
}
BENCHMARK(BM_ExcessKurtosis)->Name("excess_kurtosis")->Args({4096, 4096})->Args({14336, 4096});

void BM_OutputNoise(benchmark::State& st) {
  const auto& w = matrix(st.range(0), st.range(1));
  const ramq::MatrixView v{w.data(), st.range(0), st.range(1)};
  for (auto _ : st) benchmark::DoNotOptimize(ramq::output_noise_amplification(v, 32, 16, kSeed));
  count(st, st.range(0) * st.range(1));
}
BENCHMARK(BM_OutputNoise)->Name("output_noise_amplification/probes32")->Args({4096, 4096})->Args({14336, 4096})
    ->Unit(benchmark::kMillisecond);

void BM_QuantizationNrmse(benchmark::State& st) {
  const auto& w = matrix(st.range(0), st.range(1));
  const ramq::MatrixView v{w.data(), st.range(0), st.range(1)};
  for (auto _ : st) benchmark::DoNotOptimize(ramq::quantization_nrmse(v, 4, 128));
  count(st, st.range(0) * st.range(1));
}
BENCHMARK(BM_QuantizationNrmse)->Name("quantization_nrmse/4bit_g128")->Args({4096, 4096})->Args({14336, 4096})
    ->Unit(benchmark::kMillisecond);

void BM_RandomizedSvd(benchmark::State& st) {
  const auto& w = matrix(st.range(0), st.range(1));
  const ramq::MatrixView v{w.data(), st.range(0), st.range(1)};
  for (auto _ : st) benchmark::DoNotOptimize(ramq::singular_values_randomized(v, 256, 16, 2, kSeed));
  count(st, st.range(0) * st.range(1));
}
BENCHMARK(BM_RandomizedSvd)->Name("singular_values_randomized/rank256_pow2")->Args({4096, 4096})->Args({14336, 4096})
    ->Unit(benchmark::kSecond)->Iterations(1);

void BM_BlockKrylovSvd(benchmark::State& st) {
  const auto& w = matrix(st.range(0), st.range(1));
  const ramq::MatrixView v{w.data(), st.range(0), st.range(1)};
  for (auto _ : st) benchmark::DoNotOptimize(ramq::singular_values_block_krylov(v, 256, 64, 9, kSeed));
  count(st, st.range(0) * st.range(1));
}
BENCHMARK(BM_BlockKrylovSvd)->Name("singular_values_block_krylov/rank256_b64x9")->Args({4096, 4096})
    ->Args({14336, 4096})->Unit(benchmark::kSecond)->Iterations(1);

// ---- MLX affine quantization and packing ------------------------------------------------------
// Encoders run once per SIMD level the CPU supports (suffix /portable, /avx2, /avx512; the
// output is identical at every level); without a suffix, the level ramq picks by itself.
constexpr std::int64_t kEncRows = 1024, kEncCols = 4096;  // 4 M elements per iteration

#ifdef RAMQ_ENCODE_SIMD_API
struct LevelGuard {  // selects a SIMD level for one benchmark run, restores the default after
  explicit LevelGuard(int level) {
    if (level >= 0) ramq::set_simd_level(static_cast<ramq::SimdLevel>(level));
  }
  ~LevelGuard() { ramq::reset_simd_level(); }
};
#else
struct LevelGuard {
  explicit LevelGuard(int) {}
};
#endif

void BM_MlxQuantize(benchmark::State& st, bool search, int level) {
  const auto& w = matrix(kEncRows, kEncCols);
  const int bits = static_cast<int>(st.range(0)), group = static_cast<int>(st.range(1));
  const LevelGuard guard(level);
  for (auto _ : st) {
    auto q = search ? ramq::mlx_quantize(w.data(), kEncRows, kEncCols, bits, group, DType::BF16)
                    : ramq::mlx_quantize_minmax(w.data(), kEncRows, kEncCols, bits, group, DType::BF16);
    benchmark::DoNotOptimize(q.packed.data());
  }
  count(st, kEncRows * kEncCols);
}

void BM_MlxPack(benchmark::State& st) {
  const int bits = static_cast<int>(st.range(0));
  const std::size_t n = std::size_t{4096} * 4096;
  std::vector<std::uint8_t> q(n);
  for (std::size_t i = 0; i < n; ++i) q[i] = static_cast<std::uint8_t>(ramq::bench::splitmix64(i) & ((1u << bits) - 1));
  std::vector<std::uint32_t> words(n * static_cast<std::size_t>(bits) / 32);
  for (auto _ : st) {
    ramq::mlx_pack(q, bits, words);
    benchmark::DoNotOptimize(words.data());
    benchmark::ClobberMemory();
  }
  count(st, static_cast<std::int64_t>(n));
}
BENCHMARK(BM_MlxPack)->Name("mlx_pack")->ArgName("bits")->Arg(2)->Arg(3)->Arg(4)->Arg(5)->Arg(6)->Arg(8);

// ---- GGUF block encoders -------------------------------------------------------------------------
void BM_GgufEncode(benchmark::State& st, ramq::GgmlType t, int level) {
  const auto& w = matrix(kEncRows, kEncCols);
  std::vector<std::byte> dst(static_cast<std::size_t>(kEncRows) * ramq::ggml_row_bytes(t, kEncCols));
  const LevelGuard guard(level);
  for (auto _ : st) {
    ramq::gguf_encode_rows(t, w.data(), kEncRows, kEncCols, dst.data());
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  count(st, kEncRows * kEncCols);
}

// One product of the randomized SVD at a SIMD level: W V (V: cols x 64) or W^T Y (Y: rows x 64).
void BM_Product(benchmark::State& st, bool transposed, int level) {
  const std::int64_t rows = st.range(0), cols = st.range(1);
  const auto threads = static_cast<unsigned>(st.range(2));
  const auto& w = matrix(rows, cols);
  const ramq::MatrixView v{w.data(), rows, cols};
  constexpr int kColumns = 64;
  const std::int64_t in = transposed ? rows : cols, out = transposed ? cols : rows;
  std::vector<float> x = ramq::bench::synthetic_matrix(in, kColumns, kSeed + 1);
  std::vector<float> y(static_cast<std::size_t>(out * kColumns));
  const LevelGuard guard(level);
  st.SetLabel(std::string(ramq::detail::product_kernel_name()));
  for (auto _ : st) {
    if (transposed) ramq::detail::wt_times(v, x.data(), static_cast<int>(in), kColumns, y.data(), static_cast<int>(out), threads);
    else ramq::detail::w_times(v, x.data(), static_cast<int>(in), kColumns, y.data(), static_cast<int>(out), threads);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(rows * cols * kColumns) *
                                                  static_cast<double>(st.iterations()),
                                              benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
  count(st, rows * cols);
}

// Registers the encoder benchmarks: every GGUF type and both MLX encoders, at each SIMD level.
void register_encoders() {
  std::vector<std::pair<std::string, int>> levels = {{"", -1}};
#ifdef RAMQ_ENCODE_SIMD_API
  for (const ramq::SimdLevel l : ramq::supported_simd_levels())
    levels.emplace_back("/" + std::string(ramq::simd_level_name(l)), static_cast<int>(l));
#endif
  for (const auto& [suffix, level] : levels) {
    for (const ramq::GgmlTypeInfo& info : ramq::ggml_types()) {
      if (info.type == ramq::GgmlType::F32) continue;
      benchmark::RegisterBenchmark(("gguf_encode_rows/" + std::string(info.name) + suffix).c_str(),
                                   [t = info.type, l = level](benchmark::State& st) { BM_GgufEncode(st, t, l); })
          ->Unit(benchmark::kMillisecond);
    }
    // The randomized SVD's products (64 columns, a 14336 x 4096 W; OpenBLAS at /portable).
    for (const bool transposed : {false, true}) {
      benchmark::RegisterBenchmark((std::string("svd_product/") + (transposed ? "WtY" : "WV") + suffix).c_str(),
                                   [transposed, l = level](benchmark::State& st) { BM_Product(st, transposed, l); })
          ->ArgNames({"rows", "cols", "threads"})
          ->Args({14336, 4096, 1})->Args({4096, 14336, 1})->Args({1024, 4096, 1})->Args({1024, 4096, 2})->Args({4096, 1024, 1})->Args({14336, 4096, 2})->Args({4096, 14336, 2})
          ->UseRealTime()->Unit(benchmark::kMillisecond);
    }
    for (const bool search : {true, false}) {
      benchmark::RegisterBenchmark((std::string("mlx_quantize/") + (search ? "search" : "minmax") + suffix).c_str(),
                                   [search, l = level](benchmark::State& st) { BM_MlxQuantize(st, search, l); })
          ->ArgNames({"bits", "group"})
          ->Args({2, 32})->Args({3, 64})->Args({4, 64})->Args({4, 128})->Args({6, 64})->Args({8, 64})
          ->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  openblas_set_num_threads(1);  // one tensor per core, as ramq's analysis runs it
  register_encoders();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
