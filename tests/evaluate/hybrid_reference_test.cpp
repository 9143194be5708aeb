// The hybrid forward pass (qwen3_next, qwen3_5, qwen3_5_moe) against a naive token-by-token
// double-precision forward pass written here from transformers' modelling code
// (/work/notes/qwen35_facts.md §4.1), on the synthetic checkpoints of
// tests/support/synthetic_hybrid.h (layers linear, linear, linear, full; 4 value heads over 2
// key heads; 4 experts top-2 with a shared expert). Also: append() token by token gives
// forward()'s logits, and the logits do not depend on the thread count.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "evaluate/llama_forward.h"
#include "evaluate/weights.h"
#include "ramq/eval.h"
#include "support/mini_safetensors.h"
#include "support/synthetic_hybrid.h"
#include "support/temp_dir.h"

namespace {

using ramq::testkit::SyntheticHybrid;
using Vec = std::vector<double>;

// The checkpoint's tensors as stored (read with the test's own safetensors reader).
struct Reference {
  const SyntheticHybrid& s;
  ramq::testkit::MiniFile file;
  std::map<std::string, std::vector<float>> cache;

  const std::vector<float>& t(const std::string& name) {
    auto it = cache.find(name);
    if (it == cache.end()) it = cache.emplace(name, ramq::testkit::mini_floats(file.tensors.at(name))).first;
    return it->second;
  }
  // y = W x, W rows [row0, row0 + out) of a row-major [*, in] tensor.
  Vec mv(const std::string& name, const Vec& x, std::size_t out, std::size_t row0 = 0) {
    const auto& m = t(name);
    Vec y(out, 0.0);
    for (std::size_t o = 0; o < out; ++o)
      for (std::size_t i = 0; i < x.size(); ++i) y[o] += m[(row0 + o) * x.size() + i] * x[i];
    return y;
  }
};

double silu(double x) { return x / (1 + std::exp(-x)); }
double sigm(double x) { return 1 / (1 + std::exp(-x)); }

// x / sqrt(mean(x^2) + eps) * (w (+ 1)).
void rms(double* x, std::size_t d, const std::vector<float>& w, bool plus_one) {
  double ss = 0;
  for (std::size_t i = 0; i < d; ++i) ss += x[i] * x[i];
  const double inv = 1 / std::sqrt(ss / static_cast<double>(d) + 1e-6);
  for (std::size_t i = 0; i < d; ++i) x[i] = x[i] * inv * (w[i] + (plus_one ? 1.0 : 0.0));
}

void l2(double* x, std::size_t d) {
  double ss = 0;
  for (std::size_t i = 0; i < d; ++i) ss += x[i] * x[i];
  for (std::size_t i = 0; i < d; ++i) x[i] /= std::sqrt(ss + 1e-6);
}

Vec swiglu_mlp(Reference& r, const std::string& gate, const std::string& up, const std::string& down, const Vec& x,
               std::size_t width, std::size_t row0 = 0, std::size_t up_row0 = 0) {
  Vec g = r.mv(gate, x, width, row0);
  const Vec u = r.mv(up, x, width, up_row0);
  for (std::size_t i = 0; i < width; ++i) g[i] = silu(g[i]) * u[i];
  return r.mv(down, g, static_cast<std::size_t>(r.s.hidden), 0);
}

struct LayerMemory {
  std::vector<Vec> conv_in;                  // the qkv inputs of every token so far
  std::vector<Vec> S;                        // [nv][dk * dv]
  std::vector<Vec> keys, values;
};

Vec linear_attention(Reference& r, const std::string& p, const Vec& x, LayerMemory& m) {
  const SyntheticHybrid& s = r.s;
  const std::size_t nk = s.key_heads, nv = s.value_heads, dk = s.key_head_dim, dv = s.value_head_dim, rr = nv / nk;
  const std::size_t Ck = nk * dk, Cv = nv * dv, C = 2 * Ck + Cv, K = s.conv_kernel;
  Vec qkv(C), z(Cv), b(nv), a(nv);
  if (s.model_type == "qwen3_next") {
    // Rows per key head g: [q_g, k_g, v_g (r dv), z_g (r dv)]; in_proj_ba per g: [b_g (r), a_g (r)].
    const Vec all = r.mv(p + "in_proj_qkvz.weight", x, 2 * Ck + 2 * Cv);
    const Vec ba = r.mv(p + "in_proj_ba.weight", x, 2 * nv);
    const std::size_t G = 2 * dk + 2 * rr * dv;
    for (std::size_t g = 0; g < nk; ++g) {
      for (std::size_t i = 0; i < dk; ++i) {
        qkv[g * dk + i] = all[g * G + i];
        qkv[Ck + g * dk + i] = all[g * G + dk + i];
      }
      for (std::size_t i = 0; i < rr * dv; ++i) {
        qkv[2 * Ck + g * rr * dv + i] = all[g * G + 2 * dk + i];
        z[g * rr * dv + i] = all[g * G + 2 * dk + rr * dv + i];
      }
      for (std::size_t j = 0; j < rr; ++j) {
        b[g * rr + j] = ba[g * 2 * rr + j];
        a[g * rr + j] = ba[g * 2 * rr + rr + j];
      }
    }
  } else {
    qkv = r.mv(p + "in_proj_qkv.weight", x, C);
    z = r.mv(p + "in_proj_z.weight", x, Cv);
    b = r.mv(p + "in_proj_b.weight", x, nv);
    a = r.mv(p + "in_proj_a.weight", x, nv);
  }
  m.conv_in.push_back(qkv);
  const auto& cw = r.t(p + "conv1d.weight");  // [C, 1, K]
  Vec c(C, 0.0);
  const std::size_t T = m.conv_in.size();
  for (std::size_t ch = 0; ch < C; ++ch) {
    for (std::size_t j = 0; j < K; ++j) {  // input of token T-K+j (zeros before the first)
      if (T + j < K) continue;
      c[ch] += cw[ch * K + j] * m.conv_in[T - K + j][ch];
    }
    c[ch] = silu(c[ch]);
  }
  for (std::size_t g = 0; g < nk; ++g) {
    l2(&c[g * dk], dk);
    l2(&c[Ck + g * dk], dk);
  }
  if (m.S.empty()) m.S.assign(nv, Vec(dk * dv, 0.0));
  const auto& A_log = r.t(p + "A_log");
  const auto& dt = r.t(p + "dt_bias");
  Vec o(Cv);
  for (std::size_t h = 0; h < nv; ++h) {
    const double* q = &c[(h / rr) * dk];
    const double* k = &c[Ck + (h / rr) * dk];
    const double* v = &c[2 * Ck + h * dv];
    const double beta = sigm(b[h]);
    const double g = -std::exp(static_cast<double>(A_log[h])) * std::log1p(std::exp(a[h] + dt[h]));
    Vec& S = m.S[h];
    for (auto& e : S) e *= std::exp(g);
    for (std::size_t j = 0; j < dv; ++j) {
      double mem = 0;
      for (std::size_t i = 0; i < dk; ++i) mem += S[i * dv + j] * k[i];
      const double delta = (v[j] - mem) * beta;
      for (std::size_t i = 0; i < dk; ++i) S[i * dv + j] += k[i] * delta;
    }
    for (std::size_t j = 0; j < dv; ++j) {
      double acc = 0;
      for (std::size_t i = 0; i < dk; ++i) acc += S[i * dv + j] * q[i] / std::sqrt(static_cast<double>(dk));
      o[h * dv + j] = acc;
    }
    rms(&o[h * dv], dv, r.t(p + "norm.weight"), false);
    for (std::size_t j = 0; j < dv; ++j) o[h * dv + j] *= silu(z[h * dv + j]);
  }
  return r.mv(p + "out_proj.weight", o, static_cast<std::size_t>(s.hidden));
}

Vec full_attention(Reference& r, const std::string& p, const Vec& x, std::size_t pos, LayerMemory& m) {
  const SyntheticHybrid& s = r.s;
  const std::size_t nh = s.heads, nkv = s.kv_heads, hd = s.head_dim, rot = hd / 4;  // partial_rotary_factor 0.25
  const Vec qg = r.mv(p + "q_proj.weight", x, 2 * nh * hd);
  Vec k = r.mv(p + "k_proj.weight", x, nkv * hd);
  m.values.push_back(r.mv(p + "v_proj.weight", x, nkv * hd));
  Vec q(nh * hd), gate(nh * hd);
  for (std::size_t h = 0; h < nh; ++h)
    for (std::size_t d = 0; d < hd; ++d) {
      q[h * hd + d] = qg[h * 2 * hd + d];
      gate[h * hd + d] = qg[h * 2 * hd + hd + d];
    }
  auto norm_rotate = [&](Vec& v, std::size_t heads, const std::string& norm) {
    for (std::size_t h = 0; h < heads; ++h) {
      double* e = &v[h * hd];
      rms(e, hd, r.t(norm), true);
      for (std::size_t i = 0; i < rot / 2; ++i) {
        const double angle = static_cast<double>(pos) * std::pow(1e7, -2.0 * static_cast<double>(i) / static_cast<double>(rot));
        const double a = e[i], b = e[i + rot / 2];
        e[i] = a * std::cos(angle) - b * std::sin(angle);
        e[i + rot / 2] = b * std::cos(angle) + a * std::sin(angle);
      }
    }
  };
  norm_rotate(q, nh, p + "q_norm.weight");
  norm_rotate(k, nkv, p + "k_norm.weight");
  m.keys.push_back(k);
  Vec att(nh * hd, 0.0);
  for (std::size_t h = 0; h < nh; ++h) {
    const std::size_t kvh = h / (nh / nkv);
    Vec sc(m.keys.size());
    for (std::size_t j = 0; j < sc.size(); ++j) {
      for (std::size_t d = 0; d < hd; ++d) sc[j] += q[h * hd + d] * m.keys[j][kvh * hd + d];
      sc[j] /= std::sqrt(static_cast<double>(hd));
    }
    const double mx = *std::max_element(sc.begin(), sc.end());
    double sum = 0;
    for (auto& e : sc) sum += (e = std::exp(e - mx));
    for (std::size_t j = 0; j < sc.size(); ++j)
      for (std::size_t d = 0; d < hd; ++d) att[h * hd + d] += sc[j] / sum * m.values[j][kvh * hd + d];
  }
  for (std::size_t i = 0; i < att.size(); ++i) att[i] *= sigm(gate[i]);
  return r.mv(p + "o_proj.weight", att, static_cast<std::size_t>(s.hidden));
}

Vec moe(Reference& r, const std::string& p, const Vec& x) {
  const SyntheticHybrid& s = r.s;
  const std::size_t E = s.experts, I = s.expert_ffn;
  Vec logits = r.mv(p + "gate.weight", x, E);
  const double mx = *std::max_element(logits.begin(), logits.end());
  for (auto& l : logits) l = std::exp(l - mx);
  std::vector<std::size_t> order(E);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return logits[a] > logits[b]; });
  double top = 0;
  for (int j = 0; j < s.top_k; ++j) top += logits[order[j]];
  Vec out(static_cast<std::size_t>(s.hidden), 0.0);
  for (int j = 0; j < s.top_k; ++j) {
    const std::size_t e = order[j];
    Vec y;
    if (s.model_type == "qwen3_next") {
      const std::string x_ = p + "experts." + std::to_string(e) + ".";
      y = swiglu_mlp(r, x_ + "gate_proj.weight", x_ + "up_proj.weight", x_ + "down_proj.weight", x, I);
    } else {  // fused [E, 2I, H] rows [gate; up] per expert, down [E, H, I]
      Vec g = r.mv(p + "experts.gate_up_proj", x, I, e * 2 * I);
      const Vec u = r.mv(p + "experts.gate_up_proj", x, I, e * 2 * I + I);
      for (std::size_t i = 0; i < I; ++i) g[i] = silu(g[i]) * u[i];
      y = r.mv(p + "experts.down_proj", g, static_cast<std::size_t>(s.hidden), e * static_cast<std::size_t>(s.hidden));
    }
    for (std::size_t d = 0; d < out.size(); ++d) out[d] += logits[e] / top * y[d];
  }
  const Vec sh = swiglu_mlp(r, p + "shared_expert.gate_proj.weight", p + "shared_expert.up_proj.weight",
                            p + "shared_expert.down_proj.weight", x, static_cast<std::size_t>(s.shared_ffn));
  const double gate = sigm(r.mv(p + "shared_expert_gate.weight", x, 1)[0]);
  for (std::size_t d = 0; d < out.size(); ++d) out[d] += gate * sh[d];
  return out;
}

