// Shared pieces of the GGUF encoder searches (gguf_kernels.cpp, gguf_kquant_kernels.cpp): fp16
// fields, the symmetric and the affine fits of 16 lanes at a time. Included once per SIMD level
// (inside that level's namespace, lanes.h); the searches themselves are described in
// gguf_kernels.cpp.
#pragma once

#include "encode/simd/kernels.h"
#include "common/simd/lanes.h"
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

inline std::int64_t min64(std::int64_t a, std::int64_t b) { return a < b ? a : b; }

// ---------------------------------------------------------------- fp16 fields

// Round to nearest even; finite values beyond the fp16 range saturate to +-65504, NaN becomes 0.
inline std::uint16_t to_fp16(float f) {
  if (f != f) return 0;
  f = f < -65504.0f ? -65504.0f : f;
  f = f > 65504.0f ? 65504.0f : f;
  return ramq::f32_to_f16(f);
}
inline float from_fp16(std::uint16_t h) { return ramq::f16_to_f32(h); }

// fp16 bits one ulp from h: dir = +1 the next larger magnitude, -1 the next smaller (same sign);
// h itself at zero, at the smallest subnormal (dir -1) or at the largest finite value (dir +1).
inline std::uint16_t fp16_neighbour(std::uint16_t h, int dir) {
  const int mag = h & 0x7fff;
  if (mag == 0 || mag + dir < 1 || mag + dir > 0x7bff) return h;
  return static_cast<std::uint16_t>((h & 0x8000) | (mag + dir));
}

inline vf from_fp16_lanes(const std::uint16_t* h) {
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

// The least-squares scale for the values value_of(x) chosen with scale s_in (x ~ s * v; s_in where
// every v is 0) and its score <x,v>^2/<v,v> (the error reduction of the refit scale). Sums in
// element order, as every fit here.
template <class ValueOf>
RAMQ_LANE void refit_scale(const float* X, int n, vf s_in, ValueOf value_of, vf& s_out, vd& score) {
  vf sxv = {}, svv = {};
  for (int i = 0; i < n; ++i) {
    const vf x = load(X + i * kLanes);
    const vf v = value_of(x);
    sxv += v * x;
    svv += v * v;
  }
  const vi pos = svv > vf{};
  const vd a = to_d(sxv), b = to_d(svv);
  score = seld(wide(pos), a * a / b, vd{});
  s_out = sel(pos, sxv / svv, s_in);
}

// q = round_clamp(x / s_in) (as x * (1 / s_in)), then refit_scale.
RAMQ_LANE void sym_refit(const float* X, int n, vf s_in, vf qmin, vf qmax, vf& s_out, vd& score) {
  const vf inv = splat(1.0f) / s_in;
  refit_scale(X, n, s_in, [&](vf x) __attribute__((always_inline)) { return round_clamp(x * inv, qmin, qmax); }, s_out, score);
}

inline vf sym_fit(const float* X, int n, int qmin_i, int qmax_i, vf amax, vf vmax) {
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
inline AffineLanes affine_fit(const float* X, float* C, int n, int qmax_i, bool nonpos) {
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

}  // namespace
}  // namespace ramq::simd::RAMQ_ISA_NS
