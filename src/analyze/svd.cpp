// Singular values of a row-major float32 matrix: full (LAPACK sgesdd) and randomized
// (Halko-Martinsson-Tropp range finder with subspace iteration).
//
// A row-major m x n matrix W is, byte for byte, the column-major n x m matrix W^T, which has the
// same singular values. Everything here therefore works in column-major order on W^T without
// transposing or copying W (LAPACKE's row-major entry points would transpose internally).
#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ramq/metrics.h"
#include "ramq/parallel.h"
#include "ramq/rng.h"

namespace ramq {

namespace {

void check_view(MatrixView w, const char* what) {
  if (w.rows < 0 || w.cols < 0 || (w.rows > 0 && w.cols > 0 && w.data == nullptr)) {
    throw std::invalid_argument(std::string(what) + ": invalid matrix view");
  }
  // BLAS/LAPACK take 32-bit dimensions.
  if (w.rows > INT32_MAX || w.cols > INT32_MAX) {
    throw std::invalid_argument(std::string(what) + ": matrix dimension exceeds 2^31-1");
  }
}

// Singular values of the column-major rows x cols matrix `a` (overwritten), descending.
std::vector<float> sgesdd_values(float* a, lapack_int rows, lapack_int cols, const char* what) {
  std::vector<float> s(static_cast<std::size_t>(std::min(rows, cols)));
  if (s.empty()) return s;
  float dummy_u = 0.0f;
  float dummy_vt = 0.0f;
  const lapack_int info =
      LAPACKE_sgesdd(LAPACK_COL_MAJOR, 'N', rows, cols, a, rows, s.data(), &dummy_u, 1, &dummy_vt, 1);
  if (info != 0) {
    throw std::runtime_error(std::string(what) + ": LAPACKE_sgesdd failed (info = " +
                             std::to_string(info) + ")");
  }
  // LAPACK returns them descending already; make it a guarantee.
  std::sort(s.begin(), s.end(), std::greater<float>());
  return s;
}

// Replaces the column-major rows x cols matrix `a` (rows >= cols) by an orthonormal basis of its
// column space (thin Q of a Householder QR).
void orthonormalize(std::vector<float>& a, lapack_int rows, lapack_int cols, std::vector<float>& tau) {
  tau.resize(static_cast<std::size_t>(cols));
  lapack_int info = LAPACKE_sgeqrf(LAPACK_COL_MAJOR, rows, cols, a.data(), rows, tau.data());
  if (info != 0) {
    throw std::runtime_error("singular_values_randomized: LAPACKE_sgeqrf failed (info = " +
                             std::to_string(info) + ")");
  }
  info = LAPACKE_sorgqr(LAPACK_COL_MAJOR, rows, cols, cols, a.data(), rows, tau.data());
  if (info != 0) {
    throw std::runtime_error("singular_values_randomized: LAPACKE_sorgqr failed (info = " +
                             std::to_string(info) + ")");
  }
}

}  // namespace

std::vector<float> singular_values_full(MatrixView w) {
  check_view(w, "singular_values_full");
  if (w.rows == 0 || w.cols == 0) return {};
  // One copy: sgesdd destroys its input. Row-major m x n == column-major n x m (= W^T).
  std::vector<float> a(w.data, w.data + w.rows * w.cols);
  return sgesdd_values(a.data(), static_cast<lapack_int>(w.cols), static_cast<lapack_int>(w.rows),
                       "singular_values_full");
}

std::vector<float> singular_values_randomized(MatrixView w, int rank, int oversample, int power_iters,
                                              std::uint64_t seed, unsigned threads) {
  check_view(w, "singular_values_randomized");
  if (rank < 0 || oversample < 0 || power_iters < 0) {
    throw std::invalid_argument("singular_values_randomized: negative rank/oversample/power_iters");
  }
  if (w.rows == 0 || w.cols == 0 || rank == 0) return {};

  const auto m = static_cast<lapack_int>(w.rows);
  const auto n = static_cast<lapack_int>(w.cols);
  const lapack_int min_mn = std::min(m, n);
  const lapack_int k = std::min<lapack_int>(rank, min_mn);
  // Sketch width; never more than min(m, n) columns (an exact range basis at that point).
  const lapack_int l = static_cast<lapack_int>(
      std::min<std::int64_t>(static_cast<std::int64_t>(k) + oversample, min_mn));
  const std::size_t m_l = static_cast<std::size_t>(m) * static_cast<std::size_t>(l);
  const std::size_t n_l = static_cast<std::size_t>(n) * static_cast<std::size_t>(l);

  // Gaussian test matrix Omega: n x l, column-major, generated column by column.
  std::vector<float> nbuf(n_l);  // Omega, then Z = W^T Q, finally B^T = W^T Q
  {
    Rng rng(seed);
    for (float& v : nbuf) v = static_cast<float>(rng.normal());
  }
  std::vector<float> mbuf(m_l);  // Y = W Omega / W Z, then Q = orth(Y)
  std::vector<float> tau;

  // W (row-major m x n) is the column-major n x m matrix Wt with leading dimension n. Both
  // products are split by rows of their result into pieces of kPiece rows (fixed by the shape,
  // computed by one worker each with single-threaded BLAS): the same values for any thread count.
  constexpr lapack_int kPiece = 512;
  const auto pieces = [](lapack_int rows) { return static_cast<std::size_t>((rows + kPiece - 1) / kPiece); };
  const auto run = [&](std::size_t count, const std::function<void(std::size_t)>& fn) {
    if (threads <= 1 || count <= 1) {
      for (std::size_t piece = 0; piece < count; ++piece) fn(piece);
    } else {
      parallel_for(count, threads, fn);
    }
  };
  // Y (m x l) = W * N  =  Wt^T * N: rows r0.. of Y from rows r0.. of W.
  const auto w_times = [&]() {
    run(pieces(m), [&](std::size_t piece) {
      const lapack_int r0 = static_cast<lapack_int>(piece) * kPiece, rows = std::min(kPiece, m - r0);
      cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, rows, l, n, 1.0f, w.data + static_cast<std::size_t>(r0) * n,
                  n, nbuf.data(), n, 0.0f, mbuf.data() + r0, m);
    });
  };
  // N (n x l) = W^T * Y  =  Wt * Y: rows c0.. of N from columns c0.. of W.
  const auto wt_times = [&]() {
    run(pieces(n), [&](std::size_t piece) {
      const lapack_int c0 = static_cast<lapack_int>(piece) * kPiece, cols = std::min(kPiece, n - c0);
      cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, cols, l, m, 1.0f, w.data + c0, n, mbuf.data(), m, 0.0f,
                  nbuf.data() + c0, n);
    });
  };

  w_times();  // Y = W Omega
  for (int it = 0; it < power_iters; ++it) {
    orthonormalize(mbuf, m, l, tau);  // Q = orth(Y)
    wt_times();                       // Z = W^T Q
    orthonormalize(nbuf, n, l, tau);  // Z = orth(Z)
    w_times();                        // Y = W Z
  }
  orthonormalize(mbuf, m, l, tau);  // Q = orth(Y)
  wt_times();                       // B^T = W^T Q  (n x l); sigma(B^T) = sigma(Q^T W)

  std::vector<float> s = sgesdd_values(nbuf.data(), n, l, "singular_values_randomized");
  s.resize(static_cast<std::size_t>(k));
  return s;
}

}  // namespace ramq
