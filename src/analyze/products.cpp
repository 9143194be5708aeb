// Products with W for the randomized SVDs (products.h): the kernel chosen from the SIMD level in
// use (ramq::simd_level(), the encoders' choice: RAMQ_ISA caps it), the packing around it, and
// the pieces of work.
#include "analyze/products.h"

#include <cblas.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "analyze/simd/product_kernels.h"
#include "ramq/ggml_types.h"
#include "ramq/parallel.h"

namespace ramq::detail {

namespace {

// Pieces of output rows (w_times) or columns (wt_times), fixed by the shape: about an eighth of
// them each (so small products still spread over the workers), a multiple of 64 from 64 to 512.
// Every output element is computed inside one piece, so the pieces never change a value.
int piece_size(int count) { return std::clamp((count + 8 * 64 - 1) / (8 * 64) * 64, 64, 512); }

std::size_t pieces_of(int count) {
  const int p = piece_size(count);
  return static_cast<std::size_t>((count + p - 1) / p);
}

enum class Kernel { OpenBlas, Avx2, Avx512 };

Kernel kernel_in_use() {
#if defined(RAMQ_X86_KERNELS)
  switch (simd_level()) {
    case SimdLevel::Avx512: return Kernel::Avx512;
    case SimdLevel::Avx2: return __builtin_cpu_supports("fma") ? Kernel::Avx2 : Kernel::OpenBlas;
    case SimdLevel::Portable: return Kernel::OpenBlas;
  }
#endif
  return Kernel::OpenBlas;
}

// Width of the packed operands: a multiple of 16 floats (whole registers at both levels).
int padded(int c) { return (c + 15) / 16 * 16; }

// p[(i - i0) * ldp + col] = a[col * lda + i] for i0 <= i < i1 and col < c: rows [i0, i1) of the
// column-major matrix `a`, transposed (and converted) into the row-major `p`. In tiles of 16 x 16,
// so that both the columns read and the rows written stay in L1 (the columns are often a multiple
// of 4 KiB apart).
template <class Out>
void transpose_rows(const float* a, std::size_t lda, int i0, int i1, int c, Out* p, std::size_t ldp) {
  constexpr int kTile = 16;
  for (int r0 = i0; r0 < i1; r0 += kTile) {
    const int r1 = std::min(i1, r0 + kTile);
    for (int col0 = 0; col0 < c; col0 += kTile) {
      const int col1 = std::min(c, col0 + kTile);
      for (int col = col0; col < col1; ++col) {
        const float* src = a + static_cast<std::size_t>(col) * lda;
        for (int i = r0; i < r1; ++i) p[static_cast<std::size_t>(i - i0) * ldp + col] = static_cast<Out>(src[i]);
      }
    }
  }
}

// Row-major count x cp copy of the column-major count x c matrix `a` (leading dimension lda),
// zero in the padding columns; in blocks of rows on up to `threads` workers (a copy: the same
// result for any count).
std::vector<float> pack_rows(const float* a, int lda, int count, int c, int cp, unsigned threads) {
  std::vector<float> p(static_cast<std::size_t>(count) * static_cast<std::size_t>(cp));
  constexpr int kPackRows = 256;
  parallel_for(static_cast<std::size_t>((count + kPackRows - 1) / kPackRows), threads, [&](std::size_t block) {
    const int i0 = static_cast<int>(block) * kPackRows, i1 = std::min(count, i0 + kPackRows);
    transpose_rows(a, static_cast<std::size_t>(lda), i0, i1, c, p.data() + static_cast<std::size_t>(i0) * cp,
                   static_cast<std::size_t>(cp));
    for (int i = i0; i < i1; ++i)
      std::fill(p.begin() + static_cast<std::ptrdiff_t>(i) * cp + c, p.begin() + static_cast<std::ptrdiff_t>(i + 1) * cp,
                0.0f);
  });
  return p;
}

// The level's kernels (never called with Kernel::OpenBlas).
void rows_kernel(Kernel kernel, const float* w, std::int64_t ldw, int rows, int n, const float* vp, int cp,
                 float* out) {
#if defined(RAMQ_X86_KERNELS)
  if (kernel == Kernel::Avx512) return analyze_simd::avx512::rows_times(w, ldw, rows, n, vp, cp, out);
  analyze_simd::avx2::rows_times(w, ldw, rows, n, vp, cp, out);
#else
  (void)kernel, (void)w, (void)ldw, (void)rows, (void)n, (void)vp, (void)cp, (void)out;
#endif
}

void cols_kernel(Kernel kernel, const float* w, std::int64_t ldw, int m, int j0, int nj, const float* yp, int cp,
                 int c_count, float* z, std::int64_t ldz) {
  thread_local std::vector<float> scratch;
  scratch.resize(static_cast<std::size_t>(analyze_simd::cols_scratch_floats(nj)));
#if defined(RAMQ_X86_KERNELS)
  if (kernel == Kernel::Avx512) return analyze_simd::avx512::cols_times(w, ldw, m, j0, nj, yp, cp, c_count, z, ldz, scratch.data());
  analyze_simd::avx2::cols_times(w, ldw, m, j0, nj, yp, cp, c_count, z, ldz, scratch.data());
#else
  (void)kernel, (void)w, (void)ldw, (void)m, (void)j0, (void)nj, (void)yp, (void)cp, (void)c_count, (void)z, (void)ldz;
#endif
}

void gram_kernel(Kernel kernel, const double* p, int nr, int cp, double* g) {
#if defined(RAMQ_X86_KERNELS)
  if (kernel == Kernel::Avx512) return analyze_simd::avx512::gram_rows(p, nr, cp, g);
  analyze_simd::avx2::gram_rows(p, nr, cp, g);
#else
  (void)kernel, (void)p, (void)nr, (void)cp, (void)g;
#endif
}

}  // namespace

std::string_view product_kernel_name() {
  switch (kernel_in_use()) {
    case Kernel::Avx512: return "avx512";
    case Kernel::Avx2: return "avx2";
    case Kernel::OpenBlas: break;
  }
  return "openblas";
}

void w_times(MatrixView w, const float* nmat, int ldn, int c, float* y, int ldy, unsigned threads) {
  const auto m = static_cast<int>(w.rows), n = static_cast<int>(w.cols);
  const Kernel kernel = kernel_in_use();
  if (kernel == Kernel::OpenBlas) {
    // W (row-major m x n) is the column-major n x m matrix W^T with leading dimension n.
    parallel_for(pieces_of(m), threads, [&](std::size_t piece) {
      const int r0 = static_cast<int>(piece) * piece_size(m), rows = std::min(piece_size(m), m - r0);
      cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, rows, c, n, 1.0f,
                  w.data + static_cast<std::size_t>(r0) * static_cast<std::size_t>(n), n, nmat, ldn, 0.0f, y + r0,
                  ldy);
    });
    return;
  }
  const int cp = padded(c);
  const std::vector<float> vp = pack_rows(nmat, ldn, n, c, cp, threads);
  parallel_for(pieces_of(m), threads, [&](std::size_t piece) {
    const int r0 = static_cast<int>(piece) * piece_size(m), rows = std::min(piece_size(m), m - r0);
    thread_local std::vector<float> out;
    out.resize(static_cast<std::size_t>(rows) * static_cast<std::size_t>(cp));
    const float* wr = w.data + static_cast<std::size_t>(r0) * static_cast<std::size_t>(n);
    rows_kernel(kernel, wr, n, rows, n, vp.data(), cp, out.data());
    for (int col = 0; col < c; ++col) {
      float* dst = y + static_cast<std::size_t>(col) * static_cast<std::size_t>(ldy) + r0;
      for (int r = 0; r < rows; ++r) dst[r] = out[static_cast<std::size_t>(r) * cp + col];
    }
  });
}

