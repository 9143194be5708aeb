// The four SWAN weight statistics and their [0, 1] normalisations.
//
// Determinism: every reduction below runs in a fixed order that depends only on the input size
// (blocked sums with a fixed number of lanes, blocks combined sequentially); random numbers come
// from ramq::Rng with seeds derived deterministically from the caller's seed. Work is split into
// pieces whose boundaries depend only on the matrix shape (blocks of elements or rows); pieces
// run on up to `threads` workers, each writing its own slot, and slots are combined in order,
// so the thread count never changes a value. Matrix products run single-threaded inside a piece
// (analyze/products.h); their order depends only on the operand shapes.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "analyze/products.h"
#include "analyze/simd/metric_kernels.h"
#include "ramq/ggml_types.h"
#include "ramq/metrics.h"
#include "ramq/parallel.h"
#include "ramq/rng.h"

namespace ramq {

namespace {

constexpr std::size_t kLanes = 8;        // independent accumulators inside a block
constexpr std::size_t kBlock = 4096;     // elements per block; block results are added in order
constexpr std::uint64_t kNoiseSeedXor = 0xD1B54A32D192ED03ULL;  // E's generator vs X's generator

std::size_t element_count(MatrixView w) {
  if (w.rows < 0 || w.cols < 0 || (w.rows > 0 && w.cols > 0 && w.data == nullptr)) {
    throw std::invalid_argument("metrics: invalid matrix view");
  }
  return static_cast<std::size_t>(w.rows) * static_cast<std::size_t>(w.cols);
}

double clip01(double v) { return std::clamp(v, 0.0, 1.0); }

// Sum of f(x[i]) over one block (n <= kBlock is not required), with kLanes interleaved double
// accumulators combined in a fixed order.
template <class F>
double lane_sum(const float* x, std::size_t n, F f) {
  double acc[kLanes] = {};
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (std::size_t j = 0; j < kLanes; ++j) acc[j] += f(static_cast<double>(x[i + j]));
  }
  for (std::size_t j = 0; i < n; ++i, ++j) acc[j] += f(static_cast<double>(x[i]));
  double s = 0.0;
  for (double a : acc) s += a;
  return s;
}

// Sum of f(x[i]) over the whole array: lane sums over fixed blocks of kBlock, added in order.
template <class F>
double blocked_sum(const float* x, std::size_t n, F f) {
  double total = 0.0;
  for (std::size_t b = 0; b < n; b += kBlock) total += lane_sum(x + b, std::min(kBlock, n - b), f);
  return total;
}

using MinMax = analyze_simd::FloatRange;

// The statistics' kernels at the SIMD level in use (the same bits at every level).
struct MetricKernels {
  MinMax (*min_max)(const float*, std::int64_t);
  double (*nrmse_row_sse)(const float*, std::int64_t, std::int64_t, int);
  double (*lane_sum)(const float*, std::int64_t);
  void (*central_moment_sums)(const float*, std::int64_t, double, double*, double*);
  void (*uniform_noise)(std::uint64_t, float*, std::int64_t, float);
};

MetricKernels metric_kernels() {
#if defined(RAMQ_X86_KERNELS)
  switch (simd_level()) {
    case SimdLevel::Avx512: return {analyze_simd::avx512::min_max, analyze_simd::avx512::nrmse_row_sse, analyze_simd::avx512::lane_sum,
            analyze_simd::avx512::central_moment_sums, analyze_simd::avx512::uniform_noise};
    case SimdLevel::Avx2: return {analyze_simd::avx2::min_max, analyze_simd::avx2::nrmse_row_sse, analyze_simd::avx2::lane_sum,
            analyze_simd::avx2::central_moment_sums, analyze_simd::avx2::uniform_noise};
    case SimdLevel::Portable: break;
  }
#endif
  return {analyze_simd::portable::min_max, analyze_simd::portable::nrmse_row_sse, analyze_simd::portable::lane_sum,
            analyze_simd::portable::central_moment_sums, analyze_simd::portable::uniform_noise};
}

MinMax min_max(const float* x, std::size_t n) {
  if (n == 0) return {};
  return metric_kernels().min_max(x, static_cast<std::int64_t>(n));
}

// fn(k) for k in [0, count): pieces of work whose boundaries depend only on the data's size, run on
// up to `threads` workers (inline for one), each writing its own result slot.
template <class F>
void for_each_block(std::size_t count, unsigned threads, F fn) {
  if (threads == 1 || count <= 1) {
    for (std::size_t k = 0; k < count; ++k) fn(k);
    return;
  }
  parallel_for(count, threads, [&](std::size_t k) { fn(k); });
}

// min_max over fixed chunks of 2^20 elements (min and max are exact: any order gives the same).
MinMax min_max_parallel(const float* x, std::size_t n, unsigned threads) {
  constexpr std::size_t kChunk = std::size_t{1} << 20;
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  if (chunks <= 1) return min_max(x, n);
  std::vector<MinMax> part(chunks);
  for_each_block(chunks, threads, [&](std::size_t k) {
    part[k] = min_max(x + k * kChunk, std::min(kChunk, n - k * kChunk));
  });
  MinMax mm = part[0];
  for (const auto& p : part) {
    mm.lo = std::min(mm.lo, p.lo);
    mm.hi = std::max(mm.hi, p.hi);
  }
  return mm;
}

// Sub-seed for one random component of compute_raw_metrics.
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t tag) {
  Rng r(seed ^ (tag * 0x9E3779B97F4A7C15ULL));
  return r.next_u64();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Spectral concentration

double spectral_concentration(std::span<const float> singular_values) {
  const std::size_t k = singular_values.size();
  if (k == 0) return 0.0;
  const std::size_t top = std::max<std::size_t>(1, k / 10);
  double top_sum = 0.0;
  double total = 0.0;
  for (std::size_t i = 0; i < k; ++i) {
    const double s = static_cast<double>(singular_values[i]);
    total += s * s;
    if (i < top) top_sum += s * s;
  }
  if (total == 0.0) return 0.0;
  return top_sum / total;
}

// ---------------------------------------------------------------------------------------------
// Excess kurtosis (population moments, two passes)

double excess_kurtosis(std::span<const float> x, unsigned threads) {
  const std::size_t n = x.size();
  if (n == 0) return 0.0;
  const double dn = static_cast<double>(n);
  const std::size_t blocks = (n + kBlock - 1) / kBlock;
  // Per-block lane sums (computed in parallel, each block by one worker), added in block order:
  // the same result as one sequential pass over the blocks.
  std::vector<double> b1(blocks), b2(blocks), b4(blocks);
  const MetricKernels kernels = metric_kernels();
  for_each_block(blocks, threads, [&](std::size_t k) {
    const std::size_t b = k * kBlock;
    b1[k] = kernels.lane_sum(x.data() + b, static_cast<std::int64_t>(std::min(kBlock, n - b)));
  });
  double total = 0.0;
  for (const double v : b1) total += v;
  const double mean = total / dn;
  // Second pass: m2 and m4 over the same fixed blocks.
  for_each_block(blocks, threads, [&](std::size_t k) {
    const std::size_t b = k * kBlock;
    kernels.central_moment_sums(x.data() + b, static_cast<std::int64_t>(std::min(kBlock, n - b)), mean, &b2[k],
                                &b4[k]);
  });
  double s2 = 0.0, s4 = 0.0;
  for (std::size_t k = 0; k < blocks; ++k) {
    s2 += b2[k];
    s4 += b4[k];
  }
  const double m2 = s2 / dn;
  const double m4 = s4 / dn;
  if (m2 == 0.0) return 0.0;
  return m4 / (m2 * m2) - 3.0;
}

// ---------------------------------------------------------------------------------------------
// Output noise amplification

namespace {

// The noise metric and the NRMSE both need W's range: compute_raw_metrics finds it once and passes
// it in (`known_range`); the public functions pass nullptr and have it computed here.
MinMax range_of(MatrixView w, std::size_t count, const MinMax* known_range, unsigned threads) {
  return known_range ? *known_range : min_max_parallel(w.data, count, threads);
}

double noise_amplification(MatrixView w, int probes, int noise_levels, std::uint64_t seed, unsigned threads,
                           const MinMax* known_range) {
  const std::size_t count = element_count(w);
  if (probes <= 0 || noise_levels <= 0) {
    throw std::invalid_argument("output_noise_amplification: probes and noise_levels must be positive");
  }
  if (count == 0) return 0.0;
  const MinMax mm = range_of(w, count, known_range, threads);
  const float d_width = static_cast<float>(
      (static_cast<double>(mm.hi) - static_cast<double>(mm.lo)) / static_cast<double>(noise_levels));
  if (!(d_width > 0.0f)) return 0.0;  // constant W: E = 0, so ||E X|| = 0

  const auto m = static_cast<std::size_t>(w.rows);
  const auto n = static_cast<std::size_t>(w.cols);
  const auto p = static_cast<std::size_t>(probes);

  // Probes, stored probe-major (row j of xt is probe j; xt is X^T, p x n row-major, which is X
  // column-major).
  std::vector<float> xt(p * n);
  {
    Rng rng(seed);
    for (std::size_t j = 0; j < p; ++j) {
      float* x = xt.data() + j * n;
      for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<float>(rng.normal());
      const double norm = std::sqrt(blocked_sum(x, n, [](double v) { return v * v; }));
      if (norm > 0.0) {
        for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<float>(static_cast<double>(x[i]) / norm);
      }
    }
  }

  // Row blocks of about 1M elements, fixed by the shape. Block k draws its noise from its own
  // key (derived from the seed and k): E is never whole, and blocks run in parallel. Each 64-bit
  // draw (SplitMix64 of a counter, see uniform_noise) gives two 24-bit uniforms in [0, 1).
  const std::size_t block_rows = std::max<std::size_t>(1, std::min(m, (std::size_t{1} << 20) / n));
  const std::size_t blocks = (m + block_rows - 1) / block_rows;
  std::vector<double> ww(blocks), ee(blocks);
  const auto noise_fill = metric_kernels().uniform_noise;
  for_each_block(blocks, threads, [&](std::size_t k) {
    const std::size_t r0 = k * block_rows;
    const std::size_t rows = std::min(block_rows, m - r0);
    const std::size_t len = rows * n;
    // Per worker, reused from block to block (every element is written before it is read).
    thread_local std::vector<float> e, r;
    e.resize(len);
    r.resize(rows * p);
    // W X for this block.
    const auto products = [&](const float* rows_of_w_or_e) {  // r (rows x p, column-major) = (W or E) X
      detail::w_times(MatrixView{rows_of_w_or_e, static_cast<std::int64_t>(rows), static_cast<std::int64_t>(n)},
                      xt.data(), static_cast<int>(n), static_cast<int>(p), r.data(), static_cast<int>(rows), 1);
    };
    products(w.data + r0 * n);
    ww[k] = blocked_sum(r.data(), rows * p, [](double v) { return v * v; });
    // E for this block, then E X.
    noise_fill(derive_seed(seed ^ kNoiseSeedXor, k), e.data(), static_cast<std::int64_t>(len), d_width);
    products(e.data());
    ee[k] = blocked_sum(r.data(), rows * p, [](double v) { return v * v; });
  });
  double sww = 0.0, see = 0.0;
  for (std::size_t k = 0; k < blocks; ++k) {
    sww += ww[k];
    see += ee[k];
  }
  return std::sqrt(see) / (std::sqrt(sww) + 1e-8);
}

}  // namespace

double output_noise_amplification(MatrixView w, int probes, int noise_levels, std::uint64_t seed,
                                  unsigned threads) {
  return noise_amplification(w, probes, noise_levels, seed, threads, nullptr);
}

// ---------------------------------------------------------------------------------------------
// Reconstruction-error proxy

namespace {

double nrmse(MatrixView w, int bits, int group, unsigned threads, const MinMax* known_range) {
  const std::size_t count = element_count(w);
  if (bits < 1 || bits > 16 || group <= 0) {
    throw std::invalid_argument("quantization_nrmse: bits must be in [1, 16] and group positive");
  }
  if (count == 0) return 0.0;
  const MinMax mm = range_of(w, count, known_range, threads);
  const double range = static_cast<double>(mm.hi) - static_cast<double>(mm.lo);
  if (!(range > 0.0)) return 0.0;

  const auto m = static_cast<std::size_t>(w.rows);
  const auto n = static_cast<std::size_t>(w.cols);
  const auto row_sse = metric_kernels().nrmse_row_sse;
  // Rows in parallel (each row's sums in its slot), summed in row order. The squares of W are
  // summed element by element in double, in plain code, so no SIMD level changes them.
  std::vector<double> row_sse_sums(m), row_square_sums(m);
  constexpr std::size_t kRowsPerPiece = 64;
  for_each_block((m + kRowsPerPiece - 1) / kRowsPerPiece, threads, [&](std::size_t k) {
    for (std::size_t row = k * kRowsPerPiece; row < std::min(m, (k + 1) * kRowsPerPiece); ++row) {
      const float* x = w.data + row * n;
      row_sse_sums[row] = row_sse(x, static_cast<std::int64_t>(n), group, (1 << bits) - 1);
      double squares = 0.0;
      for (std::size_t i = 0; i < n; ++i) squares += static_cast<double>(x[i]) * static_cast<double>(x[i]);
      row_square_sums[row] = squares;
    }
  });
  double sse = 0.0, squares = 0.0;
  for (std::size_t row = 0; row < m; ++row) sse += row_sse_sums[row], squares += row_square_sums[row];
  // RMSE over RMS of the zero-padded grouped tensor: both means count the same padded elements,
  // which cancel (the reference's _reconstruction_error_sensitivity).
  return squares > 0.0 ? std::sqrt(sse / squares) : 0.0;
}

}  // namespace

double quantization_nrmse(MatrixView w, int bits, int group, unsigned threads) {
  return nrmse(w, bits, group, threads, nullptr);
}

// ---------------------------------------------------------------------------------------------
// Normalisations

double score_svd(double c) { return clip01((c - 0.1) / 0.8); }

double score_kurtosis(double kappa) { return clip01(kappa / 10.0); }

double score_output(double delta) {
  if (delta < 1e-6) return 0.0;
  return clip01((std::log10(std::max(delta, 0.01)) + 2.0) / 3.0);
}

double score_error(double nrmse) { return clip01((nrmse - 0.005) / 0.045); }

// ---------------------------------------------------------------------------------------------

int resolved_krylov_depth(const MetricOptions& opt) {
  const int block = std::max(opt.krylov_block, 1);
  const int depth = opt.krylov_depth > 0 ? opt.krylov_depth : (9 * opt.rsvd_rank + 4 * block - 1) / (4 * block);
  return std::max({1, depth, (opt.rsvd_rank + block - 1) / block});  // the basis holds the top k
}

RawMetrics compute_raw_metrics(MatrixView w, const MetricOptions& opt, std::uint64_t seed, unsigned threads) {
  threads = resolve_threads(threads);
  const std::size_t count = element_count(w);
  RawMetrics out;
  if (count == 0) return out;

  const std::int64_t min_dim = std::min(w.rows, w.cols);
  if (min_dim <= opt.full_svd_max_dim) {
    const std::vector<float> sv = singular_values_full(w);
    out.concentration = spectral_concentration(sv);
    out.randomized_svd = false;
  } else {
    const std::vector<float> sv =
        opt.rsvd_method == RsvdMethod::BlockKrylov
            ? singular_values_block_krylov(w, opt.rsvd_rank, opt.krylov_block, resolved_krylov_depth(opt),
                                           derive_seed(seed, 1), threads)
            : singular_values_randomized(w, opt.rsvd_rank, opt.rsvd_oversample, opt.rsvd_power_iters,
                                         derive_seed(seed, 1), threads);
    out.concentration = spectral_concentration(sv);
    out.randomized_svd = true;
  }
  out.kurtosis = excess_kurtosis(std::span<const float>(w.data, count), threads);
  const MinMax range = min_max_parallel(w.data, count, threads);
  out.noise_amp = noise_amplification(w, opt.probes, opt.noise_levels, derive_seed(seed, 2), threads, &range);
  out.nrmse = nrmse(w, opt.err_bits, opt.err_group, threads, &range);
  return out;
}

}  // namespace ramq
