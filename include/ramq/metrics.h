// The four data-free sensitivity metrics of the SWAN method, as pure functions over a
// row-major float32 matrix W (m x n). All reductions run in a fixed order, so results are
// bit-identical across runs and thread counts.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace ramq {

struct MatrixView {
  const float* data = nullptr;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
};

// How the top k singular values of a large matrix are estimated (both start from a seeded
// Gaussian block and give values never above the true ones).
enum class RsvdMethod {
  BlockKrylov,  // Krylov basis of krylov_depth blocks of krylov_block columns (default)
  Subspace,     // range finder of k + rsvd_oversample columns, rsvd_power_iters subspace iterations
};

struct MetricOptions {
  int full_svd_max_dim = 512;  // min(m, n) <= this: full SVD; else randomized SVD
  int rsvd_rank = 256;         // k for the randomized SVD
  RsvdMethod rsvd_method = RsvdMethod::BlockKrylov;
  int krylov_block = 64;       // block Krylov: columns per block ...
  int krylov_depth = 0;        // ... and blocks (0: ceil(9 k / (4 krylov_block)), 9 for k = 256;
                               // at least ceil(k / krylov_block))
  int rsvd_oversample = 16;    // subspace: extra columns in the range finder (only the top k are used)
  int rsvd_power_iters = 2;    // subspace: power iterations
  int probes = 32;             // output-noise probe vectors
  int noise_levels = 16;       // noise width D = (max W - min W) / noise_levels
  int err_bits = 4;            // reconstruction-error proxy: bits ...
  int err_group = 128;         // ... and group size along each row
};

// Singular values, descending.
std::vector<float> singular_values_full(MatrixView w);
// The matrix products run on `threads` workers over fixed blocks of rows/columns (single-threaded
// BLAS inside each block), so the values do not depend on the thread count.
std::vector<float> singular_values_randomized(MatrixView w, int rank, int oversample, int power_iters,
                                              std::uint64_t seed, unsigned threads = 1);
// Block Krylov estimate (block Lanczos with full reorthogonalisation, on the shorter side: W^T W
// when n <= m, else W W^T): `depth` blocks of `block` columns, started from a seeded Gaussian
// block V_1, span K = {V_1, W^T W V_1, ..., (W^T W)^(depth-1) V_1} (at most min(m, n) columns);
// returns the top `rank` singular values of W Q for an orthonormal basis Q of K (Rayleigh-Ritz),
// each at most the true value. It costs 2 depth - 1 products of W with `block` columns; same
// products and thread rule as above. block * depth must reach min(rank, m, n).
std::vector<float> singular_values_block_krylov(MatrixView w, int rank, int block, int depth, std::uint64_t seed,
                                                unsigned threads = 1);

// The Krylov depth MetricOptions resolves to: krylov_depth, or its default for rsvd_rank, and at
// least enough blocks to hold rsvd_rank columns.
int resolved_krylov_depth(const MetricOptions& opt);

// c = sum of the squared top floor(k/10) singular values / sum of all k squared singular values.
double spectral_concentration(std::span<const float> singular_values);
// Excess kurtosis with population moments: m4 / m2^2 - 3 (0 for a constant input).
double excess_kurtosis(std::span<const float> x, unsigned threads = 1);
// delta = ||E X||_F / (||W X||_F + 1e-8), X: `probes` unit-norm Gaussian columns, E uniform in
// [-D/2, D/2] with D = (max W - min W) / noise_levels.
double output_noise_amplification(MatrixView w, int probes, int noise_levels, std::uint64_t seed,
                                  unsigned threads = 1);
// RMSE of asymmetric min/max round-to-nearest (bits, group along rows, rows zero-padded to a
// multiple of group; the padding's own error counts) divided by the RMS of W, both over the
// padded tensor: sqrt(SSE / sum W^2), as the SWAN reference code computes it
// (smartquant/analyzer.py _reconstruction_error_sensitivity). 0 for an all-zero or constant W.
double quantization_nrmse(MatrixView w, int bits, int group, unsigned threads = 1);

// Normalisations to [0, 1].
double score_svd(double c);
double score_kurtosis(double kappa);
double score_output(double delta);
double score_error(double nrmse);

struct RawMetrics {
  double concentration = 0;  // c
  double kurtosis = 0;       // kappa
  double noise_amp = 0;      // delta
  double nrmse = 0;
  bool randomized_svd = false;
};

// Every metric is split into fixed pieces run on `threads` workers (0 = all cores); the result
// does not depend on the thread count.
RawMetrics compute_raw_metrics(MatrixView w, const MetricOptions& opt, std::uint64_t seed, unsigned threads = 1);

}  // namespace ramq
