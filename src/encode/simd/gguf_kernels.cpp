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
#include "encode/simd/kernels.h"
#include "encode/simd/lanes.h"
#include "ramq/dtype.h"

namespace ramq::simd::RAMQ_ISA_NS {
namespace {

using gguf::kQK;

constexpr float kTiny = 1e-30f;  // ranges below this are constant (their fp16 scale would be 0)
constexpr float kInf = __builtin_inff();
constexpr int kSymTargets = 16;
constexpr int kAffSteps = 31;
// Affine K-quants: sub-block scale codes within 1 of the rounded value, min codes within
// kMinRadius (the min moves more once the scale is quantized: radius 2 instead of 1 lowers Q4_K's
// error by about 0.2 %, at 15 instead of 9 candidates).
constexpr int kMinRadius = 2;

std::int64_t min64(std::int64_t a, std::int64_t b) { return a < b ? a : b; }

// ---------------------------------------------------------------- fp16 fields

// Round to nearest even; finite values beyond the fp16 range saturate to +-65504, NaN becomes 0.
std::uint16_t to_fp16(float f) {
  if (f != f) return 0;
  f = f < -65504.0f ? -65504.0f : f;
  f = f > 65504.0f ? 65504.0f : f;
  return ramq::f32_to_f16(f);
}
float from_fp16(std::uint16_t h) { return ramq::f16_to_f32(h); }

// fp16 bits one ulp from h: dir = +1 the next larger magnitude, -1 the next smaller (same sign);
// h itself at zero, at the smallest subnormal (dir -1) or at the largest finite value (dir +1).
std::uint16_t fp16_neighbour(std::uint16_t h, int dir) {
  const int mag = h & 0x7fff;
  if (mag == 0 || mag + dir < 1 || mag + dir > 0x7bff) return h;
  return static_cast<std::uint16_t>((h & 0x8000) | (mag + dir));
}

vf from_fp16_lanes(const std::uint16_t* h) {
  vf r;
  for (int l = 0; l < kLanes; ++l) set(r, l, from_fp16(h[l]));
  return r;
}

// ---------------------------------------------------------------- symmetric fits

// Largest magnitude of every lane and the signed value holding it (the first such element).
RAMQ_LANE void absmax(const float* X, int n, vf& amax, vf& vmax) {
  vf a = {}, v = {};
  for (int i = 0; i < n; ++i) {
    const vf x = load(X + i * kLanes);
    const vf ax = vabs(x);
    const vi up = ax > a;
    a = sel(up, ax, a);
    v = sel(up, x, v);
  }
  amax = a;
  vmax = v;
}

// q = round_clamp(x / s_in) (as x * (1 / s_in)); s refit by least squares (s_in where all q are
// 0) and its score <x,q>^2/<q,q>.
RAMQ_LANE void sym_refit(const float* X, int n, vf s_in, vf qmin, vf qmax, vf& s_out, vd& score) {
  const vf inv = splat(1.0f) / s_in;
  vf sxq = {}, sqq = {};
  for (int i = 0; i < n; ++i) {
    const vf x = load(X + i * kLanes);
    const vf q = round_clamp(x * inv, qmin, qmax);
    sxq += q * x;
    sqq += q * q;
  }
  const vi pos = sqq > vf{};
  const vd dxq = to_d(sxq), dqq = to_d(sqq);
  score = seld(wide(pos), dxq * dxq / dqq, vd{});
  s_out = sel(pos, sxq / sqq, s_in);
}

vf sym_fit(const float* X, int n, int qmin_i, int qmax_i, vf amax, vf vmax) {
  const vf qmin = splat(static_cast<float>(qmin_i)), qmax = splat(static_cast<float>(qmax_i));
  const vi valid = (amax > splat(kTiny)) & is_finite(amax);
  vf best = {};
  vd best_score = splatd(-1.0);
  for (int side = 0; side < 2; ++side) {
    const float level = side == 0 ? static_cast<float>(-qmin_i) : static_cast<float>(qmax_i);
    const vf signed_max = side == 0 ? -vmax : vmax;  // side 0 maps the max element to qmin
    const float lo = level - (0.25f * level > 1.5f ? 0.25f * level : 1.5f), hi = level + 0.6f;
    for (int k = -1; k < kSymTargets; ++k) {
      const float target = k < 0 ? level : lo + (hi - lo) * static_cast<float>(k) / (kSymTargets - 1);
      vf s;
      vd score;
      sym_refit(X, n, signed_max / splat(target), qmin, qmax, s, score);
      const vl up = score > best_score;
      best = sel(narrow(up), s, best);
      best_score = seld(up, score, best_score);
    }
  }
  vi active = valid & (best != vf{});
  for (int it = 0; it < 3 && any(active); ++it) {
    vf s;
    vd score;
    sym_refit(X, n, best, qmin, qmax, s, score);
    const vi improve = active & narrow(score > best_score);
    best = sel(improve, s, best);
    best_score = seld(wide(improve), score, best_score);
    active = improve & (best != vf{});
  }
  return sel(valid, best, vf{});
}

// Squared error of x quantized as q*d, q nearest to x/d (clamped), 0 for d = 0.
RAMQ_LANE vf sym_error(const float* X, int n, vf d, vf qmin, vf qmax) {
  const vi nz = d != vf{};
  vf e = {};
  for (int i = 0; i < n; ++i) {
    const vf x = load(X + i * kLanes);
    const vf q = sel(nz, round_clamp(x / d, qmin, qmax), vf{});
    const vf diff = q * d - x;
    e += diff * diff;
  }
  return e;
}

// ---------------------------------------------------------------- affine fits

struct AffineLanes {
  vf scale, offset;
};

// Squared error of x quantized with (scale, offset): q = round_clamp((x - offset) / scale) (as a
// product with the reciprocal; 0 for scale <= 0), decoded scale*q + offset.
RAMQ_LANE vf affine_error(const float* X, int n, vf scale, vf offset, vf qmax) {
  const vf inv = sel(scale > vf{}, splat(1.0f) / scale, vf{});
  vf e = {};
  for (int i = 0; i < n; ++i) {
    const vf x = load(X + i * kLanes);
    const vf q = round_clamp((x - offset) * inv, vf{}, qmax);
    const vf diff = (scale * q + offset) - x;
    e += diff * diff;
  }
  return e;
}

// Codes q = round_clamp((src - base) * inv, 0, qmax) and their sums sq, sqq and sqc = sum q*c
// (c = the centred values C).
RAMQ_LANE void affine_stats(const float* src, const float* C, int n, vf base, vf inv, vf qmax, vf& sq, vf& sqq,
                            vf& sqc) {
  vf a = {}, b = {}, c = {};
  for (int i = 0; i < n; ++i) {
    const vf q = round_clamp((load(src + i * kLanes) - base) * inv, vf{}, qmax);
    a += q;
    b += q * q;
    c += q * load(C + i * kLanes);
  }
  sq = a;
  sqq = b;
  sqc = c;
}

// Least-squares x ~ s*q + b for the codes summarised by (sq, sqq, sqc), in coordinates centred on
// lo (c = x - lo, sums sx = sum c, sxx = sum c^2): s, b, the residual sse, and ok where the fit is
// defined with s > 0. nonpos: b <= 0 (b > 0 is replaced by the fit x ~ s*q).
RAMQ_LANE void affine_ls(vf sq, vf sqq, vf sqc, vd sx, vd sxx, vd lo, double n, bool nonpos, vf& s_out, vf& b_out,
                         vd& sse, vi& ok) {
  const vd q1 = to_d(sq), q2 = to_d(sqq), qc = to_d(sqc);
  const vd det = n * q2 - q1 * q1;
  vd s = (n * qc - sx * q1) / det;
  vd c = (q2 * sx - q1 * qc) / det;
  vd b = c + lo;
  if (nonpos) {
    const vl clamp = b > vd{};
    b = seld(clamp, vd{}, b);
    c = seld(clamp, -lo, c);
    s = seld(clamp, (qc + lo * q1) / q2, s);
  }
  ok = narrow((det > vd{}) & (s > vd{}));
  sse = sxx - 2.0 * (s * qc + c * sx) + s * s * q2 + 2.0 * s * c * q1 + n * c * c;
  s_out = to_f(s);
  b_out = to_f(b);
}

// X: n x kLanes values; C: scratch of the same size. nonpos: K-quant convention offset <= 0.
AffineLanes affine_fit(const float* X, float* C, int n, int qmax_i, bool nonpos) {
  vf lo = load(X), hi = lo;
  for (int i = 1; i < n; ++i) {
    const vf x = load(X + i * kLanes);
    lo = vmin(lo, x);
    hi = vmax(hi, x);
  }
  if (nonpos) lo = vmin(lo, vf{});
  const vf range = hi - lo;
  const vi valid = (range > splat(kTiny)) & is_finite(range);
  vf sx = {}, sxx = {};
  for (int i = 0; i < n; ++i) {
    const vf c = load(X + i * kLanes) - lo;
    store(C + i * kLanes, c);
    sx += c;
    sxx += c * c;
  }
  const vf qmax = splat(static_cast<float>(qmax_i));
  const vd dsx = to_d(sx), dsxx = to_d(sxx), dlo = to_d(lo);
  const double dn = n;
  AffineLanes best{range / qmax, lo};
  vd best_sse = to_d(affine_error(X, n, best.scale, best.offset, qmax));
  for (int k = 0; k < kAffSteps; ++k) {
    const float steps = static_cast<float>(qmax_i) - 1.0f + 0.1f * static_cast<float>(k);
    const vf inv = splat(1.0f) / (range / splat(steps));
    vf sq, sqq, sqc, s, b;
    affine_stats(C, C, n, vf{}, inv, qmax, sq, sqq, sqc);
    vd sse;
    vi ok;
    affine_ls(sq, sqq, sqc, dsx, dsxx, dlo, dn, nonpos, s, b, sse, ok);
    const vl up = wide(valid & ok) & (sse < best_sse);
    const vi up32 = narrow(up);
    best.scale = sel(up32, s, best.scale);
    best.offset = sel(up32, b, best.offset);
    best_sse = seld(up, sse, best_sse);
  }
  vf best_err = affine_error(X, n, best.scale, best.offset, qmax);
  vi active = valid;
  for (int it = 0; it < 3 && any(active); ++it) {
    vf sq, sqq, sqc, s, b;
    affine_stats(X, C, n, best.offset, splat(1.0f) / best.scale, qmax, sq, sqq, sqc);
    vd sse;
    vi ok;
    affine_ls(sq, sqq, sqc, dsx, dsxx, dlo, dn, nonpos, s, b, sse, ok);
    const vf e = affine_error(X, n, s, b, qmax);
    const vi improve = active & ok & (e < best_err);
    best.scale = sel(improve, s, best.scale);
    best.offset = sel(improve, b, best.offset);
    best_err = sel(improve, e, best_err);
    active = improve;
  }
  best.scale = sel(valid, best.scale, vf{});
  best.offset = sel(valid, best.offset, sel(is_finite(lo), lo, vf{}));
  return best;
}

// ---------------------------------------------------------------- 32-element blocks

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
    std::uint16_t cand[4][kLanes];
    for (int l = 0; l < kLanes; ++l) {
      const std::uint16_t f = to_fp16(get(fit, l));
      cand[0][l] = to_fp16(get(ref, l));
      cand[1][l] = f;
      cand[2][l] = fp16_neighbour(f, -1);
      cand[3][l] = fp16_neighbour(f, 1);
    }
    std::uint16_t best[kLanes] = {};
    vf best_d = {}, best_err = splat(kInf);
    for (int c = 0; c < 4; ++c) {
      const vf d = from_fp16_lanes(cand[c]);
      const vf e = sym_error(X, 32, d, qmin, qmax);
      const vi up = e < best_err;
      best_err = sel(up, e, best_err);
      best_d = sel(up, d, best_d);
      for (int l = 0; l < kLanes; ++l) best[l] = get(up, l) ? cand[c][l] : best[l];
    }
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
  vf sxv = {}, svv = {};
  for (int i = 0; i < 32; ++i) {
    const vf x = load(X + i * kLanes);
    const vf v = lookup16(kIq4, iq4_code(x, inv, nz));
    sxv += v * x;
    svv += v * v;
  }
  const vi pos = svv > vf{};
  const vd a = to_d(sxv), b = to_d(svv);
  score = seld(wide(pos), a * a / b, vd{});
  d_out = sel(pos, sxv / svv, d);
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
    std::uint16_t cand[4][kLanes];
    const vf ref = vmax / splat(kIq4[0]);
    for (int l = 0; l < kLanes; ++l) {
      const std::uint16_t f = to_fp16(get(fit, l));
      cand[0][l] = to_fp16(get(ref, l));
      cand[1][l] = f;
      cand[2][l] = fp16_neighbour(f, -1);
      cand[3][l] = fp16_neighbour(f, 1);
    }
    std::uint16_t best[kLanes] = {};
    vf best_d = {}, best_err = splat(kInf);
    for (int c = 0; c < 4; ++c) {
      const vf d = from_fp16_lanes(cand[c]);
      const vf e = iq4_error(X, d);
      const vi up = valid & (e < best_err);
      best_err = sel(up, e, best_err);
      best_d = sel(up, d, best_d);
      for (int l = 0; l < kLanes; ++l) best[l] = get(up, l) ? cand[c][l] : best[l];
    }
    for (int l = 0; l < nl; ++l) out[b0 + l].d = best[l];
    const vf inv = inverse(best_d);
    const vi nz = inv != vf{};
    for (int i = 0; i < 32; ++i) {
      const vi q = iq4_code(load(X + i * kLanes), inv, nz);
      for (int l = 0; l < nl; ++l) out[b0 + l].q[i] = static_cast<std::uint8_t>(get(q, l));
    }
  }
}

