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

void check_info(lapack_int info, const char* routine) {
  if (info != 0) {
    throw std::runtime_error(std::string("singular_values_randomized: LAPACKE_") + routine + " failed (info = " +
                             std::to_string(info) + ")");
  }
}

// Tall-skinny QR (TSQR) of a column-major rows x cols matrix (rows >= cols). The rows are cut
// into pieces fixed by the shape (about kQrPieceRows each, at most kMaxQrPieces, each at least
// `cols` rows); every piece is factored on its own, in parallel, and their stacked R factors once
// more: A = diag(Q_1..Q_p) Q_s R. One piece is a plain Householder QR.
constexpr lapack_int kQrPieceRows = 1024;
constexpr lapack_int kMaxQrPieces = 16;

lapack_int qr_pieces(lapack_int rows, lapack_int cols) {
  lapack_int p = std::min(rows / kQrPieceRows, kMaxQrPieces);
  if (cols > 0) p = std::min(p, rows / cols);
  return std::max<lapack_int>(p, 1);
}

lapack_int piece_begin(lapack_int piece, lapack_int pieces, lapack_int rows) {
  return static_cast<lapack_int>(static_cast<std::int64_t>(piece) * rows / pieces);
}

// Factors the pieces of `a` (p > 1): returns the p*cols x cols stack of their R factors
// (column-major, zeros below each diagonal) and, if `q_pieces`, each piece's explicit Q.
std::vector<float> factor_pieces(const float* a, lapack_int rows, lapack_int cols, lapack_int p, unsigned threads,
                                 std::vector<std::vector<float>>* q_pieces) {
  const lapack_int ld = p * cols;
  std::vector<float> stack(static_cast<std::size_t>(ld) * static_cast<std::size_t>(cols), 0.0f);
  if (q_pieces) q_pieces->assign(static_cast<std::size_t>(p), {});
  std::vector<std::vector<float>> scratch(static_cast<std::size_t>(p));
  parallel_for(static_cast<std::size_t>(p), threads, [&](std::size_t i) {
    const auto piece = static_cast<lapack_int>(i);
    const lapack_int r0 = piece_begin(piece, p, rows), ri = piece_begin(piece + 1, p, rows) - r0;
    std::vector<float>& local = q_pieces ? (*q_pieces)[i] : scratch[i];
    local.resize(static_cast<std::size_t>(ri) * static_cast<std::size_t>(cols));
    for (lapack_int j = 0; j < cols; ++j) {
      const float* src = a + static_cast<std::size_t>(j) * rows + r0;
      std::copy(src, src + ri, local.begin() + static_cast<std::ptrdiff_t>(j) * ri);
    }
    std::vector<float> tau(static_cast<std::size_t>(cols));
    check_info(LAPACKE_sgeqrf(LAPACK_COL_MAJOR, ri, cols, local.data(), ri, tau.data()), "sgeqrf");
    for (lapack_int j = 0; j < cols; ++j)
      for (lapack_int t = 0; t <= j; ++t)
        stack[static_cast<std::size_t>(j) * ld + static_cast<std::size_t>(piece * cols + t)] =
            local[static_cast<std::size_t>(j) * ri + t];
    if (q_pieces) {
      check_info(LAPACKE_sorgqr(LAPACK_COL_MAJOR, ri, cols, cols, local.data(), ri, tau.data()), "sorgqr");
    } else {
      std::vector<float>().swap(local);
    }
  });
  return stack;
}

// Replaces the column-major rows x cols matrix `a` (rows >= cols) by an orthonormal basis of its
// column space (the thin Q of its QR factorisation).
void orthonormalize(std::vector<float>& a, lapack_int rows, lapack_int cols, unsigned threads) {
  std::vector<float> tau(static_cast<std::size_t>(cols));
  const lapack_int p = qr_pieces(rows, cols);
  if (p == 1) {
    check_info(LAPACKE_sgeqrf(LAPACK_COL_MAJOR, rows, cols, a.data(), rows, tau.data()), "sgeqrf");
    check_info(LAPACKE_sorgqr(LAPACK_COL_MAJOR, rows, cols, cols, a.data(), rows, tau.data()), "sorgqr");
    return;
  }
  std::vector<std::vector<float>> q_pieces;
  std::vector<float> qs = factor_pieces(a.data(), rows, cols, p, threads, &q_pieces);
  const lapack_int ld = p * cols;
  check_info(LAPACKE_sgeqrf(LAPACK_COL_MAJOR, ld, cols, qs.data(), ld, tau.data()), "sgeqrf");
  check_info(LAPACKE_sorgqr(LAPACK_COL_MAJOR, ld, cols, cols, qs.data(), ld, tau.data()), "sorgqr");
  parallel_for(static_cast<std::size_t>(p), threads, [&](std::size_t i) {
    const auto piece = static_cast<lapack_int>(i);
    const lapack_int r0 = piece_begin(piece, p, rows), ri = piece_begin(piece + 1, p, rows) - r0;
    cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, ri, cols, cols, 1.0f, q_pieces[i].data(), ri,
                qs.data() + static_cast<std::size_t>(piece * cols), ld, 0.0f, a.data() + r0, rows);
  });
}