std::vector<double> reference_logits(const SyntheticHybrid& s, const std::filesystem::path& dir,
                                     const std::vector<std::uint32_t>& toks) {
  Reference r{s, ramq::testkit::mini_read(dir / "model.safetensors"), {}};
  const std::size_t H = s.hidden;
  std::vector<LayerMemory> mem(static_cast<std::size_t>(s.layers));
  std::vector<double> logits;
  for (std::size_t pos = 0; pos < toks.size(); ++pos) {
    Vec x(H);
    for (std::size_t i = 0; i < H; ++i) x[i] = r.t(s.text_prefix() + "embed_tokens.weight")[toks[pos] * H + i];
    for (int l = 0; l < s.layers; ++l) {
      const std::string p = s.layer_prefix(l);
      Vec xn = x;
      rms(xn.data(), H, r.t(p + "input_layernorm.weight"), true);
      const Vec y = s.linear_layer(l) ? linear_attention(r, p + "linear_attn.", xn, mem[l])
                                      : full_attention(r, p + "self_attn.", xn, pos, mem[l]);
      for (std::size_t i = 0; i < H; ++i) x[i] += y[i];
      xn = x;
      rms(xn.data(), H, r.t(p + "post_attention_layernorm.weight"), true);
      const Vec m = s.moe() ? moe(r, p + "mlp.", xn)
                            : swiglu_mlp(r, p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight",
                                         p + "mlp.down_proj.weight", xn, static_cast<std::size_t>(s.dense_ffn));
      for (std::size_t i = 0; i < H; ++i) x[i] += m[i];
    }
    rms(x.data(), H, r.t(s.text_prefix() + "norm.weight"), true);
    const Vec lg = r.mv("lm_head.weight", x, static_cast<std::size_t>(s.vocab));
    logits.insert(logits.end(), lg.begin(), lg.end());
  }
  return logits;
}

