// The randomized SVD's products with W and the Ritz step's Gram matrix (declared, with the reason
// both levels give the same bits, in product_kernels.h). Compiled once per level: RAMQ_PRODUCT_NS names the namespace, and the
// compiler flags (-mavx2 -mfma, or -mavx512f) decide the register width below. Everything here
// has internal linkage or lives in that namespace, and no std:: template is used, so the linker
// can never merge an AVX-512 copy of an inline function into the AVX2 code.
#include "analyze/simd/product_kernels.h"

#include <immintrin.h>

#ifndef RAMQ_PRODUCT_NS
#error "product_kernels.cpp is compiled once per level with RAMQ_PRODUCT_NS set"
#endif

#define RAMQ_KERNEL_INLINE static inline __attribute__((always_inline))
// Register tiles are arrays the compiler must keep in registers: unrolled completely, never left
// as loops over memory.
#define RAMQ_UNROLL _Pragma("GCC unroll 16")

namespace ramq::analyze_simd::RAMQ_PRODUCT_NS {
namespace {

// Vector operations, overloaded on the element type (float or double).
#if defined(__AVX512F__)
RAMQ_KERNEL_INLINE __m512 vzero(const float*) { return _mm512_setzero_ps(); }
RAMQ_KERNEL_INLINE __m512 vload(const float* p) { return _mm512_loadu_ps(p); }
RAMQ_KERNEL_INLINE void vstore(float* p, __m512 v) { _mm512_storeu_ps(p, v); }
RAMQ_KERNEL_INLINE __m512 vbroadcast(const float* p) { return _mm512_set1_ps(*p); }
RAMQ_KERNEL_INLINE __m512 vfma(__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); }
RAMQ_KERNEL_INLINE __m512d vzero(const double*) { return _mm512_setzero_pd(); }
RAMQ_KERNEL_INLINE __m512d vload(const double* p) { return _mm512_loadu_pd(p); }
RAMQ_KERNEL_INLINE void vstore(double* p, __m512d v) { _mm512_storeu_pd(p, v); }
RAMQ_KERNEL_INLINE __m512d vbroadcast(const double* p) { return _mm512_set1_pd(*p); }
RAMQ_KERNEL_INLINE __m512d vfma(__m512d a, __m512d b, __m512d c) { return _mm512_fmadd_pd(a, b, c); }
// Register tiles (accumulators + operands within the 32 registers).
constexpr int kRowTile = 6;   // rows_times: rows of W per tile
constexpr int kRowVecs = 4;   // rows_times: registers of output columns per tile
constexpr int kRowTileNarrow = 12;  // rows_times with at most 2 registers of columns (the noise probes)
constexpr int kColTile = 8;   // cols_times: output columns per tile
constexpr int kColVecs = 3;   // cols_times: registers of W's columns per tile
constexpr int kGramTile = 6;  // gram_rows: rows of G per tile
constexpr int kGramVecs = 4;  // gram_rows: registers of G's columns per tile
#elif defined(__AVX2__) && defined(__FMA__)
RAMQ_KERNEL_INLINE __m256 vzero(const float*) { return _mm256_setzero_ps(); }
RAMQ_KERNEL_INLINE __m256 vload(const float* p) { return _mm256_loadu_ps(p); }
RAMQ_KERNEL_INLINE void vstore(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
RAMQ_KERNEL_INLINE __m256 vbroadcast(const float* p) { return _mm256_broadcast_ss(p); }
RAMQ_KERNEL_INLINE __m256 vfma(__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); }
RAMQ_KERNEL_INLINE __m256d vzero(const double*) { return _mm256_setzero_pd(); }
RAMQ_KERNEL_INLINE __m256d vload(const double* p) { return _mm256_loadu_pd(p); }
RAMQ_KERNEL_INLINE void vstore(double* p, __m256d v) { _mm256_storeu_pd(p, v); }
RAMQ_KERNEL_INLINE __m256d vbroadcast(const double* p) { return _mm256_broadcast_sd(p); }
RAMQ_KERNEL_INLINE __m256d vfma(__m256d a, __m256d b, __m256d c) { return _mm256_fmadd_pd(a, b, c); }
// 12 accumulators + 4 operands = the 16 registers.
constexpr int kRowTile = 4;
constexpr int kRowVecs = 3;
constexpr int kRowTileNarrow = 4;
constexpr int kColTile = 4;   // cols_times: output columns per tile
constexpr int kColVecs = 3;   // cols_times: registers of W's columns per tile
constexpr int kGramTile = 4;
constexpr int kGramVecs = 3;
#else
#error "product_kernels.cpp needs AVX2 + FMA or AVX-512"
#endif

template <class T>
using VecOf = decltype(vload(static_cast<const T*>(nullptr)));
template <class T>
constexpr int kLanes = static_cast<int>(sizeof(VecOf<T>) / sizeof(T));
constexpr int kW = kLanes<float>;   // floats per register
constexpr int kWD = kLanes<double>;  // doubles per register

// Cache blocks along the reduction: the operand slices a tile re-reads stay in L1/L2.
constexpr int kReduceBlock = 128;             // rows_times: columns of W
constexpr int kColsBlockRows = kColsReduceRows;  // cols_times: rows of W

int min_int(int a, int b) { return a < b ? a : b; }

// One register tile of every product here: N broadcast scalars x NV registers,
//   out[s * out_ld + v * lanes ..] += a[t * a_step + s * a_ld] * b[t * b_step + v * lanes ..]
// over `steps` steps t, each element one FMA chain in step order, from 0 if `first`, else from
// `out`. `ahead` (or nullptr): memory to ask for into L2 while the tile computes, the NV registers'
// width of it at ahead + t * ahead_step for each step.
template <int N, int NV, class T>
void tile(const T* a, std::int64_t a_ld, std::int64_t a_step, const T* b, std::int64_t b_step, int steps, T* out,
          std::int64_t out_ld, bool first, const T* ahead, std::int64_t ahead_step) {
  using V = VecOf<T>;
  constexpr int L = kLanes<T>;
  V acc[N][NV];
  RAMQ_UNROLL
  for (int i = 0; i < N; ++i)
    RAMQ_UNROLL
    for (int v = 0; v < NV; ++v) acc[i][v] = first ? vzero(out) : vload(out + i * out_ld + v * L);
  for (int t = 0; t < steps; ++t, a += a_step, b += b_step) {
    if (ahead) {
      RAMQ_UNROLL
      for (int x = 0; x < NV * L; x += 64 / static_cast<int>(sizeof(T)))
        _mm_prefetch(reinterpret_cast<const char*>(ahead + t * ahead_step + x), _MM_HINT_T1);
    }
    V bv[NV];
    RAMQ_UNROLL
    for (int v = 0; v < NV; ++v) bv[v] = vload(b + v * L);
    RAMQ_UNROLL
    for (int i = 0; i < N; ++i) {
      const V av = vbroadcast(a + i * a_ld);
      RAMQ_UNROLL
      for (int v = 0; v < NV; ++v) acc[i][v] = vfma(av, bv[v], acc[i][v]);
    }
  }
  RAMQ_UNROLL
  for (int i = 0; i < N; ++i)
    RAMQ_UNROLL
    for (int v = 0; v < NV; ++v) vstore(out + i * out_ld + v * L, acc[i][v]);
}

// The tile for n <= N scalars and nv <= NV registers (a compile-time shape for each).
template <int N, int NV, class... Args>
void tile_for(int n, int nv, Args... args) {
  if constexpr (N > 1) {
    if (n < N) return tile_for<N - 1, NV>(n, nv, args...);
  }
  if constexpr (NV > 1) {
    if (nv < NV) return tile_for<N, NV - 1>(n, nv, args...);
  }
  tile<N, NV>(args...);
}

}  // namespace

