// Hot loops of the SWAN statistics, written as fixed lanes (see metric_kernels.h for why every
// level gives the same bits). Compiled once per level with RAMQ_ISA_NS naming the namespace (the
// shared lane vectors, common/simd/lanes.h, at that level);
// internal linkage and no std:: templates, so no AVX-512 copy of an inline function can be
// merged into another level's code.
#include "analyze/simd/metric_kernels.h"

#include "common/simd/lanes.h"

namespace ramq::analyze_simd::RAMQ_ISA_NS {
namespace {

using namespace ramq::simd::RAMQ_ISA_NS;  // the 16-lane vectors (vf, vi, vd) of this level

constexpr int kSumLanes = 8;  // sum lanes (doubles): element i of a group goes to lane i mod 8
constexpr int kSumParts = kSumLanes / kD;  // native registers holding the 8 sum lanes

RAMQ_LANE float min_f(float a, float b) { return b < a ? b : a; }
RAMQ_LANE float max_f(float a, float b) { return a < b ? b : a; }

RAMQ_LANE vf to_float(const vi& a) {
  vf r;
  for (int k = 0; k < kPF; ++k) r.p[k] = __builtin_convertvector(a.p[k], nat_f);
  return r;
}

// One element's quantization error (the scalar definition the lanes repeat): t >= 0 because
// x >= lo; clamped first so the conversion is in range; the conversion floors (t >= 0), then
// rounds half away from zero.
RAMQ_LANE float error_of(float v, float lo, float scale, float qmax_f, int qmax) {
  float t = (v - lo) / scale;
  t = qmax_f < t ? qmax_f : t;
  int q = static_cast<int>(t);
  q += (t - static_cast<float>(q)) >= 0.5f ? 1 : 0;
  q = q < qmax ? q : qmax;
  return v - (lo + static_cast<float>(q) * scale);
}

// The same for 16 consecutive elements.
RAMQ_LANE vf errors_of(const vf& v, const vf& lo, const vf& scale, const vf& qmax_f, const vi& qmax) {
  vf t = (v - lo) / scale;
  t = sel(qmax_f < t, qmax_f, t);
  vi q = to_i(t);  // truncates
  q = q + (((t - to_float(q)) >= splat(0.5f)) & 1);
  q = seli(qmax > q, q, qmax);
  return v - (lo + to_float(q) * scale);
}

}  // namespace

FloatRange min_max(const float* x, std::int64_t n) {
  float lo = x[0], hi = x[0];
  std::int64_t i = 1;
  if (n >= kLanes) {
    vf vlo = load(x), vhi = vlo;
    for (i = kLanes; i + kLanes <= n; i += kLanes) {
      const vf v = load(x + i);
      vlo = vmin(vlo, v);
      vhi = vmax(vhi, v);
    }
    for (int l = 0; l < kLanes; ++l) {
      lo = min_f(lo, get(vlo, l));
      hi = max_f(hi, get(vhi, l));
    }
  }
  for (; i < n; ++i) {
    lo = min_f(lo, x[i]);
    hi = max_f(hi, x[i]);
  }
  return {lo, hi};
}

double nrmse_row_sse(const float* x, std::int64_t n, std::int64_t g, int qmax) {
  const float qmax_f = static_cast<float>(qmax);
  double row = 0.0;
  for (std::int64_t start = 0; start < n; start += g) {
    const std::int64_t len = g < n - start ? g : n - start;
    const float* xg = x + start;
    FloatRange gm = min_max(xg, len);
    if (len < g) {  // zero padding takes part in the group's min/max (and its error below)
      gm.lo = min_f(gm.lo, 0.0f);
      gm.hi = max_f(gm.hi, 0.0f);
    }
    const float lo = gm.lo;
    const float scale = (gm.hi - gm.lo) / qmax_f;
    double acc[kLanes] = {};  // lanes 0..7 are the sums
    std::int64_t i = 0;
    if (scale != 0.0f) {
      vd vacc = {};
      const vf vlo = splat(lo), vscale = splat(scale), vqmax_f = splat(qmax_f);
      const vi vqmax = splati(qmax);
      for (; i + kLanes <= len; i += kLanes) {
        const vd d = to_d(errors_of(load(xg + i), vlo, vscale, vqmax_f, vqmax));
        for (int k = 0; k < kSumParts; ++k) vacc.p[k] += d.p[k] * d.p[k];                          // i .. i+7
        for (int k = 0; k < kSumParts; ++k) vacc.p[k] += d.p[k + kSumParts] * d.p[k + kSumParts];  // i+8 ..
      }
      for (int l = 0; l < kSumLanes; ++l) acc[l] = get(vacc, l);
      for (; i < len; ++i) {
        const double d = static_cast<double>(error_of(xg[i], lo, scale, qmax_f, qmax));
        acc[i % kSumLanes] += d * d;
      }
    } else {
      for (; i < len; ++i) {
        const double d = static_cast<double>(xg[i] - lo);
        acc[i % kSumLanes] += d * d;
      }
    }
    double s = 0.0;
    for (int l = 0; l < kSumLanes; ++l) s += acc[l];
    if (len < g && scale != 0.0f) {  // the padding zeros, each off the grid by the same error
      const double d = static_cast<double>(error_of(0.0f, lo, scale, qmax_f, qmax));
      s += static_cast<double>(g - len) * d * d;
    }
    row += s;
  }
  return row;
}

double lane_sum(const float* x, std::int64_t n) {
  vd vacc = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const vd d = to_d(load(x + i));
    for (int k = 0; k < kSumParts; ++k) vacc.p[k] += d.p[k];              // i .. i+7
    for (int k = 0; k < kSumParts; ++k) vacc.p[k] += d.p[k + kSumParts];  // i+8 ..
  }
  double acc[kSumLanes];
  for (int l = 0; l < kSumLanes; ++l) acc[l] = get(vacc, l);
  for (; i < n; ++i) acc[i % kSumLanes] += static_cast<double>(x[i]);
  double s = 0.0;
  for (int l = 0; l < kSumLanes; ++l) s += acc[l];
  return s;
}