const std::vector<std::uint32_t> kTokens = {3, 17, 500, 42, 42, 7, 0, 311, 99, 256, 12};

ramq::EvalOptions threads(unsigned n) {
  ramq::EvalOptions opt;
  opt.threads = n;
  opt.ctx = 64;
  return opt;
}

class HybridForward : public ::testing::TestWithParam<std::string> {};

TEST_P(HybridForward, MatchesNaiveDoublePrecisionForward) {
  SyntheticHybrid s;
  s.model_type = GetParam();
  ramq::testkit::TempDir tmp("hybrid-ref");
  ramq::testkit::write_synthetic_hybrid(tmp.path(), s);
  const auto model = ramq::load_language_model(tmp.path(), threads(2));
  ASSERT_EQ(model->vocab_size(), s.vocab);
  const auto got = model->forward(kTokens);
  const auto want = reference_logits(s, tmp.path(), kTokens);
  ASSERT_EQ(got.size(), want.size());
  double max_err = 0, max_abs = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    max_err = std::max(max_err, std::fabs(got[i] - want[i]));
    max_abs = std::max(max_abs, std::fabs(want[i]));
  }
  EXPECT_GT(max_abs, 0.5);  // logits of a size that makes the comparison mean something
  EXPECT_LT(max_err, 2e-4) << s.model_type << " max |logit| " << max_abs;
}

