// The default MLX affine encoder: an error-minimising grid per group, found without data.
//
// Candidates, each judged by the exact squared error of the nearest codes after scale and bias
// are rounded to the scale dtype:
//   1. the min/max grid (the plain round-to-nearest reference);
//   2. kClipSteps ranges clipped symmetrically about the midpoint by f * range,
//      f = k / kClipSteps * min(1/2, 2 / (qmax + 1)) (low bit widths clip more);
//   3. the least-squares refit of (scale, bias) to each candidate's codes;
// then the best is refined by alternating updates (assign the nearest codes, refit scale and
// bias by least squares) while the error falls, at most kRefineSteps times. A candidate is
// admissible only if no element errs by more than max(range / qmax, the min/max grid's largest
// error): clipping never destroys an outlier.
#include <algorithm>
#include <cmath>

#include "encode/mlx_grid.h"

namespace ramq::mlx_detail {

namespace {

constexpr int kClipSteps = 4;
constexpr int kRefineSteps = 4;

struct Fit {
  Grid grid;
  double sse = 0;      // squared error
  double max_err = 0;  // largest absolute error of one element
  double sq = 0, sqq = 0, sxq = 0;  // least-squares statistics of the codes
};

Fit evaluate(const float* x, int n, const Grid& g, int qmax) {
  Fit f;
  f.grid = g;
  for (int i = 0; i < n; ++i) {
    const int q = nearest_code(x[i], g, qmax);
    const double e = static_cast<double>(grid_value(g, q)) - x[i];
    f.sse += e * e;
    f.max_err = std::max(f.max_err, std::fabs(e));
    const double dq = q;
    f.sq += dq;
    f.sqq += dq * dq;
    f.sxq += dq * x[i];
  }
  return f;
}

// Least-squares (scale, bias) for the codes of `f`, rounded to the dtype; false if degenerate.
bool refit(const Fit& f, int n, double sx, DType t, Grid& out) {
  const double det = n * f.sqq - f.sq * f.sq;
  if (!(det > 0.0)) return false;
  const double s = (n * f.sxq - sx * f.sq) / det;
  const double b = (sx - s * f.sq) / n;
  out.scale = round_to_dtype(static_cast<float>(s), t);
  out.bias = round_to_dtype(static_cast<float>(b), t);
  return out.scale > 0.0f && std::isfinite(out.scale) && std::isfinite(out.bias);
}

}  // namespace

Grid search_grid(const float* x, int n, int qmax, DType t) {
  const Grid base = minmax_grid(x, n, qmax, t);  // validates the group
  if (!(base.scale > 0.0f)) return base;
  float lo = x[0], hi = x[0];
  double sx = 0.0;
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    sx += x[i];
  }
  const double range = static_cast<double>(hi) - lo;
  Fit best = evaluate(x, n, base, qmax);
  const double bound = std::max(range / qmax, best.max_err);
  auto consider = [&](const Fit& f) {
    if (f.max_err <= bound && f.sse < best.sse) best = f;
  };
  auto consider_refit = [&](const Fit& f) {
    Grid g;
    if (refit(f, n, sx, t, g)) consider(evaluate(x, n, g, qmax));
  };
  consider_refit(best);
  const double max_clip = std::min(0.5, 2.0 / (qmax + 1));
  const double mid = 0.5 * (static_cast<double>(lo) + hi);
  for (int k = 1; k <= kClipSteps; ++k) {
    const double width = range * (1.0 - max_clip * k / kClipSteps);
    Grid g;
    g.scale = round_to_dtype(static_cast<float>(width / qmax), t);
    g.bias = round_to_dtype(static_cast<float>(mid - 0.5 * width), t);
    if (!(g.scale > 0.0f) || !std::isfinite(g.scale) || !std::isfinite(g.bias)) continue;
    const Fit f = evaluate(x, n, g, qmax);
    consider(f);
    consider_refit(f);
  }
  for (int it = 0; it < kRefineSteps; ++it) {
    const double before = best.sse;
    consider_refit(best);
    if (!(best.sse < before)) break;
  }
  return best.grid;
}

}  // namespace ramq::mlx_detail