namespace {
template <int NR, int NV>
void rows_times_tiled(const float* w, std::int64_t ldw, int rows, int n, const float* vp, int cp, float* out) {
  const int vecs = cp / kW;  // cp is a multiple of 16, hence of kW
  for (int k0 = 0; k0 < n || k0 == 0; k0 += kReduceBlock) {
    const int kl = min_int(kReduceBlock, n - k0);
    const bool first = k0 == 0;
    for (int v0 = 0; v0 < vecs; v0 += NV) {
      const int nv = min_int(NV, vecs - v0);
      for (int r0 = 0; r0 < rows; r0 += NR) {
        const int nr = min_int(NR, rows - r0);
        // Scalars: the tile's rows of W, one step along them per reduction step; registers: vp's rows.
        tile_for<NR, NV>(nr, nv, w + static_cast<std::int64_t>(r0) * ldw + k0, ldw, std::int64_t{1},
                         vp + static_cast<std::int64_t>(k0) * cp + v0 * kW, std::int64_t{cp}, kl,
                         out + static_cast<std::int64_t>(r0) * cp + v0 * kW, std::int64_t{cp}, first,
                         static_cast<const float*>(nullptr), std::int64_t{0});
      }
    }
    if (n == 0) break;
  }
}
}  // namespace

void rows_times(const float* w, std::int64_t ldw, int rows, int n, const float* vp, int cp, float* out) {
  // Few output columns: taller tiles keep as many accumulators busy per broadcast of W.
  if (cp / kW <= 2 && kRowTileNarrow > kRowTile) return rows_times_tiled<kRowTileNarrow, 2>(w, ldw, rows, n, vp, cp, out);
  rows_times_tiled<kRowTile, kRowVecs>(w, ldw, rows, n, vp, cp, out);
}

