// Float32 forward pass of a Llama-family decoder over a whole window at once (n tokens x
// hidden), or over tokens appended after cached keys and values (incremental decoding), with
// OpenBLAS sgemm for every projection. Weight matrices stay in their stored form
// and are decoded a chunk of rows at a time right before the product that uses them.
// Hugging Face conventions: RMSNorm x * rsqrt(mean(x^2) + eps) * w; rotate_half rotary
// embeddings on pairs (i, i + head_dim/2); causal grouped-query attention with scale 1/sqrt(head_dim); MLP down(silu(gate(x)) * up(x)).
// Gemma 3 (LlamaSpec::gemma): norms (1 + w), also after attention and around the MLP; embeddings
// times sqrt(hidden); GeGLU (tanh GELU); scale query_pre_attn_scalar^-0.5; its sliding-window
// layers attend to the last sliding_window positions and rotate with rope_local_base_freq.
#include "evaluate/llama_forward.h"

#include "evaluate/forward_kernels.h"
#include "evaluate/hybrid_forward.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "ramq/error.h"
#include "ramq/gguf_names.h"
#include "ramq/model_family.h"
#include "ramq/parallel.h"

namespace ramq::eval {

namespace {

struct Layer {
  std::vector<float> in_norm, post_norm, q_norm, k_norm;
  std::vector<float> pre_ffn_norm, post_ffn_norm;  // Gemma: post_norm follows attention, these wrap the MLP
  Linear q, k, v, o, gate, up, down;
  std::unique_ptr<Experts> moe;  // instead of gate/up/down
};

class LlamaModel final : public IncrementalModel {
 public:
  LlamaModel(std::unique_ptr<WeightSource> src, const EvalOptions& opt)
      : src_(std::move(src)), threads_(resolve_threads(opt.threads)), ctx_(static_cast<std::size_t>(opt.ctx)) {
    s_ = llama_spec(src_->config(), src_->config_file(), opt.ctx);
    const std::int64_t q_dim = s_.heads * s_.head_dim, kv_dim = s_.kv_heads * s_.head_dim;
    // The family's Hugging Face names ("model.embed_tokens.weight", Gemma 3's wrapper
    // "language_model.model.embed_tokens.weight", ...).
    const ModelFamily& family = family_for(src_->config(), src_->config_file(), "evaluation");
    const auto hf = [&](const char* gguf) { return gguf_to_hf_tensor_name(family, gguf).value(); };
    embed_ = open(hf("token_embd.weight"), {s_.vocab, s_.hidden});
    final_norm_ = load(hf("output_norm.weight"), {s_.hidden});
    if (!s_.tie_word_embeddings) {
      const std::string head = hf("output.weight");
      if (!src_->has(head))
        throw Error(src_->config_file(), head, "field 'tie_word_embeddings' is false but the model has no " + head);
      head_ = {s_.vocab, s_.hidden, open(head, {s_.vocab, s_.hidden}), {}};
    }
    layers_.resize(sz(s_.layers));
    for (std::int64_t i = 0; i < s_.layers; ++i) {
      const std::string p = std::string(family.names->hf_layer_prefix) + std::to_string(i) + ".";
      Layer& L = layers_[sz(i)];
      L.in_norm = load(p + "input_layernorm.weight", {s_.hidden});
      L.post_norm = load(p + "post_attention_layernorm.weight", {s_.hidden});
      const bool ab = s_.attention_bias, qb = ab || s_.qkv_bias;
      L.q = load_linear(p + "self_attn.q_proj", q_dim, s_.hidden, qb);
      L.k = load_linear(p + "self_attn.k_proj", kv_dim, s_.hidden, qb);
      L.v = load_linear(p + "self_attn.v_proj", kv_dim, s_.hidden, qb);
      L.o = load_linear(p + "self_attn.o_proj", s_.hidden, q_dim, ab);
      if (s_.moe) {
        L.moe = load_experts(i);
      } else {
        L.gate = load_linear(p + "mlp.gate_proj", s_.intermediate, s_.hidden, s_.mlp_bias);
        L.up = load_linear(p + "mlp.up_proj", s_.intermediate, s_.hidden, s_.mlp_bias);
        L.down = load_linear(p + "mlp.down_proj", s_.hidden, s_.intermediate, s_.mlp_bias);
      }
      if (s_.qk_norm || src_->has(p + "self_attn.q_norm.weight")) {
        L.q_norm = load(p + "self_attn.q_norm.weight", {s_.head_dim});
        L.k_norm = load(p + "self_attn.k_norm.weight", {s_.head_dim});
      }
      if (s_.gemma) load_gemma_norms(p, L);
    }
    if (s_.gemma) add_one(final_norm_);
    const std::string experts = s_.moe ? ", " + std::to_string(s_.moe->experts) + " experts top-" +
                                             std::to_string(s_.moe->experts_per_token)
                                       : "";
    description_ = s_.model_type + " (" + std::to_string(s_.layers) + " layers, hidden " +
                   std::to_string(s_.hidden) + experts + ", vocab " + std::to_string(s_.vocab) + ", rope " + s_.rope +
                   ") from " + src_->description();
  }

