// GGUF K-quant encoder searches (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K), one lane per sub-block: one
// super-block of 16 sub-blocks, or two of 8 (the method is described in gguf_kernels.cpp).
// Compiled once per SIMD level (lanes.h).
#include "encode/simd/gguf_fits.h"

namespace ramq::simd::RAMQ_ISA_NS {
namespace {

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

}  // namespace

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
namespace {

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

}  // namespace

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


}  // namespace ramq::simd::RAMQ_ISA_NS
