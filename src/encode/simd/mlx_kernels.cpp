// MLX affine group encoders (w = scale * q + bias, q in [0, qmax]), 16 groups at a time, one per
// lane; compiled once per SIMD level (lanes.h): each lane computes what a scalar loop over its
// group would, so the output is the same at every level.
//
// min/max: bias = the group minimum rounded down to the scale dtype, scale = range / qmax rounded
// to nearest and stepped up until the grid covers the maximum.
//
// search (the default encoder): candidates, each judged by the exact squared error of the nearest
// codes after scale and bias are rounded to the scale dtype:
//   1. the min/max grid (the plain round-to-nearest reference);
//   2. kClipSteps ranges clipped symmetrically about the midpoint by f * range,
//      f = k / kClipSteps * min(1/2, 2 / (qmax + 1)) (low bit widths clip more);
//   3. the least-squares refit of (scale, bias) to each candidate's codes;
// then the best is refined by alternating updates (assign the nearest codes, refit scale and bias
// by least squares) while the error falls, at most kRefineSteps times. A candidate is admissible
// only if no element errs by more than max(range / qmax, the min/max grid's largest error):
// clipping never destroys an outlier. Errors are summed in float32 lanes (relative error below
// (group + 2) * 2^-24); a candidate must beat the min/max grid by more than that margin, so the
// search is never worse than min/max for any group, whatever the rounding of the sums.
#include "encode/simd/kernels.h"
#include "common/simd/lanes.h"
#include "ramq/dtype.h"

namespace ramq::simd::RAMQ_ISA_NS {
namespace {

constexpr int kClipSteps = 4;
constexpr int kRefineSteps = 4;
constexpr float kMinMaxMargin = 1.0f - 0x1p-14f;  // > (128 + 2) * 2^-24 * 2, see above

bool finite(float f) { return f - f == 0.0f; }
std::int64_t min64(std::int64_t a, std::int64_t b) { return a < b ? a : b; }

std::uint16_t encode16(float f, DType t) { return t == DType::F16 ? ramq::f32_to_f16(f) : ramq::f32_to_bf16(f); }
float decode16(std::uint16_t h, DType t) { return t == DType::F16 ? ramq::f16_to_f32(h) : ramq::bf16_to_f32(h); }

// The next representable value of dtype t above v (v already representable and finite).
float next_up16(float v, DType t) {
  std::uint16_t h = encode16(v, t);
  if (h == 0x8000u) {
    h = 0x0001u;  // -0 -> smallest positive subnormal
  } else if (h & 0x8000u) {
    --h;  // negative: smaller magnitude
  } else {
    ++h;  // positive: larger magnitude (may become inf; caller checks)
  }
  return decode16(h, t);
}
float next_down16(float v, DType t) { return -next_up16(-v, t); }

// The min/max grid of one group from its extremes (as mlx_detail::minmax_grid); false where that
// throws (a range the dtype cannot hold).
bool minmax_lane(float lo, float hi, float qmax, DType t, float& scale, float& bias) {
  scale = 0.0f;
  bias = ramq::round_to_dtype(lo, t);
  if (!finite(bias)) return false;
  if (hi > lo) {
    if (bias > lo) bias = next_down16(bias, t);
    scale = ramq::round_to_dtype((hi - bias) / qmax, t);
    for (int step = 0; step < 64 && bias + qmax * scale < hi && finite(scale); ++step) scale = next_up16(scale, t);
    if (!finite(bias) || !finite(scale) || bias + qmax * scale < hi) return false;
  }
  return true;
}

vf round_lanes(vf v, DType t) {
  vf r;
  for (int l = 0; l < kLanes; ++l) set(r, l, ramq::round_to_dtype(get(v, l), t));
  return r;
}

// Nearest code (ties to even) of x on the grid, clamped to [0, qmax]; 0 for a zero scale.
RAMQ_LANE vf nearest_code(vf x, vf scale, vf bias, vf qmax) {
  vf v = (x - bias) / scale;
  v = vmin(vmax(v, vf{}), qmax);
  const vf magic = splat(12582912.0f);
  return sel(scale > vf{}, (v + magic) - magic, vf{});
}

struct Eval {
  vf sse, max_err;  // squared error, largest absolute error of one element
  vf sq, sqq, sqc;  // least-squares statistics of the codes (c = x - lo)
};

RAMQ_LANE Eval evaluate(const float* X, const float* C, int n, vf scale, vf bias, vf qmax) {
  Eval f{};
  for (int i = 0; i < n; ++i) {
    const vf x = load(X + i * kLanes);
    const vf q = nearest_code(x, scale, bias, qmax);
    const vf e = (scale * q + bias) - x;
    f.sse += e * e;
    f.max_err = vmax(f.max_err, vabs(e));
    f.sq += q;
    f.sqq += q * q;
    f.sqc += q * load(C + i * kLanes);
  }
  return f;
}

struct Search {
  const float* X;
  const float* C;
  int n;
  vf qmax;
  DType t;
  vd sx, lo;       // sum of c = x - lo, the group minimum
  vi live;         // groups with a non-constant range
  vd bound;        // admissible largest error
  vf base_limit;   // a candidate must have a smaller error than this (the min/max grid's, less the margin)
  Eval best;
  vf scale, bias;  // best grid

