// GGUF encoder searches, 16 problems at a time: one lane per block (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
// IQ4_NL) or per sub-block (K-quants: one super-block of 16 sub-blocks, or two of 8). Compiled
// once per SIMD level (lanes.h); every lane computes exactly what a scalar loop over its own block
// would, so the bytes are the same at every level.
//
// Accumulations run in float32 lanes, element by element in block order; the least-squares
// solutions and scores that need more range are computed in double from those sums. The searches:
//
// sym_fit (symmetric x ~ s*q, q in [qmin, qmax]): for each sign of s the max-|x| element is mapped
//   to kSymTargets + 1 fractional levels between L - max(1.5, L/4) and L + 0.6 (L = -qmin or qmax;
//   L itself is one of them), q is rounded and s refit by least squares, scored by <x,q>^2/<q,q>
//   (the error reduction of the refit scale); the best gets up to three Lloyd steps.
// affine_fit (x ~ scale*q + offset, q in [0, qmax], offset <= 0 for K-quants): the range [lo, hi]
//   is covered with (qmax - 1 + 0.1k) steps (k < kAffSteps), q rounded, (scale, offset) refit by
//   least squares and scored by their residual; the plain min/max fit competes; the best gets up
//   to three Lloyd steps judged by exact error.
// K-quants: sub-blocks are fit first; d (and dmin) map the largest sub-block scale (min) to the
//   end of the sub-scale range; each sub-block's 6-bit (4-bit, 8-bit) scale (and min) is chosen in
//   the neighbourhood of the rounded values by exact error; (d, dmin) is refit by least squares
//   over the super-block and kept while the exact error falls.
// 32-element blocks: the candidates (ggml's reference scale, the searched fit, its fp16
//   neighbours) compete by exact error after fp16 rounding.
// The shared fits are in gguf_fits.h, the K-quant searches in gguf_kquant_kernels.cpp.
#include "encode/simd/gguf_fits.h"