  std::int64_t vocab_size() const override { return s_.vocab; }
  std::string description() const override { return description_; }

  std::vector<float> forward(std::span<const std::uint32_t> tokens) override { return run(tokens, 0, false); }

  std::vector<float> append(std::span<const std::uint32_t> tokens) override {
    // The configuration was validated for windows of ctx_ tokens (sliding window, rope scaling).
    check_append_window(*src_, cached_, tokens.size(), ctx_);
    std::vector<float> logits = run(tokens, cached_, true);
    cached_ += tokens.size();
    return logits;
  }

  void clear_cache() override { cached_ = 0; }

  PositionLimit limit() const { return source_position_limit(*src_); }

 private:
  // Logits of `tokens` at positions past..past+n-1. With use_cache their keys and values are
  // stored in cache_ after the `past` cached ones and attention runs over all of them; without,
  // past is 0 and attention runs over the window's own keys (forward()).
  std::vector<float> run(std::span<const std::uint32_t> tokens, std::size_t past, bool use_cache) {
    // Threads come from parallel_for over independent output chunks / attention tasks; OpenBLAS
    // runs single-threaded inside them (its own pool spins while idle, which costs more than it
    // gains on small matrices and competes with the attention workers).
    openblas_set_num_threads(1);
    const std::int64_t n = static_cast<std::int64_t>(tokens.size());
    const std::size_t un = tokens.size(), H = sz(s_.hidden), hd = sz(s_.head_dim), half = hd / 2;
    const std::size_t q_dim = sz(s_.heads) * hd, kv_dim = sz(s_.kv_heads) * hd, I = sz(s_.intermediate);
    if (un == 0) return {};
    // Workspace kept between calls (no zeroing needed: every element is written before use).
    auto& [x, xn, q, k, v, att, g, u, tmp] = ws_;
    for (auto* b : {&x, &xn, &tmp}) b->resize(un * H);
    for (auto* b : {&q, &att}) b->resize(un * q_dim);
    for (auto* b : {&k, &v}) b->resize(un * kv_dim);
    for (auto* b : {&g, &u}) b->resize(L_moe() ? 0 : un * I);
    for (std::size_t t = 0; t < un; ++t) {
      if (tokens[t] >= static_cast<std::uint64_t>(s_.vocab))
        throw Error("", "", "token id " + std::to_string(tokens[t]) + " at position " + std::to_string(t) +
                                " is outside the vocabulary (vocab_size " + std::to_string(s_.vocab) + ")");
      std::copy_n(embed_->read_rows(tokens[t], 1, embed_row_), H, x.data() + t * H);
    }
    // Gemma scales embeddings by sqrt(hidden_size) (float32 here, as llama.cpp's ggml_scale).
    if (s_.gemma)
      for (float& e : x) e *= static_cast<float>(std::sqrt(static_cast<double>(s_.hidden)));
    // Rotary tables: angle = position * inv_freq[i], in double.
    std::vector<float> global_cos(un * half), global_sin(un * half), local_cos, local_sin;
    const auto tables = [&](const std::vector<double>& inv_freq, std::vector<float>& cos_v, std::vector<float>& sin_v) {
      cos_v.resize(un * half);
      sin_v.resize(un * half);
      for (std::size_t t = 0; t < un; ++t)
        for (std::size_t i = 0; i < half; ++i) {
          const double a = static_cast<double>(past + t) * inv_freq[i];
          cos_v[t * half + i] = static_cast<float>(std::cos(a) * s_.rope_attention_factor);
          sin_v[t * half + i] = static_cast<float>(std::sin(a) * s_.rope_attention_factor);
        }
    };
    tables(s_.inv_freq, global_cos, global_sin);
    if (s_.gemma) tables(s_.local_inv_freq, local_cos, local_sin);
    const std::vector<float>* cos_p = &global_cos;
    const std::vector<float>* sin_p = &global_sin;
    auto rope = [&](std::vector<float>& m, std::size_t nh) {
      const std::vector<float>& cos_t = *cos_p;
      const std::vector<float>& sin_t = *sin_p;
      for (std::size_t t = 0; t < un; ++t)
        for (std::size_t h = 0; h < nh; ++h) {
          float* e = m.data() + t * nh * hd + h * hd;
          for (std::size_t i = 0; i < half; ++i) {
            const float c = cos_t[t * half + i], s = sin_t[t * half + i];
            const float a = e[i], b = e[i + half];
            e[i] = a * c - b * s;
            e[i + half] = b * c + a * s;
          }
        }
    };

    auto matmul = [&](const WeightTensor& w, const std::vector<float>& b, std::int64_t out_dim, std::int64_t in_dim,
                      const float* in, float* out) {
      matmul_t(w, b.empty() ? nullptr : b.data(), out_dim, in_dim, in, n, out, threads_, scratch_);
    };
    auto linear = [&](const Linear& l, const float* in, float* out) { matmul(*l.w, l.b, l.out, l.in, in, out); };

    if (use_cache) cache_.resize(layers_.size());
    for (std::size_t li = 0; li < layers_.size(); ++li) {
      const Layer& L = layers_[li];
      const bool sliding = s_.gemma && s_.gemma->sliding_layer[li];
      cos_p = sliding ? &local_cos : &global_cos;
      sin_p = sliding ? &local_sin : &global_sin;
      const std::size_t window = sliding ? sz(s_.gemma->sliding_window) : 0;
      rms_norm(x.data(), un, H, L.in_norm, s_.rms_eps, xn.data());
      linear(L.q, xn.data(), q.data());
      linear(L.k, xn.data(), k.data());
      linear(L.v, xn.data(), v.data());
      if (!L.q_norm.empty()) {
        rms_norm(q.data(), un * sz(s_.heads), hd, L.q_norm, s_.rms_eps, q.data());
        rms_norm(k.data(), un * sz(s_.kv_heads), hd, L.k_norm, s_.rms_eps, k.data());
      }
      rope(q, sz(s_.heads));
      rope(k, sz(s_.kv_heads));
      // Gemma: scale query_pre_attn_scalar^-0.5 where attention() applies head_dim^-0.5.
      if (s_.gemma && s_.gemma->query_pre_attn_scalar != static_cast<double>(s_.head_dim)) {
        const auto f = static_cast<float>(std::sqrt(static_cast<double>(s_.head_dim) / s_.gemma->query_pre_attn_scalar));
        for (float& e : q) e *= f;
      }
      if (use_cache) {
        KvCache& c = cache_[li];
        for (auto* m : {&c.k, &c.v}) m->resize((past + un) * kv_dim);
        std::copy(k.begin(), k.end(), c.k.begin() + static_cast<std::ptrdiff_t>(past * kv_dim));
        std::copy(v.begin(), v.end(), c.v.begin() + static_cast<std::ptrdiff_t>(past * kv_dim));
        attention(q.data(), c.k.data(), c.v.data(), un, past, att.data(), window);
      } else {
        attention(q.data(), k.data(), v.data(), un, 0, att.data(), window);
      }
      linear(L.o, att.data(), tmp.data());
      if (s_.gemma) {
        gemma_mlp_block(L, x, xn, g, u, tmp, un, linear);
        continue;
      }
      for (std::size_t i = 0; i < x.size(); ++i) x[i] += tmp[i];

      rms_norm(x.data(), un, H, L.post_norm, s_.rms_eps, xn.data());
      if (L.moe) {
        moe_mlp(*L.moe, xn.data(), un, tmp.data());
      } else {
        linear(L.gate, xn.data(), g.data());
        linear(L.up, xn.data(), u.data());
        swiglu(g.data(), u.data(), g.size());
        linear(L.down, g.data(), tmp.data());
      }
      for (std::size_t i = 0; i < x.size(); ++i) x[i] += tmp[i];
    }
    rms_norm(x.data(), un, H, final_norm_, s_.rms_eps, xn.data());
    std::vector<float> logits(un * sz(s_.vocab));
    if (s_.tie_word_embeddings)
      matmul(*embed_, {}, s_.vocab, s_.hidden, xn.data(), logits.data());
    else
      linear(head_, xn.data(), logits.data());
    if (s_.gemma && s_.gemma->final_logit_softcapping) {
      const auto cap = static_cast<float>(*s_.gemma->final_logit_softcapping);
      for (float& l : logits) l = cap * std::tanh(l / cap);
    }
    return logits;
  }

