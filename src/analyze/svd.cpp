// Singular values of a row-major float32 matrix: full (LAPACK sgesdd) and two randomized
// estimates of the top ones: block Krylov (block Lanczos on W^T W with full reorthogonalisation,
// Rayleigh-Ritz on the Krylov basis; the default) and the Halko-Martinsson-Tropp range finder
// with subspace iteration.
//
// A row-major m x n matrix W is, byte for byte, the column-major n x m matrix W^T, which has the
// same singular values. Everything here therefore works in column-major order on W^T without
// transposing or copying W (LAPACKE's row-major entry points would transpose internally).
#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "analyze/products.h"
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

// Rows per group of the Gram matrix, at least (fixed by the shape).
constexpr lapack_int kProductPiece = 512;

using detail::w_times;
using detail::wt_times;

// Z (rows x c, column-major, leading dimension rows) -= Q (Q^T Z) for the orthonormal rows x j
// basis Q: Z's component outside span(Q). Q (column-major rows x j) is, byte for byte, the
// row-major j x rows matrix Q^T, so both products are the products with W above: H = Q^T Z, then
// Q H = (Q^T)^T H.
void project_out(const float* q, lapack_int rows, lapack_int j, float* z, lapack_int c, unsigned threads) {
  if (j == 0) return;
  const MatrixView qt{q, j, rows};
  std::vector<float> h(static_cast<std::size_t>(j) * static_cast<std::size_t>(c));
  w_times(qt, z, rows, c, h.data(), j, threads);
  std::vector<float> qh(static_cast<std::size_t>(rows) * static_cast<std::size_t>(c));
  wt_times(qt, h.data(), j, c, qh.data(), rows, threads);
  for (std::size_t i = 0; i < qh.size(); ++i) z[i] -= qh[i];
}

// Singular values of the column-major rows x cols matrix `y` (rows >= cols), descending: square
// roots of the eigenvalues of Y^T Y, formed in double. The rows are cut into kGramGroups groups
// fixed by the shape; each group's Gram matrix is formed on one worker (detail::gram_lower: one
// chain per element over the group's rows), and the groups are added in order, so the value does
// not depend on the thread count. In double, the squared condition number costs nothing in the
// top values.
std::vector<float> gram_singular_values(const std::vector<float>& y, lapack_int rows, lapack_int cols,
                                        unsigned threads) {
  constexpr lapack_int kGramGroups = 8;
  const std::size_t kk = static_cast<std::size_t>(cols) * static_cast<std::size_t>(cols);
  const lapack_int groups = std::max<lapack_int>(1, std::min(kGramGroups, rows / kProductPiece));
  std::vector<std::vector<double>> partial(static_cast<std::size_t>(groups));
  parallel_for(static_cast<std::size_t>(groups), threads, [&](std::size_t g) {
    const lapack_int r0 = piece_begin(static_cast<lapack_int>(g), groups, rows);
    const lapack_int r1 = piece_begin(static_cast<lapack_int>(g) + 1, groups, rows);
    partial[g] = detail::gram_lower(y.data(), rows, r0, r1, cols);
  });
  std::vector<double>& gram = partial[0];
  for (std::size_t g = 1; g < partial.size(); ++g)
    for (std::size_t i = 0; i < kk; ++i) gram[i] += partial[g][i];
  std::vector<double> eig(static_cast<std::size_t>(cols));
  const lapack_int info = LAPACKE_dsyev(LAPACK_COL_MAJOR, 'N', 'L', cols, gram.data(), cols, eig.data());
  if (info != 0) {
    throw std::runtime_error("singular_values_block_krylov: LAPACKE_dsyev failed (info = " + std::to_string(info) +
                             ")");
  }
  std::vector<float> s(static_cast<std::size_t>(cols));
  for (lapack_int i = 0; i < cols; ++i)
    s[static_cast<std::size_t>(i)] = static_cast<float>(std::sqrt(std::max(eig[static_cast<std::size_t>(cols - 1 - i)], 0.0)));
  return s;
}

// Block Krylov: a direction of a new block whose part outside the basis so far is below this
// fraction of the block's largest column is treated as already spanned (deflated).
constexpr float kDeflationTolerance = 1e-3f;
constexpr std::uint64_t kRestartSeedXor = 0x6A09E667F3BCC909ULL;  // replacement directions' generator

float largest_column_norm(const std::vector<float>& z, lapack_int rows, lapack_int cols) {
  double best = 0.0;
  for (lapack_int j = 0; j < cols; ++j) {
    double s = 0.0;
    for (lapack_int i = 0; i < rows; ++i) {
      const double x = z[static_cast<std::size_t>(j) * rows + i];
      s += x * x;
    }
    best = std::max(best, s);
  }
  return static_cast<float>(std::sqrt(best));
}