// Singular values of the column-major rows x cols matrix `a` (rows >= cols; overwritten): those
// of its R factor (computed by TSQR), a cols x cols problem.
std::vector<float> tall_singular_values(std::vector<float>& a, lapack_int rows, lapack_int cols, unsigned threads,
                                        const char* what) {
  const lapack_int p = qr_pieces(rows, cols);
  if (p == 1) return sgesdd_values(a.data(), rows, cols, what);
  std::vector<float> stack = factor_pieces(a.data(), rows, cols, p, threads, nullptr);
  const lapack_int ld = p * cols;
  std::vector<float> tau(static_cast<std::size_t>(cols));
  check_info(LAPACKE_sgeqrf(LAPACK_COL_MAJOR, ld, cols, stack.data(), ld, tau.data()), "sgeqrf");
  std::vector<float> r(static_cast<std::size_t>(cols) * static_cast<std::size_t>(cols), 0.0f);
  for (lapack_int j = 0; j < cols; ++j)
    for (lapack_int t = 0; t <= j; ++t)
      r[static_cast<std::size_t>(j) * cols + t] = stack[static_cast<std::size_t>(j) * ld + t];
  return sgesdd_values(r.data(), cols, cols, what);
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

  // W (row-major m x n) is the column-major n x m matrix Wt with leading dimension n. Both
  // products are split by rows of their result into pieces of kPiece rows (fixed by the shape,
  // computed by one worker each with single-threaded BLAS): the same values for any thread count.
  constexpr lapack_int kPiece = 512;
  const auto pieces = [](lapack_int rows) { return static_cast<std::size_t>((rows + kPiece - 1) / kPiece); };
  // Y (m x l) = W * N  =  Wt^T * N: rows r0.. of Y from rows r0.. of W.
  const auto w_times = [&]() {
    parallel_for(pieces(m), threads, [&](std::size_t piece) {
      const lapack_int r0 = static_cast<lapack_int>(piece) * kPiece, rows = std::min(kPiece, m - r0);
      cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, rows, l, n, 1.0f, w.data + static_cast<std::size_t>(r0) * n,
                  n, nbuf.data(), n, 0.0f, mbuf.data() + r0, m);
    });
  };
  // N (n x l) = W^T * Y  =  Wt * Y: rows c0.. of N from columns c0.. of W.
  const auto wt_times = [&]() {
    parallel_for(pieces(n), threads, [&](std::size_t piece) {
      const lapack_int c0 = static_cast<lapack_int>(piece) * kPiece, cols = std::min(kPiece, n - c0);
      cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, cols, l, m, 1.0f, w.data + c0, n, mbuf.data(), m, 0.0f,
                  nbuf.data() + c0, n);
    });
  };

  w_times();  // Y = W Omega
  for (int it = 0; it < power_iters; ++it) {
    orthonormalize(mbuf, m, l, threads);  // Q = orth(Y)
    wt_times();                       // Z = W^T Q
    orthonormalize(nbuf, n, l, threads);  // Z = orth(Z)
    w_times();                        // Y = W Z
  }
  orthonormalize(mbuf, m, l, threads);  // Q = orth(Y)
  wt_times();                       // B^T = W^T Q  (n x l); sigma(B^T) = sigma(Q^T W)

  std::vector<float> s = tall_singular_values(nbuf, n, l, threads, "singular_values_randomized");
  s.resize(static_cast<std::size_t>(k));
  return s;
}

}  // namespace ramq