  // Gemma's layer after the attention output `attn` (rows x hidden): x += post_norm(attn);
  // x += post_ffn_norm(down(gelu_tanh(gate(h)) * up(h))), h = pre_ffn_norm(x).
  template <class LinearFn>
  void gemma_mlp_block(const Layer& L, std::vector<float>& x, std::vector<float>& xn, std::vector<float>& g,
                       std::vector<float>& u, std::vector<float>& attn, std::size_t un, LinearFn& linear) {
    const std::size_t H = sz(s_.hidden);
    rms_norm(attn.data(), un, H, L.post_norm, s_.rms_eps, attn.data());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += attn[i];
    rms_norm(x.data(), un, H, L.pre_ffn_norm, s_.rms_eps, xn.data());
    linear(L.gate, xn.data(), g.data());
    linear(L.up, xn.data(), u.data());
    geglu_tanh(g.data(), u.data(), g.size());
    linear(L.down, g.data(), attn.data());
    rms_norm(attn.data(), un, H, L.post_ffn_norm, s_.rms_eps, attn.data());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += attn[i];
  }

  static void add_one(std::vector<float>& w) {
    for (float& e : w) e += 1.0f;
  }

  // Gemma's RMSNorms scale by 1 + w (Hugging Face's Gemma3RMSNorm): every norm held as 1 + w.
  void load_gemma_norms(const std::string& p, Layer& L) {
    L.pre_ffn_norm = load(p + "pre_feedforward_layernorm.weight", {s_.hidden});
    L.post_ffn_norm = load(p + "post_feedforward_layernorm.weight", {s_.hidden});
    for (auto* w : {&L.in_norm, &L.post_norm, &L.q_norm, &L.k_norm, &L.pre_ffn_norm, &L.post_ffn_norm}) add_one(*w);
  }