// ---------------------------------------------------------------- K-quants

// The per-lane choice of one assignment of (d, dmin) in an affine super-block, for up to two
// super-blocks sharing the lanes (lane l belongs to super-block l / nsub).
struct AffAssign {
  std::uint16_t d[2], dmin[2];
  double err[2];
  vf ls, lm;          // sub-block scale and min codes
  vf sq, sqq, sqx;    // sums of q, q^2 and q*x of the chosen codes
};

// d16/dmin16 of each super-block as lane values.
vf per_block(const std::uint16_t* h, int nsub) {
  vf r;
  for (int l = 0; l < kLanes; ++l) set(r, l, from_fp16(h[l / nsub]));
  return r;
}

void aff_assign(const float* X, int n, int nsub, const float* d, const float* dmin, vf s, vf m, vf qmax, float lmax_f,
                AffAssign& a) {
  for (int g = 0; g < kLanes / nsub; ++g) {
    a.d[g] = to_fp16(d[g]);
    a.dmin[g] = to_fp16(dmin[g]);
  }
  const vf df = per_block(a.d, nsub), mf = per_block(a.dmin, nsub);
  const vf lmax = splat(lmax_f);
  const vf s0 = sel(df > vf{}, round_clamp(s / df, vf{}, lmax), vf{});
  const vf m0 = sel(mf > vf{}, round_clamp(m / mf, vf{}, lmax), vf{});
  vf ej = splat(kInf), bls = {}, blm = {};
  for (int da = -1; da <= 1; ++da) {
    const vf ls = s0 + static_cast<float>(da);
    const vi ls_ok = (ls >= vf{}) & (ls <= lmax);
    if (!any(ls_ok)) continue;
    const vf dl = df * ls;
    const vf inv = sel(dl > vf{}, splat(1.0f) / dl, vf{});
    for (int db = -kMinRadius; db <= kMinRadius; ++db) {
      const vf lm = m0 + static_cast<float>(db);
      const vi ok = ls_ok & (lm >= vf{}) & (lm <= lmax);
      if (!any(ok)) continue;
      const vf ml = mf * lm;
      vf e = {};
      for (int i = 0; i < n; ++i) {
        const vf x = load(X + i * kLanes);
        const vf q = round_clamp((x + ml) * inv, vf{}, qmax);
        const vf diff = (dl * q - ml) - x;
        e += diff * diff;
      }
      const vi up = ok & (e < ej);
      ej = sel(up, e, ej);
      bls = sel(up, ls, bls);
      blm = sel(up, lm, blm);
    }
  }
  const vf dl = df * bls, ml = mf * blm;
  const vf inv = sel(dl > vf{}, splat(1.0f) / dl, vf{});
  vf sq = {}, sqq = {}, sqx = {};
  for (int i = 0; i < n; ++i) {
    const vf x = load(X + i * kLanes);
    const vf q = round_clamp((x + ml) * inv, vf{}, qmax);
    sq += q;
    sqq += q * q;
    sqx += q * x;
  }
  a.ls = bls;
  a.lm = blm;
  a.sq = sq;
  a.sqq = sqq;
  a.sqx = sqx;
  for (int g = 0; g < kLanes / nsub; ++g) {
    double total = 0.0;
    for (int j = 0; j < nsub; ++j) total += static_cast<double>(get(ej, g * nsub + j));
    a.err[g] = total;
  }
}

