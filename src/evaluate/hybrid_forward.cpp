// Float32 forward pass of the hybrid linear-attention families (evaluate/hybrid_forward.h):
// projections through the shared chunked sgemm, the conv1d and the gated delta rule token by
// token (value heads spread over the workers, each head's tokens in order), full attention
// with its keys and values cached.
#include "evaluate/hybrid_forward.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "evaluate/forward_kernels.h"
#include "evaluate/mlx_hybrid_weights.h"
#include "ramq/error.h"
#include "ramq/model_family.h"
#include "ramq/parallel.h"

namespace ramq::eval {

namespace {

struct LinearAttention {
  Linear qkv, z, b, a;          // qwen3_5 / qwen3_5_moe (and qwen3_next's GGUF qkv, z)
  Linear qkvz, ba;              // qwen3_next, grouped per key head (w empty when unfused)
  std::vector<float> conv;      // [C, K]
  std::vector<float> decay;     // -exp(A_log) [nv]
  std::vector<float> dt_bias;   // [nv]
  std::vector<float> norm;      // [dv], applied as is
  Linear out;                   // [hidden, Cv]
};

struct FullAttention {
  Linear q, k, v, o;
  std::vector<float> q_norm, k_norm;  // 1 + w
};

struct HybridLayer {
  bool linear = false;
  std::vector<float> in_norm, post_norm;  // 1 + w
  LinearAttention la;
  FullAttention fa;
  Linear gate, up, down;
  std::unique_ptr<Experts> moe;  // instead of gate/up/down
};

// What a layer carries from one token to the next.
struct LayerState {
  std::vector<float> conv;  // the conv1d inputs of the last K-1 tokens, oldest first [K-1, C]
  std::vector<float> S;     // recurrent state [nv, dk, dv]
  std::vector<float> k, v;  // full attention: positions x kv_dim, keys after the rotary embedding
};

float silu(float x) { return x / (1.0f + std::exp(-x)); }
float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
// torch.nn.functional.softplus (beta 1, threshold 20).
double softplus(double x) { return x > 20.0 ? x : std::log1p(std::exp(x)); }

// v[i] *= 1 / sqrt(sum v^2 + 1e-6) (transformers' l2norm) times `scale`.
void l2_normalize(float* v, std::size_t d, double scale) {
  double ss = 0;
  for (std::size_t i = 0; i < d; ++i) ss += static_cast<double>(v[i]) * v[i];
  const float f = static_cast<float>(scale / std::sqrt(ss + 1e-6));
  for (std::size_t i = 0; i < d; ++i) v[i] *= f;
}

std::vector<float> plus_one(std::vector<float> w) {
  for (auto& x : w) x += 1.0f;
  return w;
}

class HybridModel final : public IncrementalModel {
 public:
  HybridModel(std::unique_ptr<WeightSource> src, const EvalOptions& opt)
      : src_(std::move(src)), threads_(resolve_threads(opt.threads)), ctx_(static_cast<std::size_t>(opt.ctx)),
        s_(hybrid_spec(src_->config(), src_->config_file())) {
    const CheckedWeights w(*src_);
    embed_ = w.open(s_.embed_name, {s_.vocab, s_.hidden});
    final_norm_ = plus_one(w.load(s_.norm_name, {s_.hidden}));
    if (!s_.tie_word_embeddings) {
      if (!src_->has(s_.head_name))
        throw Error(src_->config_file(), s_.head_name,
                    "field 'tie_word_embeddings' is false but the model has no " + s_.head_name);
      head_ = w.matrix(s_.head_name, s_.vocab, s_.hidden);
    }
    for (std::int64_t i = 0; i < s_.layers; ++i) layers_.push_back(load_layer(w, i));
    const std::string experts = s_.moe ? ", " + std::to_string(s_.moe->experts) + " experts top-" +
                                             std::to_string(s_.moe->experts_per_token)
                                       : "";
    std::int64_t linear = 0;
    for (const auto& L : layers_) linear += L.linear ? 1 : 0;
    description_ = s_.model_type + " (" + std::to_string(s_.layers) + " layers, " + std::to_string(linear) +
                   " linear attention, hidden " + std::to_string(s_.hidden) + experts + ", vocab " +
                   std::to_string(s_.vocab) + ") from " + src_->description();
  }