  bool L_moe() const { return s_.moe.has_value(); }

  void moe_mlp(const Experts& m, const float* xn, std::size_t n, float* out) {
    eval::moe_mlp(m, *s_.moe, sz(s_.hidden), xn, n, out, threads_, scratch_);
  }

  void attention(const float* q, const float* k, const float* v, std::size_t n, std::size_t past, float* att,
                 std::size_t window) const {
    causal_attention(q, k, v, n, past, sz(s_.heads), sz(s_.kv_heads), sz(s_.head_dim), threads_, att, window);
  }

  std::vector<float> load(const std::string& name, const std::vector<std::int64_t>& expected) const {
    return CheckedWeights(*src_).load(name, expected);
  }
  std::unique_ptr<WeightTensor> open(const std::string& name, const std::vector<std::int64_t>& expected) const {
    return CheckedWeights(*src_).open(name, expected);
  }
  Linear load_linear(const std::string& module, std::int64_t out, std::int64_t in, bool bias_required) const {
    return CheckedWeights(*src_).linear(module, out, in, bias_required);
  }

  // Layer i's router, routed experts and shared expert, by the family's Hugging Face names.
  std::unique_ptr<Experts> load_experts(std::int64_t i) {
    const ModelFamily& family = family_for(src_->config(), src_->config_file(), "evaluation");
    const auto hf = [&](const char* gguf) {
      return gguf_to_hf_tensor_name(family, "blk." + std::to_string(i) + "." + gguf).value();
    };
    const MoeFields& moe = *s_.moe;
    auto m = std::make_unique<Experts>();
    m->router = {moe.experts, s_.hidden, open(hf("ffn_gate_inp.weight"), {moe.experts, s_.hidden}), {}};
    const auto stack = [&](const char* gguf, std::int64_t out, std::int64_t in) {
      std::vector<Linear> v;
      for (auto& w : src_->experts(hf(gguf), moe.experts, out, in)) v.push_back({out, in, std::move(w), {}});
      return v;
    };
    m->gate = stack("ffn_gate_exps.weight", moe.expert_ff, s_.hidden);
    m->up = stack("ffn_up_exps.weight", moe.expert_ff, s_.hidden);
    m->down = stack("ffn_down_exps.weight", s_.hidden, moe.expert_ff);
    if (moe.shared_ff > 0) {
      const auto linear = [&](const char* gguf, std::int64_t out, std::int64_t in) {
        return Linear{out, in, open(hf(gguf), {out, in}), {}};
      };
      m->shared_gate = linear("ffn_gate_shexp.weight", moe.shared_ff, s_.hidden);
      m->shared_up = linear("ffn_up_shexp.weight", moe.shared_ff, s_.hidden);
      m->shared_down = linear("ffn_down_shexp.weight", s_.hidden, moe.shared_ff);
      const std::string router = hf("ffn_gate_inp_shexp.weight");
      m->shared_router = src_->load(router);  // [1, hidden] (Hugging Face) or [hidden] (GGUF)
      if (m->shared_router.size() != sz(s_.hidden))
        throw Error(src_->config_file(), router, "must hold hidden_size values");
    }
    return m;
  }