void aff_k(const float* x, std::int64_t nblocks, const gguf::AffKSpec& sp, gguf::AffKBlock* out) {
  const int n = sp.sub, nsub = kQK / n, per = kLanes / nsub;  // super-blocks sharing the lanes: 1 or 2
  alignas(64) float X[32 * kLanes], C[32 * kLanes];
  const vf qmax = splat(static_cast<float>(sp.qmax));
  const float lmax = static_cast<float>(sp.lmax);
  for (std::int64_t b0 = 0; b0 < nblocks; b0 += per) {
    const int nb = static_cast<int>(min64(per, nblocks - b0));
    gather(x + b0 * kQK, n, nb * nsub, X);
    const AffineLanes fit = affine_fit(X, C, n, sp.qmax, true);
    const vf s = fit.scale, m = -fit.offset;
    vf sx = {};
    for (int i = 0; i < n; ++i) sx += load(X + i * kLanes);
    float d[2] = {}, dmin[2] = {};
    for (int g = 0; g < per; ++g) {
      float smax = 0.0f, mmax = 0.0f;
      for (int j = 0; j < nsub; ++j) {
        const int l = g * nsub + j;
        smax = smax < get(s, l) ? get(s, l) : smax;
        mmax = mmax < get(m, l) ? get(m, l) : mmax;
      }
      d[g] = smax / lmax;
      dmin[g] = mmax / lmax;
    }
    AffAssign best, cur;
    aff_assign(X, n, nsub, d, dmin, s, m, qmax, lmax, best);
    auto adopt = [&](int g) {
      std::int32_t mask[kLanes];
      for (int l = 0; l < kLanes; ++l) mask[l] = l / nsub == g ? -1 : 0;
      vi in_g;
      std::memcpy(&in_g, mask, sizeof in_g);
      best.d[g] = cur.d[g];
      best.dmin[g] = cur.dmin[g];
      best.err[g] = cur.err[g];
      best.ls = sel(in_g, cur.ls, best.ls);
      best.lm = sel(in_g, cur.lm, best.lm);
      best.sq = sel(in_g, cur.sq, best.sq);
      best.sqq = sel(in_g, cur.sqq, best.sqq);
      best.sqx = sel(in_g, cur.sqx, best.sqx);
    };
    bool active[2] = {true, nb > 1};
    for (int g = 0; g < per; ++g) {
      d[g] = from_fp16(best.d[g]);
      dmin[g] = from_fp16(best.dmin[g]);
    }
    for (int it = 0; it < 3; ++it) {
      // refit x ~ d*a - dmin*b with a = ls_j*q_i, b = lm_j (normal equations of the 2x2 system)
      bool any_active = false;
      for (int g = 0; g < per; ++g) {
        if (!active[g]) continue;
        double A = 0, B = 0, Cc = 0, P = 0, Q = 0;
        for (int j = 0; j < nsub; ++j) {
          const int l = g * nsub + j;
          const double ls = get(best.ls, l), lm = get(best.lm, l);
          A += ls * ls * static_cast<double>(get(best.sqq, l));
          B += ls * lm * static_cast<double>(get(best.sq, l));
          Cc += lm * lm * n;
          P += ls * static_cast<double>(get(best.sqx, l));
          Q += lm * static_cast<double>(get(sx, l));
        }
        const double det = B * B - A * Cc;
        if (Cc > 0.0 && det != 0.0) {
          d[g] = static_cast<float>((B * Q - Cc * P) / det);
          dmin[g] = static_cast<float>((A * Q - B * P) / det);
        } else if (A > 0.0) {
          d[g] = static_cast<float>(P / A);
        }
        if (!(d[g] >= 0.0f) || !(dmin[g] >= 0.0f)) active[g] = false;
        any_active = any_active || active[g];
      }
      if (!any_active) break;
      aff_assign(X, n, nsub, d, dmin, s, m, qmax, lmax, cur);
      for (int g = 0; g < per; ++g) {
        if (!active[g]) continue;
        if (!(cur.err[g] < best.err[g])) {
          active[g] = false;
          continue;
        }
        adopt(g);
      }
    }
    // the chosen codes
    const vf dl = per_block(best.d, nsub) * best.ls, ml = per_block(best.dmin, nsub) * best.lm;
    const vf inv = sel(dl > vf{}, splat(1.0f) / dl, vf{});
    const vi ls = to_i(best.ls), lm = to_i(best.lm);
    for (int g = 0; g < nb; ++g) {
      gguf::AffKBlock& o = out[b0 + g];
      o.d = best.d[g];
      o.dmin = best.dmin[g];
      for (int j = 0; j < 16; ++j) {
        o.ls[j] = j < nsub ? static_cast<std::uint8_t>(get(ls, g * nsub + j)) : 0;
        o.lm[j] = j < nsub ? static_cast<std::uint8_t>(get(lm, g * nsub + j)) : 0;
      }
    }
    for (int i = 0; i < n; ++i) {
      const vf xv = load(X + i * kLanes);
      const vi q = to_i(round_clamp((xv + ml) * inv, vf{}, qmax));
      for (int l = 0; l < nb * nsub; ++l) out[b0 + l / nsub].q[(l % nsub) * n + i] = static_cast<std::uint8_t>(get(q, l));
    }
  }
}

