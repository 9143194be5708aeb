// The batched sgemm forward pass against a naive token-by-token double-precision forward pass
// on tiny random models that use the features stories260K does not: biases (qwen2 q/k/v,
// attention_bias, mlp_bias), qwen3 q_norm/k_norm, head_dim != hidden/heads, untied lm_head,
// llama3 rope scaling.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "ramq/eval.h"
#include "support/safetensors_builder.h"

namespace {

using nlohmann::json;
using Tensors = std::map<std::string, std::vector<float>>;

constexpr int H = 16, NH = 4, NKV = 2, HD = 8, I = 24, L = 2, V = 20;

struct Case {
  std::string name;
  json config;
  Tensors t;
};

Case make_case(const std::string& type, bool tie, bool attn_bias, bool mlp_bias, bool llama3, unsigned seed) {
  Case c;
  c.name = type;
  c.config = {{"architectures", {"X"}}, {"model_type", type}, {"hidden_size", H}, {"intermediate_size", I},
              {"num_hidden_layers", L}, {"num_attention_heads", NH}, {"num_key_value_heads", NKV},
              {"head_dim", HD}, {"vocab_size", V}, {"max_position_embeddings", 64}, {"rms_norm_eps", 1e-6},
              {"rope_theta", 10000.0}, {"tie_word_embeddings", tie}, {"attention_bias", attn_bias},
              {"mlp_bias", mlp_bias}};
  if (llama3)
    c.config["rope_scaling"] = {{"rope_type", "llama3"},    {"factor", 8.0}, {"low_freq_factor", 1.0},
                                {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 64}};
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 0.4f);
  auto rnd = [&](const std::string& n, std::size_t count, float base = 0.0f) {
    std::vector<float> v(count);
    for (auto& x : v) x = base + nd(rng);
    c.t[n] = v;
  };
  rnd("model.embed_tokens.weight", V * H);
  rnd("model.norm.weight", H, 1.0f);
  if (!tie) rnd("lm_head.weight", V * H);
  const bool qkv_bias = attn_bias || type == "qwen2";
  for (int l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    rnd(p + "input_layernorm.weight", H, 1.0f);
    rnd(p + "post_attention_layernorm.weight", H, 1.0f);
    const std::map<std::string, std::pair<int, int>> lin = {
        {"self_attn.q_proj", {NH * HD, H}}, {"self_attn.k_proj", {NKV * HD, H}}, {"self_attn.v_proj", {NKV * HD, H}},
        {"self_attn.o_proj", {H, NH * HD}}, {"mlp.gate_proj", {I, H}},           {"mlp.up_proj", {I, H}},
        {"mlp.down_proj", {H, I}}};
    for (const auto& [m, shape] : lin) {
      rnd(p + m + ".weight", static_cast<std::size_t>(shape.first * shape.second));
      const bool attn = m.rfind("self_attn", 0) == 0;
      if ((attn && m != "self_attn.o_proj" && qkv_bias) || (m == "self_attn.o_proj" && attn_bias) || (!attn && mlp_bias))
        rnd(p + m + ".bias", static_cast<std::size_t>(shape.first));
    }
    if (type == "qwen3") {
      rnd(p + "self_attn.q_norm.weight", HD, 1.0f);
      rnd(p + "self_attn.k_norm.weight", HD, 1.0f);
    }
  }
  return c;
}

// y = W x (+ b), W [out, in].
std::vector<double> matvec(const Tensors& t, const std::string& m, const std::vector<double>& x, int out) {
  const auto& w = t.at(m + ".weight");
  const std::size_t in = x.size();
  std::vector<double> y(static_cast<std::size_t>(out), 0.0);
  for (std::size_t o = 0; o < y.size(); ++o) {
    for (std::size_t i = 0; i < in; ++i) y[o] += static_cast<double>(w[o * in + i]) * x[i];
    if (t.count(m + ".bias")) y[o] += t.at(m + ".bias")[o];
  }
  return y;
}

void rmsnorm(double* x, std::size_t d, const std::vector<float>& w) {
  double ss = 0;
  for (std::size_t i = 0; i < d; ++i) ss += x[i] * x[i];
  const double inv = 1.0 / std::sqrt(ss / static_cast<double>(d) + 1e-6);
  for (std::size_t i = 0; i < d; ++i) x[i] = x[i] * inv * w[i];
}

double freq(int i, bool llama3) {
  const double f = std::pow(10000.0, -2.0 * i / HD);
  if (!llama3) return f;
  const double wl = 2 * std::numbers::pi / f;
  if (wl < 64.0 / 4.0) return f;
  if (wl > 64.0) return f / 8.0;
  const double s = (64.0 / wl - 1.0) / (4.0 - 1.0);
  return (1 - s) * f / 8.0 + s * f;
}