  std::int64_t vocab_size() const override { return s_.vocab; }
  std::string description() const override { return description_; }

  std::vector<float> forward(std::span<const std::uint32_t> tokens) override {
    std::vector<LayerState> fresh;
    return run(tokens, 0, fresh);
  }

  std::vector<float> append(std::span<const std::uint32_t> tokens) override {
    check_append_window(*src_, cached_, tokens.size(), ctx_);
    std::vector<float> logits = run(tokens, cached_, state_);
    cached_ += tokens.size();
    return logits;
  }

  void clear_cache() override {
    state_.clear();
    cached_ = 0;
  }

  PositionLimit limit() const { return source_position_limit(*src_); }

 private:
  HybridLayer load_layer(const CheckedWeights& w, std::int64_t i) const {
    const std::string p = s_.layer_prefix + std::to_string(i) + ".";
    const std::int64_t H = s_.hidden;
    HybridLayer L;
    L.linear = s_.linear.linear_layer[sz(i)];
    L.in_norm = plus_one(w.load(p + "input_layernorm.weight", {H}));
    L.post_norm = plus_one(w.load(p + "post_attention_layernorm.weight", {H}));
    if (L.linear)
      L.la = load_linear_attention(w, p + "linear_attn.");
    else
      L.fa = load_full_attention(w, p + "self_attn.");
    if (s_.moe) {
      L.moe = load_experts(w, p + "mlp.");
    } else {
      L.gate = w.linear(p + "mlp.gate_proj", s_.intermediate, H);
      L.up = w.linear(p + "mlp.up_proj", s_.intermediate, H);
      L.down = w.linear(p + "mlp.down_proj", H, s_.intermediate);
    }
    return L;
  }

  LinearAttention load_linear_attention(const CheckedWeights& w, const std::string& p) const {
    const LinearAttentionFields& la = s_.linear;
    const std::int64_t H = s_.hidden, C = la.conv_dim(), Ck = la.key_dim(), Cv = la.value_dim(), nv = la.value_heads;
    LinearAttention a;
    // qwen3_next's GGUF files hold in_proj_qkvz split into in_proj_qkv and in_proj_z (llama.cpp's
    // converter) next to the fused in_proj_ba.
    const auto fused = [&](const char* name, const char* unfused) {
      return s_.fused_projections && (src_->has(p + name) || !src_->has(p + unfused));
    };
    if (fused("in_proj_qkvz.weight", "in_proj_qkv.weight")) {
      a.qkvz = w.matrix(p + "in_proj_qkvz.weight", 2 * Ck + 2 * Cv, H);
    } else {
      a.qkv = w.matrix(p + "in_proj_qkv.weight", C, H);
      a.z = w.matrix(p + "in_proj_z.weight", Cv, H);
    }
    if (fused("in_proj_ba.weight", "in_proj_b.weight")) {
      a.ba = w.matrix(p + "in_proj_ba.weight", 2 * nv, H);
    } else {
      a.b = w.matrix(p + "in_proj_b.weight", nv, H);
      a.a = w.matrix(p + "in_proj_a.weight", nv, H);
    }
    a.conv = w.load(p + "conv1d.weight", {C, 1, la.conv_kernel});
    a.decay = w.load(p + "A_log", {nv});
    for (auto& x : a.decay) x = -std::exp(x);
    a.dt_bias = w.load(p + "dt_bias", {nv});
    a.norm = w.load(p + "norm.weight", {la.value_head_dim});
    a.out = w.matrix(p + "out_proj.weight", H, Cv);
    return a;
  }

  FullAttention load_full_attention(const CheckedWeights& w, const std::string& p) const {
    const std::int64_t H = s_.hidden, hd = s_.head_dim;
    FullAttention f;
    f.q = w.matrix(p + "q_proj.weight", 2 * s_.heads * hd, H);
    f.k = w.matrix(p + "k_proj.weight", s_.kv_heads * hd, H);
    f.v = w.matrix(p + "v_proj.weight", s_.kv_heads * hd, H);
    f.o = w.matrix(p + "o_proj.weight", H, s_.heads * hd);
    f.q_norm = plus_one(w.load(p + "q_norm.weight", {hd}));
    f.k_norm = plus_one(w.load(p + "k_norm.weight", {hd}));
    return f;
  }