TEST_P(HybridForward, AppendTokenByTokenEqualsForwardAndThreadsDoNotMatter) {
  SyntheticHybrid s;
  s.model_type = GetParam();
  ramq::testkit::TempDir tmp("hybrid-append");
  ramq::testkit::write_synthetic_hybrid(tmp.path(), s);
  const auto one = ramq::load_language_model(tmp.path(), threads(1))->forward(kTokens);
  const auto two = ramq::load_language_model(tmp.path(), threads(2))->forward(kTokens);
  EXPECT_EQ(one, two);  // bit for bit

  auto inc = ramq::eval::make_incremental_llama_model(ramq::eval::open_model_weights(tmp.path()), threads(2));
  for (int round = 0; round < 2; ++round) {  // clear_cache() starts over
    std::vector<float> pieces;
    const std::size_t split = 5;  // a batch, then one token at a time
    const auto first = inc->append(std::span(kTokens).first(split));
    pieces.insert(pieces.end(), first.begin(), first.end());
    for (std::size_t t = split; t < kTokens.size(); ++t) {
      const auto l = inc->append(std::span(kTokens).subspan(t, 1));
      pieces.insert(pieces.end(), l.begin(), l.end());
    }
    ASSERT_EQ(pieces.size(), one.size());
    double max_err = 0;
    for (std::size_t i = 0; i < one.size(); ++i) max_err = std::max(max_err, double(std::fabs(pieces[i] - one[i])));
    EXPECT_LT(max_err, 1e-5) << s.model_type << " round " << round;
    inc->clear_cache();
  }
}

INSTANTIATE_TEST_SUITE_P(Families, HybridForward, ::testing::Values("qwen3_next", "qwen3_5", "qwen3_5_moe"));

}  // namespace