void wt_times(MatrixView w, const float* y, int ldy, int c, float* nmat, int ldn, unsigned threads) {
  const auto m = static_cast<int>(w.rows), n = static_cast<int>(w.cols);
  const Kernel kernel = kernel_in_use();
  if (kernel == Kernel::OpenBlas) {
    // Rows c0.. of N from columns c0.. of W.
    parallel_for(pieces_of(n), threads, [&](std::size_t piece) {
      const int c0 = static_cast<int>(piece) * piece_size(n), cols = std::min(piece_size(n), n - c0);
      cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, cols, c, m, 1.0f, w.data + c0, n, y, ldy, 0.0f,
                  nmat + c0, ldn);
    });
    return;
  }
  const int cp = padded(c);
  const std::vector<float> yp = pack_rows(y, ldy, m, c, cp, threads);
  parallel_for(pieces_of(n), threads, [&](std::size_t piece) {
    const int j0 = static_cast<int>(piece) * piece_size(n), cols = std::min(piece_size(n), n - j0);
    cols_kernel(kernel, w.data, n, m, j0, cols, yp.data(), cp, c, nmat, ldn);
  });
}

std::vector<double> gram_lower(const float* y, int ldy, int r0, int r1, int cols) {
  const Kernel kernel = kernel_in_use();
  // Rows at a time, converted to double (and, for our kernel, transposed to row-major).
  constexpr int kGramRows = 128;
  if (kernel == Kernel::OpenBlas) {
    std::vector<double> out(static_cast<std::size_t>(cols) * static_cast<std::size_t>(cols), 0.0);
    std::vector<double> piece(static_cast<std::size_t>(kGramRows) * static_cast<std::size_t>(cols));
    for (int p0 = r0; p0 < r1; p0 += kGramRows) {
      const int nr = std::min(kGramRows, r1 - p0);
      for (int j = 0; j < cols; ++j) {
        const float* src = y + static_cast<std::size_t>(j) * static_cast<std::size_t>(ldy) + p0;
        std::copy(src, src + nr, piece.begin() + static_cast<std::ptrdiff_t>(j) * nr);
      }
      cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, cols, nr, 1.0, piece.data(), nr, 1.0, out.data(), cols);
    }
    return out;
  }
  // Row-major G (padded to cp x cp) on and above its diagonal is the column-major lower triangle.
  const int cp = (cols + 7) / 8 * 8;
  std::vector<double> g(static_cast<std::size_t>(cp) * static_cast<std::size_t>(cp), 0.0);
  std::vector<double> piece(static_cast<std::size_t>(kGramRows) * static_cast<std::size_t>(cp), 0.0);
  for (int p0 = r0; p0 < r1; p0 += kGramRows) {
    const int nr = std::min(kGramRows, r1 - p0);
    transpose_rows(y, static_cast<std::size_t>(ldy), p0, p0 + nr, cols, piece.data(), static_cast<std::size_t>(cp));
    gram_kernel(kernel, piece.data(), nr, cp, g.data());
  }
  if (cp == cols) return g;  // no padding to drop
  std::vector<double> out(static_cast<std::size_t>(cols) * static_cast<std::size_t>(cols));
  for (int a = 0; a < cols; ++a)
    std::copy(g.begin() + static_cast<std::ptrdiff_t>(a) * cp, g.begin() + static_cast<std::ptrdiff_t>(a) * cp + cols,
              out.begin() + static_cast<std::ptrdiff_t>(a) * cols);
  return out;
}

}  // namespace ramq::detail