  // Router, routed experts by the stack keys "experts.*.<proj>.weight" (per-expert tensors, or
  // a GGUF stack; the reader presents qwen3_5_moe's fused 3-D stacks per expert), or a GGUF's
  // fused ffn_gate_up_exps read as "experts.gate_up_proj" [E, 2I, H] (rows per expert [gate;
  // up]), and the shared expert with its gate.
  std::unique_ptr<Experts> load_experts(const CheckedWeights& w, const std::string& p) const {
    const MoeFields& moe = *s_.moe;
    const std::int64_t H = s_.hidden, E = moe.experts, I = moe.expert_ff;
    auto m = std::make_unique<Experts>();
    m->router = w.matrix(p + "gate.weight", E, H);
    const auto stack = [&](const std::string& key, std::int64_t out, std::int64_t in) {
      std::vector<Linear> v;
      for (auto& t : src_->experts(key, E, out, in)) v.push_back({out, in, std::move(t), {}});
      return v;
    };
    if (src_->has(p + "experts.gate_up_proj")) {
      for (auto& t : src_->experts(p + "experts.gate_up_proj", E, 2 * I, H)) {
        const std::shared_ptr<const WeightTensor> both = std::move(t);
        m->gate.push_back({I, H, row_slice(both, 0, I), {}});
        m->up.push_back({I, H, row_slice(both, I, I), {}});
      }
    } else {
      m->gate = stack(p + "experts.*.gate_proj.weight", I, H);
      m->up = stack(p + "experts.*.up_proj.weight", I, H);
    }
    m->down = stack(p + "experts.*.down_proj.weight", H, I);
    m->shared_gate = w.matrix(p + "shared_expert.gate_proj.weight", moe.shared_ff, H);
    m->shared_up = w.matrix(p + "shared_expert.up_proj.weight", moe.shared_ff, H);
    m->shared_down = w.matrix(p + "shared_expert.down_proj.weight", H, moe.shared_ff);
    const std::string router = p + "shared_expert_gate.weight";
    m->shared_router = src_->load(router);  // [1, hidden] (Hugging Face) or [hidden] (GGUF)
    if (m->shared_router.size() != sz(H)) throw Error(src_->config_file(), router, "must hold hidden_size values");
    return m;
  }

  // Logits of `tokens` at positions past..past+n-1, continuing from `state` (empty: the start).
  std::vector<float> run(std::span<const std::uint32_t> tokens, std::size_t past, std::vector<LayerState>& state) {
    openblas_set_num_threads(1);
    const std::size_t n = tokens.size(), H = sz(s_.hidden);
    if (n == 0) return {};
    if (state.empty()) state.resize(layers_.size());
    std::vector<float> x(n * H), xn(n * H), y(n * H);
    for (std::size_t t = 0; t < n; ++t) {
      if (tokens[t] >= static_cast<std::uint64_t>(s_.vocab))
        throw Error("", "", "token id " + std::to_string(tokens[t]) + " at position " + std::to_string(t) +
                                " is outside the vocabulary (vocab_size " + std::to_string(s_.vocab) + ")");
      std::copy_n(embed_->read_rows(tokens[t], 1, embed_row_), H, x.data() + t * H);
    }
    for (std::size_t li = 0; li < layers_.size(); ++li) {
      const HybridLayer& L = layers_[li];
      rms_norm(x.data(), n, H, L.in_norm, s_.rms_eps, xn.data());
      if (L.linear)
        linear_attention(L.la, xn.data(), n, state[li], y.data());
      else
        full_attention(L.fa, xn.data(), n, past, state[li], y.data());
      for (std::size_t i = 0; i < x.size(); ++i) x[i] += y[i];
      rms_norm(x.data(), n, H, L.post_norm, s_.rms_eps, xn.data());
      mlp(L, xn.data(), n, y.data());
      for (std::size_t i = 0; i < x.size(); ++i) x[i] += y[i];
    }
    rms_norm(x.data(), n, H, final_norm_, s_.rms_eps, xn.data());
    std::vector<float> logits(n * sz(s_.vocab));
    const auto rows = static_cast<std::int64_t>(n);
    if (s_.tie_word_embeddings)
      matmul_t(*embed_, nullptr, s_.vocab, s_.hidden, xn.data(), rows, logits.data(), threads_, scratch_);
    else
      linear_t(head_, xn.data(), rows, logits.data(), threads_, scratch_);
    return logits;
  }