// Symmetric K-quant super-block (16 sub-blocks of 16, one per lane).
struct SymAssign {
  std::uint16_t d;
  vf l;          // sub-block scales
  vf sqq, sqx;   // sums of q^2 and q*x of the chosen codes
};

double sym_assign(const float* X, int n, float d, vf s, vf qmin, vf qmax, float lmin_f, float lmax_f, SymAssign& a) {
  a.d = to_fp16(d);
  const float dfs = from_fp16(a.d);
  const vf df = splat(dfs), lmin = splat(lmin_f), lmax = splat(lmax_f);
  const vf l0 = dfs != 0.0f ? round_clamp(s / df, lmin, lmax) : vf{};
  vf ej = splat(kInf), bl = {};
  for (int dl_i = -1; dl_i <= 1; ++dl_i) {
    const vf l = l0 + static_cast<float>(dl_i);
    const vi ok = (l >= lmin) & (l <= lmax);
    if (!any(ok)) continue;
    const vf dl = df * l;
    const vf inv = sel(dl != vf{}, splat(1.0f) / dl, vf{});
    vf e = {};
    for (int i = 0; i < n; ++i) {
      const vf x = load(X + i * kLanes);
      const vf q = round_clamp(x * inv, qmin, qmax);
      const vf diff = dl * q - x;
      e += diff * diff;
    }
    const vi up = ok & (e < ej);
    ej = sel(up, e, ej);
    bl = sel(up, l, bl);
  }
  const vf dl = df * bl;
  const vf inv = sel(dl != vf{}, splat(1.0f) / dl, vf{});
  vf sqq = {}, sqx = {};
  for (int i = 0; i < n; ++i) {
    const vf x = load(X + i * kLanes);
    const vf q = round_clamp(x * inv, qmin, qmax);
    sqq += q * q;
    sqx += q * x;
  }
  a.l = bl;
  a.sqq = sqq;
  a.sqx = sqx;
  double total = 0.0;
  for (int j = 0; j < kLanes; ++j) total += static_cast<double>(get(ej, j));
  return total;
}