void cols_times(const float* w, std::int64_t ldw, int m, int j0, int nj, const float* yp, int cp, int c_count,
                float* z, std::int64_t ldz, float* scratch) {
  const int jend = j0 + nj;
  // Columns of W that fill whole registers; the rest (fewer than kW) below, one chain at a time.
  const int jvec_end = j0 + (nj / kW) * kW;
  for (int i0 = 0; i0 < m || i0 == 0; i0 += kColsBlockRows) {
    const int il = min_int(kColsBlockRows, m - i0);
    const bool first = i0 == 0;
    const float* wi = w + static_cast<std::int64_t>(i0) * ldw;
    const float* yi = yp + static_cast<std::int64_t>(i0) * cp;
    // The il rows of W's columns [j0, jvec_end), copied once, row by row (whole contiguous runs),
    // into one contiguous panel per tile of columns that every column tile then reads: W's rows
    // are often a multiple of 4 KiB apart, so reading the tiles in place would map all their rows
    // onto a few L1 sets.
    float* const panels = scratch;
    for (int i = 0; i < il; ++i) {
      const float* src = wi + static_cast<std::int64_t>(i) * ldw;
      float* dst = panels;
      for (int j = j0; j < jvec_end; j += kColVecs * kW) {
        const int width = min_int(kColVecs, (jvec_end - j) / kW) * kW;
        for (int x = 0; x < width; x += kW) vstore(dst + i * width + x, vload(src + j + x));
        dst += il * width;
      }
    }
    // While the tiles compute, the first tile of each panel asks for the same columns of the next
    // block's rows (a whole block: the copy above then reads from L2, not memory).
    const int next_rows = min_int(kColsBlockRows, m - (i0 + il));
    const float* panel = panels;
    for (int j = j0; j < jvec_end; j += kColVecs * kW) {
      const int nv = min_int(kColVecs, (jvec_end - j) / kW);
      const int width = nv * kW;
      const float* ahead = next_rows == il ? wi + static_cast<std::int64_t>(il) * ldw + j : nullptr;
      for (int c0 = 0; c0 < c_count; c0 += kColTile) {
        const int nc = min_int(kColTile, c_count - c0);
        // Scalars: Y's row (nc of its columns) at each row of W; registers: the panel's rows.
        tile_for<kColTile, kColVecs>(nc, nv, yi + c0, std::int64_t{1}, std::int64_t{cp}, panel, std::int64_t{width}, il,
                                     z + c0 * ldz + j, ldz, first, c0 == 0 ? ahead : nullptr, ldw);
      }
      panel += il * width;
    }
    for (int j = jvec_end; j < jend; ++j) {
      for (int c = 0; c < c_count; ++c) {
        float acc = first ? 0.0f : z[c * ldz + j];
        for (int i = 0; i < il; ++i) acc = __builtin_fmaf(wi[i * ldw + j], yi[i * cp + c], acc);
        z[c * ldz + j] = acc;
      }
    }
    if (m == 0) break;
  }
}

void gram_rows(const double* p, int nr, int cp, double* g) {
  const int vecs = cp / kWD;  // cp is a multiple of 8, hence of kWD
  // A tile of G's columns at a time (its rows of p stay in L1), every tile of rows that reaches it.
  for (int v0 = 0; v0 < vecs; v0 += kGramVecs) {
    const int nv = min_int(kGramVecs, vecs - v0);
    const int b_end = (v0 + nv) * kWD;
    for (int a0 = 0; a0 < b_end; a0 += kGramTile) {
      const int na = min_int(kGramTile, b_end - a0);
      // Scalars: row r of p at G's rows a0..; registers: row r of p at G's columns.
      tile_for<kGramTile, kGramVecs>(na, nv, p + a0, std::int64_t{1}, std::int64_t{cp}, p + v0 * kWD, std::int64_t{cp},
                                     nr, g + static_cast<std::int64_t>(a0) * cp + v0 * kWD, std::int64_t{cp}, false,
                                     static_cast<const double*>(nullptr), std::int64_t{0});
    }
  }
}

}  // namespace ramq::analyze_simd::RAMQ_PRODUCT_NS