  void mlp(const HybridLayer& L, const float* xn, std::size_t n, float* out) {
    if (L.moe) {
      moe_mlp(*L.moe, *s_.moe, sz(s_.hidden), xn, n, out, threads_, scratch_);
      return;
    }
    expert_mlp(L.gate, L.up, L.down, xn, n, out, threads_, scratch_);
  }

  // The projections of n rows as qkv [n, C] ([q | k | v]), z [n, Cv], b and a [n, nv].
  void project(const LinearAttention& a, const float* xn, std::size_t n, std::vector<float>& qkv,
               std::vector<float>& z, std::vector<float>& b, std::vector<float>& al) {
    const LinearAttentionFields& la = s_.linear;
    const std::size_t C = sz(la.conv_dim()), Ck = sz(la.key_dim()), Cv = sz(la.value_dim()), nv = sz(la.value_heads);
    qkv.resize(n * C);
    z.resize(n * Cv);
    b.resize(n * nv);
    al.resize(n * nv);
    const auto rows = static_cast<std::int64_t>(n);
    // qwen3_next: per key head g, in_proj_qkvz rows [q_g (dk), k_g (dk), v_g (r dv), z_g (r dv)]
    // and in_proj_ba rows [b_g (r), a_g (r)] (transformers' fix_query_key_value_ordering).
    const std::size_t nk = sz(la.key_heads), dk = sz(la.key_head_dim), r = nv / nk, rdv = r * sz(la.value_head_dim);
    if (a.qkvz.w) {
      const std::size_t group = 2 * dk + 2 * rdv;
      std::vector<float> qkvz(n * nk * group);
      linear_t(a.qkvz, xn, rows, qkvz.data(), threads_, scratch_);
      for (std::size_t t = 0; t < n; ++t)
        for (std::size_t g = 0; g < nk; ++g) {
          const float* src = qkvz.data() + t * nk * group + g * group;
          float* row = qkv.data() + t * C;
          std::copy_n(src, dk, row + g * dk);
          std::copy_n(src + dk, dk, row + Ck + g * dk);
          std::copy_n(src + 2 * dk, rdv, row + 2 * Ck + g * rdv);
          std::copy_n(src + 2 * dk + rdv, rdv, z.data() + t * Cv + g * rdv);
        }
    } else {
      linear_t(a.qkv, xn, rows, qkv.data(), threads_, scratch_);
      linear_t(a.z, xn, rows, z.data(), threads_, scratch_);
    }
    if (a.ba.w) {
      std::vector<float> ba(n * 2 * nv);
      linear_t(a.ba, xn, rows, ba.data(), threads_, scratch_);
      for (std::size_t t = 0; t < n; ++t)
        for (std::size_t g = 0; g < nk; ++g) {
          const float* bas = ba.data() + t * 2 * nv + g * 2 * r;
          std::copy_n(bas, r, b.data() + t * nv + g * r);
          std::copy_n(bas + r, r, al.data() + t * nv + g * r);
        }
    } else {
      linear_t(a.b, xn, rows, b.data(), threads_, scratch_);
      linear_t(a.a, xn, rows, al.data(), threads_, scratch_);
    }
  }

  // The causal depthwise conv1d with SiLU of qkv [n, C] in place, after the K-1 inputs held in
  // `conv_state` (zeros at the start), which then holds the last K-1 inputs.
  void causal_conv(const std::vector<float>& w, std::vector<float>& qkv, std::size_t n,
                   std::vector<float>& conv_state) const {
    const std::size_t C = sz(s_.linear.conv_dim()), K = sz(s_.linear.conv_kernel), keep = K - 1;
    if (conv_state.empty()) conv_state.assign(keep * C, 0.0f);
    std::vector<float> in(conv_state);  // [K-1 + n, C]: the window, oldest first
    in.insert(in.end(), qkv.begin(), qkv.end());
    for (std::size_t t = 0; t < n; ++t)
      for (std::size_t ch = 0; ch < C; ++ch) {
        double acc = 0;
        for (std::size_t j = 0; j < K; ++j) acc += static_cast<double>(w[ch * K + j]) * in[(t + j) * C + ch];
        qkv[t * C + ch] = silu(static_cast<float>(acc));
      }
    std::copy(in.end() - static_cast<std::ptrdiff_t>(keep * C), in.end(), conv_state.begin());
  }