// Unless every singular value of the column-major rows x cols block `z` is at least min_sigma,
// replaces `z` by an orthonormal basis of its well-conditioned part (left singular vectors with
// singular value >= min_sigma), completed by Gaussian columns.
void replace_deflated_directions(std::vector<float>& z, lapack_int rows, lapack_int cols, float min_sigma, Rng& rng,
                                 unsigned threads) {
  if (gram_singular_values(z, rows, cols, threads).back() >= min_sigma) return;
  std::vector<float> a = z, s(static_cast<std::size_t>(cols)), superb(static_cast<std::size_t>(cols));
  float dummy_vt = 0.0f;
  check_info(LAPACKE_sgesvd(LAPACK_COL_MAJOR, 'S', 'N', rows, cols, a.data(), rows, s.data(), z.data(), rows,
                            &dummy_vt, 1, superb.data()),
             "sgesvd");
  for (lapack_int j = 0; j < cols; ++j) {
    if (s[static_cast<std::size_t>(j)] >= min_sigma && s[static_cast<std::size_t>(j)] > 0.0f) continue;
    float* col = z.data() + static_cast<std::size_t>(j) * rows;
    for (lapack_int i = 0; i < rows; ++i) col[i] = static_cast<float>(rng.normal());
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

  // Y (m x l) = W * N and N (n x l) = W^T * Y, in pieces fixed by the shape (see w_times).
  const auto w_n = [&] { w_times(w, nbuf.data(), n, l, mbuf.data(), m, threads); };
  const auto wt_y = [&] { wt_times(w, mbuf.data(), m, l, nbuf.data(), n, threads); };

  w_n();  // Y = W Omega
  for (int it = 0; it < power_iters; ++it) {
    orthonormalize(mbuf, m, l, threads);  // Q = orth(Y)
    wt_y();                               // Z = W^T Q
    orthonormalize(nbuf, n, l, threads);  // Z = orth(Z)
    w_n();                                // Y = W Z
  }
  orthonormalize(mbuf, m, l, threads);  // Q = orth(Y)
  wt_y();                               // B^T = W^T Q  (n x l); sigma(B^T) = sigma(Q^T W)

  std::vector<float> s = tall_singular_values(nbuf, n, l, threads, "singular_values_randomized");
  s.resize(static_cast<std::size_t>(k));
  return s;
}

std::vector<float> singular_values_block_krylov(MatrixView w, int rank, int block, int depth, std::uint64_t seed,
                                                unsigned threads) {
  check_view(w, "singular_values_block_krylov");
  if (rank < 0 || block <= 0 || depth <= 0) {
    throw std::invalid_argument("singular_values_block_krylov: rank must be >= 0, block and depth positive");
  }
  if (w.rows == 0 || w.cols == 0 || rank == 0) return {};
  const auto m = static_cast<lapack_int>(w.rows);
  const auto n = static_cast<lapack_int>(w.cols);
  // The basis lives on the shorter side (d = min(m, n) rows; its Gram-Schmidt costs d per column),
  // the images W V (or W^T V) on the longer one (e rows).
  const bool right = n <= m;
  const lapack_int d = right ? n : m, e = right ? m : n;
  const lapack_int k = std::min<lapack_int>(rank, d);
  const lapack_int b = std::min<lapack_int>(block, d);
  // Krylov dimension: depth blocks of b, never more than d (the last block may be narrower).
  const lapack_int kdim = static_cast<lapack_int>(std::min<std::int64_t>(static_cast<std::int64_t>(b) * depth, d));
  if (kdim < k) {
    throw std::invalid_argument("singular_values_block_krylov: block * depth is below the rank");
  }
  // apply: image (e x c) of c basis columns; back: basis-side image (d x c) of c image columns.
  const auto apply = [&](const float* basis, lapack_int c, float* image) {
    if (right) w_times(w, basis, d, c, image, e, threads);
    else wt_times(w, basis, d, c, image, e, threads);
  };
  const auto back = [&](const float* image, lapack_int c, float* out) {
    if (right) wt_times(w, image, e, c, out, d, threads);
    else w_times(w, image, e, c, out, d, threads);
  };
  std::vector<float> v(static_cast<std::size_t>(d) * static_cast<std::size_t>(kdim));  // orthonormal basis
  std::vector<float> y(static_cast<std::size_t>(e) * static_cast<std::size_t>(kdim));  // its image
  std::vector<float> z(static_cast<std::size_t>(d) * static_cast<std::size_t>(b));
  {
    Rng rng(seed);
    for (float& x : z) x = static_cast<float>(rng.normal());
  }
  Rng restart_rng(seed ^ kRestartSeedXor);
  lapack_int done = 0;  // basis columns so far
  lapack_int width = b;
  for (;;) {
    // Next block: orth(Z minus its part in the basis so far). Directions of Z (nearly) inside the
    // basis - the Krylov space is exhausted there - are replaced by Gaussian ones first; then block
    // Gram-Schmidt once more, which leaves the basis orthonormal to float round-off.
    if (done > 0) {
      const float zmax = largest_column_norm(z, d, width);
      project_out(v.data(), d, done, z.data(), width, threads);
      replace_deflated_directions(z, d, width, kDeflationTolerance * zmax, restart_rng, threads);
      project_out(v.data(), d, done, z.data(), width, threads);
    }
    orthonormalize(z, d, width, threads);
    float* vj = v.data() + static_cast<std::size_t>(done) * d;
    std::copy(z.begin(), z.end(), vj);
    float* yj = y.data() + static_cast<std::size_t>(done) * e;
    apply(vj, width, yj);  // Y_j = W V_j
    done += width;
    if (done == kdim) break;
    width = std::min(b, kdim - done);
    z.assign(static_cast<std::size_t>(d) * static_cast<std::size_t>(width), 0.0f);
    back(yj, width, z.data());  // Z = W^T W V_j (its first `width` columns)
  }
  // Ritz values: the singular values of the image (e x kdim), never above those of W.
  std::vector<float> s = gram_singular_values(y, e, kdim, threads);
  s.resize(static_cast<std::size_t>(k));
  return s;
}

}  // namespace ramq
