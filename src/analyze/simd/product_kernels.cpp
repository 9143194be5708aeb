// The randomized SVD's products with W (declared, with the reason both levels give the same bits,
// in product_kernels.h). Compiled once per level: RAMQ_PRODUCT_NS names the namespace, and the
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

#if defined(__AVX512F__)
using Vec = __m512;
constexpr int kW = 16;  // floats per register
RAMQ_KERNEL_INLINE Vec vzero() { return _mm512_setzero_ps(); }
RAMQ_KERNEL_INLINE Vec vload(const float* p) { return _mm512_loadu_ps(p); }
RAMQ_KERNEL_INLINE void vstore(float* p, Vec v) { _mm512_storeu_ps(p, v); }
RAMQ_KERNEL_INLINE Vec vbroadcast(const float* p) { return _mm512_set1_ps(*p); }
RAMQ_KERNEL_INLINE Vec vfma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
// Register tiles (accumulators + operands within the 32 registers).
constexpr int kRowTile = 6;   // rows_times: rows of W per tile
constexpr int kRowVecs = 4;   // rows_times: registers of output columns per tile
constexpr int kRowTileNarrow = 12;  // rows_times with at most 2 registers of columns (the noise probes)
constexpr int kColTile = 8;   // cols_times: output columns per tile
constexpr int kColVecs = 3;   // cols_times: registers of W's columns per tile
using VecD = __m512d;
constexpr int kWD = 8;  // doubles per register
RAMQ_KERNEL_INLINE VecD dload(const double* p) { return _mm512_loadu_pd(p); }
RAMQ_KERNEL_INLINE void dstore(double* p, VecD v) { _mm512_storeu_pd(p, v); }
RAMQ_KERNEL_INLINE VecD dbroadcast(const double* p) { return _mm512_set1_pd(*p); }
RAMQ_KERNEL_INLINE VecD dfma(VecD a, VecD b, VecD c) { return _mm512_fmadd_pd(a, b, c); }
constexpr int kGramTile = 6;  // gram_rows: rows of G per tile
constexpr int kGramVecs = 4;  // gram_rows: registers of G's columns per tile
#elif defined(__AVX2__) && defined(__FMA__)
using Vec = __m256;
constexpr int kW = 8;
RAMQ_KERNEL_INLINE Vec vzero() { return _mm256_setzero_ps(); }
RAMQ_KERNEL_INLINE Vec vload(const float* p) { return _mm256_loadu_ps(p); }
RAMQ_KERNEL_INLINE void vstore(float* p, Vec v) { _mm256_storeu_ps(p, v); }
RAMQ_KERNEL_INLINE Vec vbroadcast(const float* p) { return _mm256_broadcast_ss(p); }
RAMQ_KERNEL_INLINE Vec vfma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
// 12 accumulators + 4 operands = the 16 registers.
constexpr int kRowTile = 4;
constexpr int kRowVecs = 3;
constexpr int kRowTileNarrow = 4;
constexpr int kColTile = 4;   // cols_times: output columns per tile
constexpr int kColVecs = 3;   // cols_times: registers of W's columns per tile
using VecD = __m256d;
constexpr int kWD = 4;
RAMQ_KERNEL_INLINE VecD dload(const double* p) { return _mm256_loadu_pd(p); }
RAMQ_KERNEL_INLINE void dstore(double* p, VecD v) { _mm256_storeu_pd(p, v); }
RAMQ_KERNEL_INLINE VecD dbroadcast(const double* p) { return _mm256_broadcast_sd(p); }
RAMQ_KERNEL_INLINE VecD dfma(VecD a, VecD b, VecD c) { return _mm256_fmadd_pd(a, b, c); }
constexpr int kGramTile = 4;
constexpr int kGramVecs = 3;
#else
#error "product_kernels.cpp needs AVX2 + FMA or AVX-512"
#endif

// Cache blocks along the reduction: the operand slices a tile re-reads stay in L1/L2.
constexpr int kReduceBlock = 128;             // rows_times: columns of W
constexpr int kColsBlockRows = kColsReduceRows;  // cols_times: rows of W

int min_int(int a, int b) { return a < b ? a : b; }

// rows_times, one register tile: NR rows of W x NV registers of columns, over kl reduction steps
// from k0. `first`: the chains start here (from 0), else they continue from `out`.
template <int NR, int NV>
void rows_tile(const float* w, std::int64_t ldw, int k0, int kl, const float* vp, int cp, float* out, bool first) {
  Vec acc[NR][NV];
  RAMQ_UNROLL
  for (int r = 0; r < NR; ++r)
    RAMQ_UNROLL
    for (int v = 0; v < NV; ++v) acc[r][v] = first ? vzero() : vload(out + r * cp + v * kW);
  const float* b = vp + static_cast<std::int64_t>(k0) * cp;
  const float* a = w + k0;
  for (int k = 0; k < kl; ++k, b += cp, ++a) {
    Vec bv[NV];
    RAMQ_UNROLL
    for (int v = 0; v < NV; ++v) bv[v] = vload(b + v * kW);
    RAMQ_UNROLL
    for (int r = 0; r < NR; ++r) {
      const Vec av = vbroadcast(a + r * ldw);
      RAMQ_UNROLL
      for (int v = 0; v < NV; ++v) acc[r][v] = vfma(av, bv[v], acc[r][v]);
    }
  }
  RAMQ_UNROLL
  for (int r = 0; r < NR; ++r)
    RAMQ_UNROLL
    for (int v = 0; v < NV; ++v) vstore(out + r * cp + v * kW, acc[r][v]);
}