  void linear_attention(const LinearAttention& a, const float* xn, std::size_t n, LayerState& st, float* y) {
    const LinearAttentionFields& la = s_.linear;
    const std::size_t C = sz(la.conv_dim()), Ck = sz(la.key_dim()), Cv = sz(la.value_dim());
    const std::size_t nk = sz(la.key_heads), nv = sz(la.value_heads), dk = sz(la.key_head_dim);
    const std::size_t dv = sz(la.value_head_dim), r = nv / nk;
    std::vector<float> qkv, z, b, al;
    project(a, xn, n, qkv, z, b, al);
    causal_conv(a.conv, qkv, n, st.conv);
    const double q_scale = 1.0 / std::sqrt(static_cast<double>(dk));
    for (std::size_t t = 0; t < n; ++t)
      for (std::size_t g = 0; g < nk; ++g) {
        l2_normalize(qkv.data() + t * C + g * dk, dk, q_scale);
        l2_normalize(qkv.data() + t * C + Ck + g * dk, dk, 1.0);
      }
    if (st.S.empty()) st.S.assign(nv * dk * dv, 0.0f);
    std::vector<float> o(n * Cv);
    // Each value head's recurrence over the tokens in order; heads are independent.
    parallel_for(nv, n * nv * dk * dv >= (1 << 16) ? threads_ : 1, [&](std::size_t h) {
      float* S = st.S.data() + h * dk * dv;  // S[i * dv + j]
      const std::size_t g = h / r;
      std::vector<double> kv(dv);
      for (std::size_t t = 0; t < n; ++t) {
        const float* q = qkv.data() + t * C + g * dk;
        const float* k = qkv.data() + t * C + Ck + g * dk;
        const float* v = qkv.data() + t * C + 2 * Ck + h * dv;
        const float beta = sigmoid(b[t * nv + h]);
        const double log_decay = a.decay[h] * softplus(static_cast<double>(al[t * nv + h]) + a.dt_bias[h]);
        const auto decay = static_cast<float>(std::exp(log_decay));
        for (std::size_t e = 0; e < dk * dv; ++e) S[e] *= decay;
        std::fill(kv.begin(), kv.end(), 0.0);
        for (std::size_t i = 0; i < dk; ++i)
          for (std::size_t j = 0; j < dv; ++j) kv[j] += static_cast<double>(S[i * dv + j]) * k[i];
        for (std::size_t j = 0; j < dv; ++j) kv[j] = (v[j] - kv[j]) * beta;  // delta
        for (std::size_t i = 0; i < dk; ++i)
          for (std::size_t j = 0; j < dv; ++j) S[i * dv + j] += k[i] * static_cast<float>(kv[j]);
        std::fill(kv.begin(), kv.end(), 0.0);
        for (std::size_t i = 0; i < dk; ++i)
          for (std::size_t j = 0; j < dv; ++j) kv[j] += static_cast<double>(S[i * dv + j]) * q[i];
        for (std::size_t j = 0; j < dv; ++j) o[t * Cv + h * dv + j] = static_cast<float>(kv[j]);
      }
    });
    // Gated RMSNorm per head: rmsnorm(o) * norm * silu(z).
    rms_norm(o.data(), n * nv, dv, a.norm, s_.rms_eps, o.data());
    for (std::size_t i = 0; i < o.size(); ++i) o[i] *= silu(z[i]);
    linear_t(a.out, o.data(), static_cast<std::int64_t>(n), y, threads_, scratch_);
  }