void sym_k(const float* x, std::int64_t nblocks, const gguf::SymKSpec& sp, gguf::SymKBlock* out) {
  const int n = sp.sub;  // 16: one super-block of 16 sub-blocks per lane set
  alignas(64) float X[16 * kLanes];
  const vf qmin = splat(static_cast<float>(sp.qmin)), qmax = splat(static_cast<float>(sp.qmax));
  const float lmin = static_cast<float>(sp.lmin), lmax = static_cast<float>(sp.lmax);
  for (std::int64_t b = 0; b < nblocks; ++b) {
    gather(x + b * kQK, n, kLanes, X);
    vf amax, vmax;
    absmax(X, n, amax, vmax);
    const vf s = sym_fit(X, n, sp.qmin, sp.qmax, amax, vmax);
    float smax = 0.0f;
    for (int l = 0; l < kLanes; ++l) smax = __builtin_fabsf(get(s, l)) > __builtin_fabsf(smax) ? get(s, l) : smax;
    SymAssign best{0, vf{}, vf{}, vf{}}, cur;
    double best_err = kInf;
    if (smax != 0.0f) {
      for (int side = 0; side < 2; ++side) {
        float d = side == 0 ? smax / lmin : smax / lmax;
        for (int it = 0; it < 3; ++it) {
          const double e = sym_assign(X, n, d, s, qmin, qmax, lmin, lmax, cur);
          if (e < best_err) {
            best_err = e;
            best = cur;
          } else if (it > 0) {
            break;
          }
          double sxa = 0.0, saa = 0.0;  // refit d: x ~ d * (l_j q_i)
          for (int j = 0; j < kLanes; ++j) {
            const double l = get(cur.l, j);
            sxa += l * static_cast<double>(get(cur.sqx, j));
            saa += l * l * static_cast<double>(get(cur.sqq, j));
          }
          if (!(saa > 0.0)) break;
          d = static_cast<float>(sxa / saa);
        }
      }
    }
    gguf::SymKBlock& o = out[b];
    o.d = best.d;
    const vi li = to_i(best.l);
    for (int j = 0; j < 16; ++j) o.l[j] = static_cast<std::int8_t>(get(li, j));
    const vf dl = splat(from_fp16(best.d)) * best.l;
    const vf inv = sel(dl != vf{}, splat(1.0f) / dl, vf{});
    for (int i = 0; i < n; ++i) {
      const vi q = to_i(round_clamp(load(X + i * kLanes) * inv, qmin, qmax));
      for (int l = 0; l < kLanes; ++l) o.q[l * n + i] = static_cast<std::int8_t>(get(q, l));
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