// Token by token with a KV cache, in double.
std::vector<double> naive_forward(const Case& c, const std::vector<std::uint32_t>& toks) {
  const Tensors& t = c.t;
  const bool llama3 = c.config.contains("rope_scaling");
  std::vector<std::vector<std::vector<double>>> kc(L), vc(L);
  std::vector<double> logits;
  for (std::size_t pos = 0; pos < toks.size(); ++pos) {
    std::vector<double> x(H);
    for (int i = 0; i < H; ++i) x[static_cast<std::size_t>(i)] = t.at("model.embed_tokens.weight")[toks[pos] * H + static_cast<std::size_t>(i)];
    for (int l = 0; l < L; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      auto xn = x;
      rmsnorm(xn.data(), H, t.at(p + "input_layernorm.weight"));
      auto q = matvec(t, p + "self_attn.q_proj", xn, NH * HD);
      auto k = matvec(t, p + "self_attn.k_proj", xn, NKV * HD);
      auto v = matvec(t, p + "self_attn.v_proj", xn, NKV * HD);
      auto rot = [&](std::vector<double>& m, int heads, const std::string& norm) {
        for (int h = 0; h < heads; ++h) {
          double* e = m.data() + h * HD;
          if (t.count(norm)) rmsnorm(e, HD, t.at(norm));
          for (int i = 0; i < HD / 2; ++i) {
            const double a = static_cast<double>(pos) * freq(i, llama3);
            const double x0 = e[i], x1 = e[i + HD / 2];
            e[i] = x0 * std::cos(a) - x1 * std::sin(a);
            e[i + HD / 2] = x1 * std::cos(a) + x0 * std::sin(a);
          }
        }
      };
      rot(q, NH, p + "self_attn.q_norm.weight");
      rot(k, NKV, p + "self_attn.k_norm.weight");
      kc[static_cast<std::size_t>(l)].push_back(k);
      vc[static_cast<std::size_t>(l)].push_back(v);
      std::vector<double> att(NH * HD, 0.0);
      for (int h = 0; h < NH; ++h) {
        const int kvh = h / (NH / NKV);
        std::vector<double> s(pos + 1);
        double mx = -1e300;
        for (std::size_t j = 0; j <= pos; ++j) {
          double d = 0;
          for (int i = 0; i < HD; ++i) d += q[static_cast<std::size_t>(h * HD + i)] * kc[static_cast<std::size_t>(l)][j][static_cast<std::size_t>(kvh * HD + i)];
          s[j] = d / std::sqrt(static_cast<double>(HD));
          mx = std::max(mx, s[j]);
        }
        double sum = 0;
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (std::size_t j = 0; j <= pos; ++j)
          for (int i = 0; i < HD; ++i)
            att[static_cast<std::size_t>(h * HD + i)] += s[j] / sum * vc[static_cast<std::size_t>(l)][j][static_cast<std::size_t>(kvh * HD + i)];
      }
      const auto o = matvec(t, p + "self_attn.o_proj", att, H);
      for (int i = 0; i < H; ++i) x[static_cast<std::size_t>(i)] += o[static_cast<std::size_t>(i)];
      xn = x;
      rmsnorm(xn.data(), H, t.at(p + "post_attention_layernorm.weight"));
      auto g = matvec(t, p + "mlp.gate_proj", xn, I);
      const auto u = matvec(t, p + "mlp.up_proj", xn, I);
      for (std::size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
      const auto d = matvec(t, p + "mlp.down_proj", g, H);
      for (int i = 0; i < H; ++i) x[static_cast<std::size_t>(i)] += d[static_cast<std::size_t>(i)];
    }
    rmsnorm(x.data(), H, t.at("model.norm.weight"));
    const std::string head = t.count("lm_head.weight") ? "lm_head" : "model.embed_tokens";
    Tensors only{{head + ".weight", t.at(head + ".weight")}};
    const auto lg = matvec(only, head, x, V);
    logits.insert(logits.end(), lg.begin(), lg.end());
  }
  return logits;
}

TEST(EvalForward, MatchesNaiveForwardOnTinyModels) {
  const std::vector<Case> cases = {
      make_case("llama", false, false, true, false, 1),  // mlp_bias, untied head
      make_case("llama", true, true, false, true, 2),    // attention_bias (incl. o_proj), llama3 rope
      make_case("qwen2", true, false, false, false, 3),  // q/k/v biases
      make_case("qwen3", false, false, false, false, 4), // q_norm/k_norm
      make_case("mistral", false, false, false, false, 5),
  };
  const std::vector<std::uint32_t> toks = {1, 5, 19, 0, 7, 7, 3, 12, 18, 2, 9, 4, 11};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.config.dump());
    ramq::testkit::TempDir tmp("eval-fwd");
    ramq::testkit::SafetensorsBuilder b;
    for (const auto& [name, v] : c.t) {
      std::vector<std::int64_t> shape;
      if (name.find("norm") != std::string::npos || name.find(".bias") != std::string::npos)
        shape = {static_cast<std::int64_t>(v.size())};
      else
        shape = {static_cast<std::int64_t>(v.size()) / (name.find("down_proj") != std::string::npos ? I
                                                        : name.find("o_proj") != std::string::npos  ? NH * HD
                                                                                                    : H),
                 name.find("down_proj") != std::string::npos ? I : name.find("o_proj") != std::string::npos ? NH * HD : H};
      b.add(name, ramq::DType::F32, shape, v);
    }
    ramq::testkit::write_model(tmp.path(), b, c.config.dump());
    ramq::EvalOptions opt;
    opt.threads = 2;
    const auto model = ramq::load_language_model(tmp.path(), opt);
    ASSERT_EQ(model->vocab_size(), V);
    const auto got = model->forward(toks);
    const auto want = naive_forward(c, toks);
    ASSERT_EQ(got.size(), want.size());
    double max_err = 0;
    for (std::size_t i = 0; i < got.size(); ++i) max_err = std::max(max_err, std::fabs(got[i] - want[i]));
    EXPECT_LT(max_err, 1e-4) << c.name;
  }
}

}  // namespace