// The tile for nr <= NR rows and nv <= NV registers (a compile-time shape for each).
template <int NR, int NV>
void rows_tile_for(int nr, int nv, const float* w, std::int64_t ldw, int k0, int kl, const float* vp, int cp,
                   float* out, bool first) {
  if constexpr (NR > 1) {
    if (nr < NR) return rows_tile_for<NR - 1, NV>(nr, nv, w, ldw, k0, kl, vp, cp, out, first);
  }
  if constexpr (NV > 1) {
    if (nv < NV) return rows_tile_for<NR, NV - 1>(nr, nv, w, ldw, k0, kl, vp, cp, out, first);
  }
  rows_tile<NR, NV>(w, ldw, k0, kl, vp, cp, out, first);
}

// cols_times, one register tile: NC output columns x NV registers of W's columns, over il rows of
// a panel. `ahead` (or nullptr): row 0 of the same columns of W's next block of rows, in place, to be
// asked for (into L2) one row per row of the panel while this tile computes.
template <int NC, int NV>
void cols_tile(const float* w, int il, const float* yp, int cp, float* z, std::int64_t ldz, bool first,
               const float* ahead, std::int64_t ldw) {
  constexpr int kWidth = NV * kW;  // the panel's row length
  Vec acc[NC][NV];
  RAMQ_UNROLL
  for (int c = 0; c < NC; ++c)
    RAMQ_UNROLL
    for (int v = 0; v < NV; ++v) acc[c][v] = first ? vzero() : vload(z + c * ldz + v * kW);
  for (int i = 0; i < il; ++i, w += kWidth, yp += cp) {
    if (ahead) {
      RAMQ_UNROLL
      for (int x = 0; x < kWidth; x += 16) _mm_prefetch(reinterpret_cast<const char*>(ahead + i * ldw + x), _MM_HINT_T1);
    }
    Vec av[NV];
    RAMQ_UNROLL
    for (int v = 0; v < NV; ++v) av[v] = vload(w + v * kW);
    RAMQ_UNROLL
    for (int c = 0; c < NC; ++c) {
      const Vec yv = vbroadcast(yp + c);
      RAMQ_UNROLL
      for (int v = 0; v < NV; ++v) acc[c][v] = vfma(yv, av[v], acc[c][v]);
    }
  }
  RAMQ_UNROLL
  for (int c = 0; c < NC; ++c)
    RAMQ_UNROLL
    for (int v = 0; v < NV; ++v) vstore(z + c * ldz + v * kW, acc[c][v]);
}

template <int NC, int NV>
void cols_tile_for(int nc, int nv, const float* w, int il, const float* yp, int cp, float* z, std::int64_t ldz,
                   bool first, const float* ahead, std::int64_t ldw) {
  if constexpr (NC > 1) {
    if (nc < NC) return cols_tile_for<NC - 1, NV>(nc, nv, w, il, yp, cp, z, ldz, first, ahead, ldw);
  }
  if constexpr (NV > 1) {
    if (nv < NV) return cols_tile_for<NC, NV - 1>(nc, nv, w, il, yp, cp, z, ldz, first, ahead, ldw);
  }
  cols_tile<NC, NV>(w, il, yp, cp, z, ldz, first, ahead, ldw);
}

// gram_rows, one register tile: G[a0 + a][b0 + b] += sum over r of p[r][a0 + a] * p[r][b0 + b] for
// NA rows and NV registers of columns of G, continuing each element's chain from g.
template <int NA, int NV>
void gram_tile(const double* pa, const double* pb, int ld, int nr, double* g, int ldg) {
  VecD acc[NA][NV];
  RAMQ_UNROLL
  for (int a = 0; a < NA; ++a)
    RAMQ_UNROLL
    for (int v = 0; v < NV; ++v) acc[a][v] = dload(g + a * ldg + v * kWD);
  for (int r = 0; r < nr; ++r, pa += ld, pb += ld) {
    VecD bv[NV];
    RAMQ_UNROLL
    for (int v = 0; v < NV; ++v) bv[v] = dload(pb + v * kWD);
    RAMQ_UNROLL
    for (int a = 0; a < NA; ++a) {
      const VecD av = dbroadcast(pa + a);
      RAMQ_UNROLL
      for (int v = 0; v < NV; ++v) acc[a][v] = dfma(av, bv[v], acc[a][v]);
    }
  }
  RAMQ_UNROLL
  for (int a = 0; a < NA; ++a)
    RAMQ_UNROLL
    for (int v = 0; v < NV; ++v) dstore(g + a * ldg + v * kWD, acc[a][v]);
}

template <int NA, int NV>
void gram_tile_for(int na, int nv, const double* pa, const double* pb, int ld, int nr, double* g, int ldg) {
  if constexpr (NA > 1) {
    if (na < NA) return gram_tile_for<NA - 1, NV>(na, nv, pa, pb, ld, nr, g, ldg);
  }
  if constexpr (NV > 1) {
    if (nv < NV) return gram_tile_for<NA, NV - 1>(na, nv, pa, pb, ld, nr, g, ldg);
  }
  gram_tile<NA, NV>(pa, pb, ld, nr, g, ldg);
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
        rows_tile_for<NR, NV>(nr, nv, w + static_cast<std::int64_t>(r0) * ldw, ldw, k0, kl, vp + v0 * kW, cp,
                              out + static_cast<std::int64_t>(r0) * cp + v0 * kW, first);
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
        cols_tile_for<kColTile, kColVecs>(nc, nv, panel, il, yi + c0, cp, z + c0 * ldz + j, ldz, first,
                                          c0 == 0 ? ahead : nullptr, ldw);
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
      gram_tile_for<kGramTile, kGramVecs>(na, nv, p + a0, p + v0 * kWD, cp, nr,
                                          g + static_cast<std::int64_t>(a0) * cp + v0 * kWD, cp);
    }
  }
}

}  // namespace ramq::analyze_simd::RAMQ_PRODUCT_NS