  void full_attention(const FullAttention& f, const float* xn, std::size_t n, std::size_t past, LayerState& st,
                      float* y) {
    const std::size_t hd = sz(s_.head_dim), nh = sz(s_.heads), nkv = sz(s_.kv_heads);
    const std::size_t q_dim = nh * hd, kv_dim = nkv * hd;
    const auto rows = static_cast<std::int64_t>(n);
    std::vector<float> qg(n * 2 * q_dim), q(n * q_dim), gate(n * q_dim), k(n * kv_dim), v(n * kv_dim);
    linear_t(f.q, xn, rows, qg.data(), threads_, scratch_);
    linear_t(f.k, xn, rows, k.data(), threads_, scratch_);
    linear_t(f.v, xn, rows, v.data(), threads_, scratch_);
    for (std::size_t t = 0; t < n; ++t)  // per head [q (hd); gate (hd)]
      for (std::size_t h = 0; h < nh; ++h) {
        const float* src = qg.data() + t * 2 * q_dim + h * 2 * hd;
        std::copy_n(src, hd, q.data() + t * q_dim + h * hd);
        std::copy_n(src + hd, hd, gate.data() + t * q_dim + h * hd);
      }
    rms_norm(q.data(), n * nh, hd, f.q_norm, s_.rms_eps, q.data());
    rms_norm(k.data(), n * nkv, hd, f.k_norm, s_.rms_eps, k.data());
    rotate(q, nh, n, past);
    rotate(k, nkv, n, past);
    st.k.resize((past + n) * kv_dim);
    st.v.resize((past + n) * kv_dim);
    std::copy(k.begin(), k.end(), st.k.begin() + static_cast<std::ptrdiff_t>(past * kv_dim));
    std::copy(v.begin(), v.end(), st.v.begin() + static_cast<std::ptrdiff_t>(past * kv_dim));
    std::vector<float> att(n * q_dim);
    causal_attention(q.data(), st.k.data(), st.v.data(), n, past, nh, nkv, hd, threads_, att.data());
    for (std::size_t i = 0; i < att.size(); ++i) att[i] *= sigmoid(gate[i]);
    linear_t(f.o, att.data(), rows, y, threads_, scratch_);
  }

  // rotate_half rotary embeddings on the first rotary_dims dimensions of each head (pairs
  // (i, i + rotary_dims / 2)); the other dimensions pass unchanged.
  void rotate(std::vector<float>& m, std::size_t heads, std::size_t n, std::size_t past) const {
    const std::size_t hd = sz(s_.head_dim), half = s_.inv_freq.size();
    for (std::size_t t = 0; t < n; ++t)
      for (std::size_t i = 0; i < half; ++i) {
        const double angle = static_cast<double>(past + t) * s_.inv_freq[i];
        const auto c = static_cast<float>(std::cos(angle)), s = static_cast<float>(std::sin(angle));
        for (std::size_t h = 0; h < heads; ++h) {
          float* e = m.data() + (t * heads + h) * hd;
          const float a = e[i], b = e[i + half];
          e[i] = a * c - b * s;
          e[i + half] = b * c + a * s;
        }
      }
  }

  std::unique_ptr<WeightSource> src_;
  unsigned threads_;
  std::size_t ctx_;
  HybridSpec s_;
  std::unique_ptr<WeightTensor> embed_;
  std::vector<float> final_norm_, embed_row_;
  Linear head_;
  std::vector<HybridLayer> layers_;
  std::string description_;
  ScratchPool scratch_;
  std::vector<LayerState> state_;  // append()'s
  std::size_t cached_ = 0;
};

}  // namespace

std::unique_ptr<IncrementalModel> make_hybrid_model(std::unique_ptr<WeightSource> weights, const EvalOptions& opt) {
  const ModelFamily* family = find_family(weights->config().model_type);
  if (family != nullptr && is_mlx_hybrid_layout(*weights, *family)) weights = mlx_hybrid_weights(std::move(weights), *family);
  return std::make_unique<HybridModel>(std::move(weights), opt);
}

std::optional<PositionLimit> hybrid_position_limit(const LanguageModel& model) {
  const auto* hybrid = dynamic_cast<const HybridModel*>(&model);
  if (hybrid == nullptr) return std::nullopt;
  PositionLimit limit = hybrid->limit();
  if (limit.positions <= 0) return std::nullopt;
  return limit;
}

}  // namespace ramq::eval