  std::unique_ptr<WeightSource> src_;
  unsigned threads_;
  std::size_t ctx_;  // the window the configuration was validated for: append()'s limit
  LlamaSpec s_;
  std::unique_ptr<WeightTensor> embed_;
  std::vector<float> final_norm_;
  std::vector<float> embed_row_;  // scratch of the embedding lookup
  Linear head_;
  std::vector<Layer> layers_;
  std::string description_;
  ScratchPool scratch_;
  struct Workspace {
    std::vector<float> x, xn, q, k, v, att, g, u, tmp;
  } ws_;
  struct KvCache {
    std::vector<float> k, v;  // positions x kv_dim, keys after the rotary embedding
  };
  std::vector<KvCache> cache_;  // one per layer (append())
  std::size_t cached_ = 0;      // positions held in cache_
};

}  // namespace

namespace {

bool is_hybrid(const WeightSource& weights) {
  const ModelFamily* family = find_family(weights.config().model_type);
  return family != nullptr && family->hybrid_attention;
}

}  // namespace

std::unique_ptr<LanguageModel> make_llama_model(std::unique_ptr<WeightSource> weights, const EvalOptions& opt) {
  return make_incremental_llama_model(std::move(weights), opt);
}

std::unique_ptr<IncrementalModel> make_incremental_llama_model(std::unique_ptr<WeightSource> weights,
                                                               const EvalOptions& opt) {
  if (is_hybrid(*weights)) return make_hybrid_model(std::move(weights), opt);
  return std::make_unique<LlamaModel>(split_fused_weights(std::move(weights)), opt);
}

}  // namespace ramq::eval

namespace ramq {

std::optional<PositionLimit> position_limit(const LanguageModel& model) {
  const auto* llama = dynamic_cast<const eval::LlamaModel*>(&model);
  if (llama == nullptr) return eval::hybrid_position_limit(model);
  PositionLimit limit = llama->limit();
  if (limit.positions <= 0) return std::nullopt;
  return limit;
}

}  // namespace ramq