namespace ramq::simd::RAMQ_ISA_NS {

// gguf_kquant_kernels.cpp
void aff_k(const float* x, std::int64_t nblocks, const gguf::AffKSpec& sp, gguf::AffKBlock* out);
void sym_k(const float* x, std::int64_t nblocks, const gguf::SymKSpec& sp, gguf::SymKBlock* out);

namespace {

// ---------------------------------------------------------------- 32-element blocks

// The fp16 scale of each lane with the least exact error error_of(d) among ggml's reference scale
// `ref`, the searched `fit` and the fit's two fp16 neighbours (ties: the earlier candidate); lanes
// where `valid` is false get 0. Writes the fp16 bits to best[], returns them as floats.
template <class ErrorOf>
RAMQ_LANE vf best_fp16_scale(vf fit, vf ref, vi valid, ErrorOf error_of, std::uint16_t* best) {
  std::uint16_t cand[4][kLanes];
  for (int l = 0; l < kLanes; ++l) {
    const std::uint16_t f = to_fp16(get(fit, l));
    cand[0][l] = to_fp16(get(ref, l));
    cand[1][l] = f;
    cand[2][l] = fp16_neighbour(f, -1);
    cand[3][l] = fp16_neighbour(f, 1);
    best[l] = 0;
  }
  vf best_d = {}, best_err = splat(kInf);
  for (int c = 0; c < 4; ++c) {
    const vf d = from_fp16_lanes(cand[c]);
    const vf e = error_of(d);
    const vi up = valid & (e < best_err);
    best_err = sel(up, e, best_err);
    best_d = sel(up, d, best_d);
    for (int l = 0; l < kLanes; ++l) best[l] = get(up, l) ? cand[c][l] : best[l];
  }
  return best_d;
}

void sym32(const float* x, std::int64_t nblocks, const gguf::Sym32Spec& sp, gguf::Sym32Block* out) {
  alignas(64) float X[32 * kLanes];
  const vf qmin = splat(static_cast<float>(sp.qmin)), qmax = splat(static_cast<float>(sp.qmax));
  for (std::int64_t b0 = 0; b0 < nblocks; b0 += kLanes) {
    const int nl = static_cast<int>(min64(kLanes, nblocks - b0));
    gather(x + b0 * 32, 32, nl, X);
    vf amax, vmax;
    absmax(X, 32, amax, vmax);
    const vf fit = sym_fit(X, 32, sp.qmin, sp.qmax, amax, vmax);
    const vf ref = (sp.ref_signed ? vmax : amax) / splat(sp.ref_den);
    std::uint16_t best[kLanes];
    const vf best_d = best_fp16_scale(
        fit, ref, splati(-1), [&](vf d) __attribute__((always_inline)) { return sym_error(X, 32, d, qmin, qmax); },
        best);
    const vi nz = best_d != vf{};
    for (int l = 0; l < nl; ++l) out[b0 + l].d = best[l];
    for (int i = 0; i < 32; ++i) {
      const vi q = to_i(sel(nz, round_clamp(load(X + i * kLanes) / best_d, qmin, qmax), vf{}));
      for (int l = 0; l < nl; ++l) out[b0 + l].q[i] = static_cast<std::int8_t>(get(q, l));
    }
  }
}

void aff32(const float* x, std::int64_t nblocks, int qmax_i, gguf::Aff32Block* out) {
  alignas(64) float X[32 * kLanes], C[32 * kLanes];
  const vf qmax = splat(static_cast<float>(qmax_i));
  for (std::int64_t b0 = 0; b0 < nblocks; b0 += kLanes) {
    const int nl = static_cast<int>(min64(kLanes, nblocks - b0));
    gather(x + b0 * 32, 32, nl, X);
    vf lo = load(X), hi = lo;
    for (int i = 1; i < 32; ++i) {
      lo = vmin(lo, load(X + i * kLanes));
      hi = vmax(hi, load(X + i * kLanes));
    }
    const AffineLanes fit = affine_fit(X, C, 32, qmax_i, false);
    const vf ref_d = (hi - lo) / qmax;
    // ggml's reference (max - min)/qmax and min, then the searched fit and its fp16 neighbours
    std::uint16_t cd[6][kLanes], cm[6][kLanes];
    for (int l = 0; l < kLanes; ++l) {
      const std::uint16_t fd = to_fp16(get(fit.scale, l)), fm = to_fp16(get(fit.offset, l));
      cd[0][l] = to_fp16(get(ref_d, l));
      cm[0][l] = to_fp16(get(lo, l));
      cd[1][l] = fd, cm[1][l] = fm;
      cd[2][l] = fp16_neighbour(fd, -1), cm[2][l] = fm;
      cd[3][l] = fp16_neighbour(fd, 1), cm[3][l] = fm;
      cd[4][l] = fd, cm[4][l] = fp16_neighbour(fm, -1);
      cd[5][l] = fd, cm[5][l] = fp16_neighbour(fm, 1);
    }
    std::uint16_t best_d16[kLanes] = {}, best_m16[kLanes] = {};
    vf best_d = {}, best_m = {}, best_err = splat(kInf);
    for (int c = 0; c < 6; ++c) {
      const vf d = from_fp16_lanes(cd[c]), m = from_fp16_lanes(cm[c]);
      const vf e = affine_error(X, 32, d, m, qmax);
      const vi up = e < best_err;
      best_err = sel(up, e, best_err);
      best_d = sel(up, d, best_d);
      best_m = sel(up, m, best_m);
      for (int l = 0; l < kLanes; ++l) {
        best_d16[l] = get(up, l) ? cd[c][l] : best_d16[l];
        best_m16[l] = get(up, l) ? cm[c][l] : best_m16[l];
      }
    }
    for (int l = 0; l < nl; ++l) {
      out[b0 + l].d = best_d16[l];
      out[b0 + l].m = best_m16[l];
    }
    const vf inv = sel(best_d > vf{}, splat(1.0f) / best_d, vf{});
    for (int i = 0; i < 32; ++i) {  // as affine_error
      const vi q = to_i(round_clamp((load(X + i * kLanes) - best_m) * inv, vf{}, qmax));
      for (int l = 0; l < nl; ++l) out[b0 + l].q[i] = static_cast<std::uint8_t>(get(q, l));
    }
  }
}

// ---------------------------------------------------------------- IQ4_NL

// ggml's kvalues_iq4nl, and sums of neighbours: 2v > kMid2[k] means v is nearer value k+1 than k.
alignas(64) constexpr float kIq4[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
alignas(64) constexpr float kMid2[16] = {-231, -187, -148, -114, -84, -57, -32, -9,
                                         14,   38,   63,   91,   122,  158, 202, kInf};
// The same, shifted: kMid2Below[k] = kMid2[k - 1] (-inf for k = 0); kIq4Up[k] = kIq4[min(k + 1, 15)],
// kIq4Down[k] = kIq4[max(k - 1, 0)].
alignas(64) constexpr float kMid2Below[16] = {-kInf, -231, -187, -148, -114, -84, -57, -32,
                                              -9,    14,   38,   63,   91,   122, 158, 202};
alignas(64) constexpr float kIq4Up[16] = {-104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113, 113};
alignas(64) constexpr float kIq4Down[16] = {-127, -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89};
constexpr int kIq4ZeroIndex = 8;  // a zero scale decodes every index to 0; use the value nearest 0

// Index of the codebook value nearest v (ties to the lower index; NaN gives 0): the number of
// midpoints below v, by a branchless binary search.
RAMQ_LANE vi iq4_index(vf v) {
  const vf v2 = v + v;
  vi idx = (v2 > splat(kMid2[7])) & 8;
  for (int step = 4; step >= 1; step >>= 1) idx += (v2 > lookup16(kMid2, idx + (step - 1))) & step;
  return idx;
}

// code_of(x, inv): the nearest index of x * inv, kIq4ZeroIndex for inv = 0.
RAMQ_LANE vi iq4_code(vf x, vf inv, vi inv_nz) { return seli(inv_nz, iq4_index(x * inv), splati(kIq4ZeroIndex)); }

RAMQ_LANE vf inverse(vf d) { return sel(d != vf{}, splat(1.0f) / d, vf{}); }

// Least-squares d for the codes chosen with scale d (d where every value is 0), and its score
// <x,v>^2/<v,v>.
RAMQ_LANE void iq4_refit(const float* X, vf d, vf& d_out, vd& score) {
  const vf inv = inverse(d);
  const vi nz = inv != vf{};
  refit_scale(X, 32, d, [&](vf x) __attribute__((always_inline)) { return lookup16(kIq4, iq4_code(x, inv, nz)); }, d_out, score);
}

RAMQ_LANE vf iq4_error(const float* X, vf d) {
  const vf inv = inverse(d);
  const vi nz = inv != vf{};
  vf e = {};
  for (int i = 0; i < 32; ++i) {
    const vf x = load(X + i * kLanes);
    const vf diff = d * lookup16(kIq4, iq4_code(x, inv, nz)) - x;
    e += diff * diff;
  }
  return e;
}

// For both signs of d, the largest-magnitude element is mapped near the codebook end (-127 or
// +113, offsets -7..+7 like ggml's search), every element takes the nearest codebook value, and d
// is refit by least squares, scored by <x,v>^2/<v,v>; the best gets up to three Lloyd steps.
// Finally ggml's reference d = max/-127, the fit and its fp16 neighbours compete by exact error
// after fp16 rounding.
//
// Within one end's 15 candidates the scaled values x / d move by less than 7.5 from those of the
// central candidate (offset 0), less than the smallest gap between two midpoints of the codebook
// (11.5): each element's index is then the central index, or one more or one less, decided by
// comparing with the two midpoints around the central index (exactly what iq4_index would give).
void iq4_nl(const float* x, std::int64_t nblocks, gguf::Iq4Block* out) {
  alignas(64) float X[32 * kLanes], Up[32 * kLanes], Down[32 * kLanes], Vc[32 * kLanes], Vu[32 * kLanes],
      Vd[32 * kLanes];
  for (std::int64_t b0 = 0; b0 < nblocks; b0 += kLanes) {
    const int nl = static_cast<int>(min64(kLanes, nblocks - b0));
    gather(x + b0 * 32, 32, nl, X);
    vf amax, vmax;
    absmax(X, 32, amax, vmax);
    const vi valid = (amax > splat(kTiny)) & is_finite(amax);
    vf fit = {};
    vd best_score = splatd(-1.0);
    for (int side = 0; side < 2; ++side) {
      const float end = side == 0 ? kIq4[0] : kIq4[15];
      const vf inv_c = inverse(vmax / splat(end));
      const vi nz_c = inv_c != vf{};
      for (int i = 0; i < 32; ++i) {
        const vi idx = iq4_code(load(X + i * kLanes), inv_c, nz_c);
        store(Up + i * kLanes, lookup16(kMid2, idx));
        store(Down + i * kLanes, lookup16(kMid2Below, idx));
        store(Vc + i * kLanes, lookup16(kIq4, idx));
        store(Vu + i * kLanes, lookup16(kIq4Up, idx));
        store(Vd + i * kLanes, lookup16(kIq4Down, idx));
      }
      for (int t = -7; t <= 7; ++t) {
        const vf d = vmax / splat(end + static_cast<float>(t));
        const vf inv = inverse(d);
        vf sxv = {}, svv = {};
        for (int i = 0; i < 32; ++i) {
          const vf xi = load(X + i * kLanes);
          const vf v = xi * inv;
          const vf v2 = v + v;
          const vf val = sel(v2 > load(Up + i * kLanes), load(Vu + i * kLanes),
                             sel(v2 > load(Down + i * kLanes), load(Vc + i * kLanes), load(Vd + i * kLanes)));
          sxv += val * xi;
          svv += val * val;
        }
        const vi pos = svv > vf{};
        const vd a = to_d(sxv), b = to_d(svv);
        const vd score = seld(wide(pos), a * a / b, vd{});
        const vl up = score > best_score;
        fit = sel(narrow(up), sel(pos, sxv / svv, d), fit);
        best_score = seld(up, score, best_score);
      }
    }
    vi active = valid;
    for (int it = 0; it < 3 && any(active); ++it) {
      vf d;
      vd score;
      iq4_refit(X, fit, d, score);
      const vi improve = active & narrow(score > best_score);
      fit = sel(improve, d, fit);
      best_score = seld(wide(improve), score, best_score);
      active = improve;
    }
    // exact error after fp16 rounding: ggml's reference d = max/-127, the fit and its neighbours
    std::uint16_t best[kLanes];
    const vf best_d = best_fp16_scale(fit, vmax / splat(kIq4[0]), valid,
                                      [&](vf d) __attribute__((always_inline)) { return iq4_error(X, d); }, best);
    for (int l = 0; l < nl; ++l) out[b0 + l].d = best[l];
    const vf inv = inverse(best_d);
    const vi nz = inv != vf{};
    for (int i = 0; i < 32; ++i) {
      const vi q = iq4_code(load(X + i * kLanes), inv, nz);
      for (int l = 0; l < nl; ++l) out[b0 + l].q[i] = static_cast<std::uint8_t>(get(q, l));
    }
  }
}

}  // namespace

extern const Kernels kKernels;  // declared in kernels.h (portable, avx2, avx512) or by a test

// src/encode/simd/mlx_kernels.cpp
std::int64_t mlx_groups(const float* w, std::int64_t ngroups, int group, int qmax, DType scale_dtype, bool search,
                        float* scales, float* biases, std::uint8_t* codes);

const Kernels kKernels = {RAMQ_ISA_LEVEL, aff_k, sym_k, sym32, aff32, iq4_nl, mlx_groups};
}  // namespace ramq::simd::RAMQ_ISA_NS