  void consider(const Eval& f, vf s, vf b, vi ok) {
    const vi up = ok & live & narrow(to_d(f.max_err) <= bound) & (f.sse < best.sse) & (f.sse < base_limit);
    best.sse = sel(up, f.sse, best.sse);
    best.max_err = sel(up, f.max_err, best.max_err);
    best.sq = sel(up, f.sq, best.sq);
    best.sqq = sel(up, f.sqq, best.sqq);
    best.sqc = sel(up, f.sqc, best.sqc);
    scale = sel(up, s, scale);
    bias = sel(up, b, bias);
  }

  // Least-squares (scale, bias) for the codes of f, rounded to the dtype; evaluated and considered.
  void consider_refit(const Eval& f, vi ok) {
    const double dn = n;
    const vd q1 = to_d(f.sq), q2 = to_d(f.sqq), qc = to_d(f.sqc);
    const vd det = dn * q2 - q1 * q1;
    const vd s = (dn * qc - sx * q1) / det;
    const vd b = (sx - s * q1) / dn + lo;
    const vf gs = round_lanes(to_f(s), t), gb = round_lanes(to_f(b), t);
    ok = ok & narrow(det > vd{}) & (gs > vf{}) & is_finite(gs) & is_finite(gb);
    if (!any(ok & live)) return;
    consider(evaluate(X, C, n, gs, gb, qmax), gs, gb, ok);
  }
};

// Improves the min/max grids (scale, bias) of the lanes in place.
void search_lanes(const float* X, float* C, int n, int qmax_i, DType t, vf lo, vf hi, vf& scale, vf& bias) {
  Search s;
  s.X = X;
  s.C = C;
  s.n = n;
  s.qmax = splat(static_cast<float>(qmax_i));
  s.t = t;
  s.live = scale > vf{};
  if (!any(s.live)) return;
  vf sx = {};
  for (int i = 0; i < n; ++i) {
    const vf c = load(X + i * kLanes) - lo;
    store(C + i * kLanes, c);
    sx += c;
  }
  s.sx = to_d(sx);
  s.lo = to_d(lo);
  s.scale = scale;
  s.bias = bias;
  s.best = evaluate(X, C, n, scale, bias, s.qmax);
  s.base_limit = s.best.sse * splat(kMinMaxMargin);
  const double qmax = qmax_i;
  const vd range = to_d(hi) - to_d(lo);
  const vd by_range = range / qmax, base_err = to_d(s.best.max_err);
  s.bound = seld(by_range < base_err, base_err, by_range);
  const vi all = splati(-1);
  s.consider_refit(s.best, all);
  const double max_clip = 0.5 < 2.0 / (qmax + 1) ? 0.5 : 2.0 / (qmax + 1);
  const vd mid = 0.5 * (to_d(lo) + to_d(hi));
  for (int k = 1; k <= kClipSteps; ++k) {
    const vd width = range * (1.0 - max_clip * k / kClipSteps);
    const vf gs = round_lanes(to_f(width / qmax), t), gb = round_lanes(to_f(mid - 0.5 * width), t);
    const vi ok = (gs > vf{}) & is_finite(gs) & is_finite(gb);
    if (!any(ok & s.live)) continue;
    const Eval f = evaluate(X, C, n, gs, gb, s.qmax);
    s.consider(f, gs, gb, ok);
    s.consider_refit(f, ok);
  }
  vi active = s.live;
  for (int it = 0; it < kRefineSteps && any(active); ++it) {
    const vf before = s.best.sse;
    s.consider_refit(s.best, active);
    active = active & (s.best.sse < before);
  }
  scale = s.scale;
  bias = s.bias;
}

}  // namespace

std::int64_t mlx_groups(const float* w, std::int64_t ngroups, int group, int qmax_i, DType t, bool search,
                        float* scales, float* biases, std::uint8_t* codes) {
  alignas(64) float X[128 * kLanes], C[128 * kLanes];
  const int n = group;
  const float qmaxf = static_cast<float>(qmax_i);
  const vf qmax = splat(qmaxf);
  for (std::int64_t g0 = 0; g0 < ngroups; g0 += kLanes) {
    const int nl = static_cast<int>(min64(kLanes, ngroups - g0));
    gather(w + g0 * n, n, nl, X);
    vf lo = load(X), hi = lo;
    vi fin = is_finite(lo);
    for (int i = 1; i < n; ++i) {
      const vf x = load(X + i * kLanes);
      fin &= is_finite(x);
      lo = vmin(lo, x);
      hi = vmax(hi, x);
    }
    vf scale = {}, bias = {};
    for (int l = 0; l < nl; ++l) {
      float sc = 0.0f, bi = 0.0f;
      if (!get(fin, l) || !minmax_lane(get(lo, l), get(hi, l), qmaxf, t, sc, bi)) return g0 + l;
      set(scale, l, sc);
      set(bias, l, bi);
    }
    if (search) search_lanes(X, C, n, qmax_i, t, lo, hi, scale, bias);
    for (int l = 0; l < nl; ++l) {
      scales[g0 + l] = get(scale, l);
      biases[g0 + l] = get(bias, l);
    }
    std::uint8_t* out = codes + g0 * n;
    for (int i = 0; i < n; ++i) {
      const vi q = to_i(nearest_code(load(X + i * kLanes), scale, bias, qmax));
      for (int l = 0; l < nl; ++l) out[l * n + i] = static_cast<std::uint8_t>(get(q, l));
    }
  }
  return -1;
}

}  // namespace ramq::simd::RAMQ_ISA_NS