void central_moment_sums(const float* x, std::int64_t n, double mean, double* s2, double* s4) {
  vd v2 = {}, v4 = {};
  const vd vmean = splatd(mean);
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const vd d = to_d(load(x + i)) - vmean;
    const vd d2 = d * d;
    const vd d4 = d2 * d2;
    for (int half = 0; half < 2; ++half) {  // elements i .. i+7, then i+8 ..
      for (int k = 0; k < kSumParts; ++k) {
        v2.p[k] += d2.p[k + half * kSumParts];
        v4.p[k] += d4.p[k + half * kSumParts];
      }
    }
  }
  double a2[kSumLanes], a4[kSumLanes];
  for (int l = 0; l < kSumLanes; ++l) {
    a2[l] = get(v2, l);
    a4[l] = get(v4, l);
  }
  for (; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - mean;
    const double d2 = d * d;
    a2[i % kSumLanes] += d2;
    a4[i % kSumLanes] += d2 * d2;
  }
  double t2 = 0.0, t4 = 0.0;
  for (int l = 0; l < kSumLanes; ++l) {
    t2 += a2[l];
    t4 += a4[l];
  }
  *s2 = t2;
  *s4 = t4;
}

namespace {
// SplitMix64's output function (Steele, Lea and Flood 2014). The same function seeds ramq::Rng
// (src/common/rng.cpp); it is written again here because this file must call nothing outside its
// level's namespace (the loop below is vectorised with this level's instructions).
RAMQ_LANE std::uint64_t splitmix_mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
}  // namespace

void uniform_noise(std::uint64_t key, float* out, std::int64_t n, float width) {
  constexpr std::uint64_t kGamma = 0x9E3779B97F4A7C15ULL;
  const std::int64_t pairs = n / 2;
  // Independent iterations: the compiler vectorises them at each level's width.
  for (std::int64_t t = 0; t < pairs; ++t) {
    const std::uint64_t u = splitmix_mix(key + static_cast<std::uint64_t>(t + 1) * kGamma);
    out[2 * t] = (static_cast<float>(u >> 40) * 0x1.0p-24f - 0.5f) * width;
    out[2 * t + 1] = (static_cast<float>((u >> 8) & 0xFFFFFFu) * 0x1.0p-24f - 0.5f) * width;
  }
  if (n % 2 != 0) {
    const std::uint64_t u = splitmix_mix(key + static_cast<std::uint64_t>(pairs + 1) * kGamma);
    out[n - 1] = (static_cast<float>(u >> 40) * 0x1.0p-24f - 0.5f) * width;
  }
}

}  // namespace ramq::analyze_simd::RAMQ_ISA_NS
