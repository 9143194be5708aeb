// Reading hybrid-family GGUF files back (src/evaluate/gguf_hybrid_tensors.cpp,
// src/arch/gguf_hybrid_config.cpp): the synthetic Hugging Face checkpoints of
// tests/support/synthetic_hybrid.h converted here to F32 GGUF with llama.cpp's converter rules
// (/work/notes/qwen35_facts.md §5.1-5.4: norms + 1, ssm_a = -exp(A_log), conv1d {K, C},
// qwen35 value heads re-tiled, qwen3next in_proj_qkvz split into attn_qkv / attn_gate, experts
// stacked; qwen35moe's in llama.cpp's fused ffn_gate_up_exps) must give the same logits as the
// checkpoint itself.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "evaluate/weights.h"
#include "ramq/error.h"
#include "ramq/eval.h"
#include "ramq/gguf.h"
#include "support/mini_safetensors.h"
#include "support/synthetic_hybrid.h"
#include "support/temp_dir.h"

namespace {

using ramq::GgufKV;
using ramq::GgufValue;
using ramq::testkit::SyntheticHybrid;

struct Out {
  std::string name;
  std::vector<std::int64_t> ne;
  std::vector<float> data;
};

// The converter's _reorder_v_heads on a row-major [.., n * width, inner] block: rows of value
// head g * r + j (grouped) move to head j * nk + g (tiled); rows before `base` stay.
std::vector<float> retile_rows(const std::vector<float>& v, std::size_t inner, std::size_t base, std::size_t nk,
                               std::size_t nv, std::size_t width) {
  std::vector<float> out = v;
  const std::size_t r = nv / nk;
  for (std::size_t g = 0; g < nk; ++g)
    for (std::size_t j = 0; j < r; ++j)
      for (std::size_t e = 0; e < width; ++e)
        std::memcpy(&out[(base + (j * nk + g) * width + e) * inner], &v[(base + (g * r + j) * width + e) * inner],
                    inner * sizeof(float));
  return out;
}

// The same over the columns of a [rows, nv * width] matrix.
std::vector<float> retile_cols(const std::vector<float>& v, std::size_t rows, std::size_t nk, std::size_t nv,
                               std::size_t width) {
  std::vector<float> out = v;
  const std::size_t r = nv / nk, cols = nv * width;
  for (std::size_t row = 0; row < rows; ++row)
    for (std::size_t g = 0; g < nk; ++g)
      for (std::size_t j = 0; j < r; ++j)
        for (std::size_t e = 0; e < width; ++e)
          out[row * cols + (j * nk + g) * width + e] = v[row * cols + (g * r + j) * width + e];
  return out;
}

std::vector<float> plus_one(std::vector<float> v) {
  for (auto& x : v) x += 1.0f;
  return v;
}

std::vector<float> slice(const std::vector<float>& v, std::size_t from, std::size_t n) {
  return {v.begin() + static_cast<std::ptrdiff_t>(from), v.begin() + static_cast<std::ptrdiff_t>(from + n)};
}

// The checkpoint's tensors as stored (the test's own safetensors reader).
struct Stored {
  ramq::testkit::MiniFile file;
  std::vector<float> load(const std::string& name) const { return ramq::testkit::mini_floats(file.tensors.at(name)); }
};

std::vector<Out> convert(const SyntheticHybrid& s, const Stored& w) {
  const std::size_t H = s.hidden, nk = s.key_heads, nv = s.value_heads, dk = s.key_head_dim, dv = s.value_head_dim;
  const std::size_t Ck = nk * dk, Cv = nv * dv, C = 2 * Ck + Cv, K = s.conv_kernel, r = nv / nk;
  const std::size_t I = s.expert_ffn, E = s.experts;
  const bool tiled = s.model_type != "qwen3_next";
  const auto i64 = [](std::size_t x) { return static_cast<std::int64_t>(x); };
  std::vector<Out> out;
  const auto put = [&](const std::string& name, std::vector<std::int64_t> ne, std::vector<float> d) {
    out.push_back({name, std::move(ne), std::move(d)});
  };
  const std::string tp = s.text_prefix();
  put("token_embd.weight", {i64(H), s.vocab}, w.load(tp + "embed_tokens.weight"));
  put("output_norm.weight", {i64(H)}, plus_one(w.load(tp + "norm.weight")));
  put("output.weight", {i64(H), s.vocab}, w.load("lm_head.weight"));
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = s.layer_prefix(l), b = "blk." + std::to_string(l) + ".";
    put(b + "attn_norm.weight", {i64(H)}, plus_one(w.load(p + "input_layernorm.weight")));
    put(b + "post_attention_norm.weight", {i64(H)}, plus_one(w.load(p + "post_attention_layernorm.weight")));
    if (s.linear_layer(l)) {
      const std::string a = p + "linear_attn.";
      if (tiled) {
        put(b + "attn_qkv.weight", {i64(H), i64(C)}, retile_rows(w.load(a + "in_proj_qkv.weight"), H, 2 * Ck, nk, nv, dv));
        put(b + "attn_gate.weight", {i64(H), i64(Cv)}, retile_rows(w.load(a + "in_proj_z.weight"), H, 0, nk, nv, dv));
        put(b + "ssm_beta.weight", {i64(H), i64(nv)}, retile_rows(w.load(a + "in_proj_b.weight"), H, 0, nk, nv, 1));
        put(b + "ssm_alpha.weight", {i64(H), i64(nv)}, retile_rows(w.load(a + "in_proj_a.weight"), H, 0, nk, nv, 1));
      } else {  // in_proj_qkvz rows per key head [q_g, k_g, v_g, z_g] -> attn_qkv [q; k; v], attn_gate [z]
        const auto qkvz = w.load(a + "in_proj_qkvz.weight");
        std::vector<float> qkv(C * H), z(Cv * H);
        const std::size_t G = 2 * dk + 2 * r * dv;
        for (std::size_t g = 0; g < nk; ++g)
          for (std::size_t o = 0; o < G; ++o) {
            const float* row = &qkvz[(g * G + o) * H];
            float* to = o < dk                ? &qkv[(g * dk + o) * H]
                        : o < 2 * dk          ? &qkv[(Ck + g * dk + o - dk) * H]
                        : o < 2 * dk + r * dv ? &qkv[(2 * Ck + g * r * dv + o - 2 * dk) * H]
                                              : &z[(g * r * dv + o - 2 * dk - r * dv) * H];
            std::memcpy(to, row, H * sizeof(float));
          }
        put(b + "attn_qkv.weight", {i64(H), i64(C)}, qkv);
        put(b + "attn_gate.weight", {i64(H), i64(Cv)}, z);
        put(b + "ssm_ba.weight", {i64(H), i64(2 * nv)}, w.load(a + "in_proj_ba.weight"));
      }
      auto conv = w.load(a + "conv1d.weight");  // [C, 1, K] = [C, K]
      auto dt = w.load(a + "dt_bias");
      auto A = w.load(a + "A_log");
      for (auto& x : A) x = -std::exp(x);
      auto o = w.load(a + "out_proj.weight");
      if (tiled) {
        conv = retile_rows(conv, K, 2 * Ck, nk, nv, dv);
        dt = retile_rows(dt, 1, 0, nk, nv, 1);
        A = retile_rows(A, 1, 0, nk, nv, 1);
        o = retile_cols(o, H, nk, nv, dv);
      }
      put(b + "ssm_conv1d.weight", {i64(K), i64(C)}, conv);
      put(b + "ssm_dt.bias", {i64(nv)}, dt);
      put(b + "ssm_a", {i64(nv)}, A);
      put(b + "ssm_norm.weight", {i64(dv)}, w.load(a + "norm.weight"));
      put(b + "ssm_out.weight", {i64(Cv), i64(H)}, o);
    } else {
      const std::string a = p + "self_attn.";
      const std::int64_t hd = s.head_dim;
      put(b + "attn_q.weight", {i64(H), 2 * s.heads * hd}, w.load(a + "q_proj.weight"));
      put(b + "attn_k.weight", {i64(H), s.kv_heads * hd}, w.load(a + "k_proj.weight"));
      put(b + "attn_v.weight", {i64(H), s.kv_heads * hd}, w.load(a + "v_proj.weight"));
      put(b + "attn_output.weight", {s.heads * hd, i64(H)}, w.load(a + "o_proj.weight"));
      put(b + "attn_q_norm.weight", {hd}, plus_one(w.load(a + "q_norm.weight")));
      put(b + "attn_k_norm.weight", {hd}, plus_one(w.load(a + "k_norm.weight")));
    }
    const std::string m = p + "mlp.";
    if (!s.moe()) {
      put(b + "ffn_gate.weight", {i64(H), s.dense_ffn}, w.load(m + "gate_proj.weight"));
      put(b + "ffn_up.weight", {i64(H), s.dense_ffn}, w.load(m + "up_proj.weight"));
      put(b + "ffn_down.weight", {s.dense_ffn, i64(H)}, w.load(m + "down_proj.weight"));
      continue;
    }
    put(b + "ffn_gate_inp.weight", {i64(H), i64(E)}, w.load(m + "gate.weight"));
    std::vector<float> gate, up, down;
    for (std::size_t e = 0; e < E; ++e) {
      if (tiled) {  // [E, 2I, H]: expert e's rows [gate (I); up (I)]
        const auto gu = w.load(m + "experts.gate_up_proj");
        const auto g = slice(gu, e * 2 * I * H, I * H), u = slice(gu, e * 2 * I * H + I * H, I * H);
        gate.insert(gate.end(), g.begin(), g.end());
        up.insert(up.end(), u.begin(), u.end());
      } else {
        const std::string x = m + "experts." + std::to_string(e) + ".";
        for (auto [v, n] : {std::pair{&gate, "gate_proj"}, {&up, "up_proj"}, {&down, "down_proj"}}) {
          const auto t = w.load(x + n + ".weight");
          v->insert(v->end(), t.begin(), t.end());
        }
      }
    }
    if (tiled) down = w.load(m + "experts.down_proj");
    if (tiled) {  // qwen35moe: llama.cpp's fused alternative (ramq writes the split stacks)
      std::vector<float> gate_up;
      for (std::size_t e = 0; e < E; ++e) {
        gate_up.insert(gate_up.end(), gate.begin() + e * I * H, gate.begin() + (e + 1) * I * H);
        gate_up.insert(gate_up.end(), up.begin() + e * I * H, up.begin() + (e + 1) * I * H);
      }
      put(b + "ffn_gate_up_exps.weight", {i64(H), i64(2 * I), i64(E)}, gate_up);
    } else {
      put(b + "ffn_gate_exps.weight", {i64(H), i64(I), i64(E)}, gate);
      put(b + "ffn_up_exps.weight", {i64(H), i64(I), i64(E)}, up);
    }
    put(b + "ffn_down_exps.weight", {i64(I), i64(H), i64(E)}, down);
    put(b + "ffn_gate_inp_shexp.weight", {i64(H)}, w.load(m + "shared_expert_gate.weight"));
    put(b + "ffn_gate_shexp.weight", {i64(H), s.shared_ffn}, w.load(m + "shared_expert.gate_proj.weight"));
    put(b + "ffn_up_shexp.weight", {i64(H), s.shared_ffn}, w.load(m + "shared_expert.up_proj.weight"));
    put(b + "ffn_down_shexp.weight", {s.shared_ffn, i64(H)}, w.load(m + "shared_expert.down_proj.weight"));
  }
  return out;
}

std::vector<GgufKV> metadata(const SyntheticHybrid& s) {
  const std::string arch = s.model_type == "qwen3_next" ? "qwen3next" : s.moe() ? "qwen35moe" : "qwen35";
  const std::string a = arch + ".";
  const auto u = [](int v) { return GgufValue::u32(static_cast<std::uint32_t>(v)); };
  std::vector<GgufKV> kv{{"general.architecture", GgufValue::str(arch)},
                         {a + "block_count", u(s.layers)},
                         {a + "context_length", u(32768)},
                         {a + "embedding_length", u(s.hidden)},
                         {a + "attention.head_count", u(s.heads)},
                         {a + "attention.head_count_kv", u(s.kv_heads)},
                         {a + "attention.key_length", u(s.head_dim)},
                         {a + "attention.value_length", u(s.head_dim)},
                         {a + "rope.freq_base", GgufValue::f32(1e7f)},
                         {a + "rope.dimension_count", u(s.head_dim / 4)},
                         {a + "attention.layer_norm_rms_epsilon", GgufValue::f32(1e-6f)},
                         {a + "ssm.conv_kernel", u(s.conv_kernel)},
                         {a + "ssm.state_size", u(s.key_head_dim)},
                         {a + "ssm.group_count", u(s.key_heads)},
                         {a + "ssm.time_step_rank", u(s.value_heads)},
                         {a + "ssm.inner_size", u(s.value_heads * s.value_head_dim)}};
  if (s.model_type != "qwen3_5_moe") kv.push_back({a + "feed_forward_length", u(s.dense_ffn)});
  if (s.moe()) {
    kv.push_back({a + "expert_count", u(s.experts)});
    kv.push_back({a + "expert_used_count", u(s.top_k)});
    kv.push_back({a + "expert_feed_forward_length", u(s.expert_ffn)});
    kv.push_back({a + "expert_shared_feed_forward_length", u(s.shared_ffn)});
  }
  if (s.wrapped()) {  // the converter writes layer_types when config.json has them
    std::vector<std::int32_t> recurrent;
    for (int i = 0; i < s.layers; ++i) recurrent.push_back(s.linear_layer(i) ? 1 : 0);
    kv.push_back({a + "attention.recurrent_layers", GgufValue::i32s(recurrent)});
  } else {
    kv.push_back({a + "full_attention_interval", u(s.full_attention_interval)});
  }
  return kv;
}

using Tamper = std::function<void(std::vector<Out>&, std::vector<GgufKV>&)>;

void write_gguf(const std::filesystem::path& file, const SyntheticHybrid& s, const std::filesystem::path& hf,
                const Tamper& tamper = {}) {
  auto tensors = convert(s, Stored{ramq::testkit::mini_read(hf / "model.safetensors")});
  auto kv = metadata(s);
  if (tamper) tamper(tensors, kv);
  std::vector<ramq::GgufTensorSpec> specs;
  for (const auto& t : tensors) specs.push_back({t.name, ramq::GgmlType::F32, t.ne});
  ramq::GgufStreamWriter out(file, kv, specs);
  for (const auto& t : tensors)
    out.write_next(t.name, std::as_bytes(std::span(t.data)));
  out.finish();
}

class HybridGgufRead : public ::testing::TestWithParam<std::string> {};

TEST_P(HybridGgufRead, ConvertedFileGivesTheCheckpointsLogits) {
  SyntheticHybrid s;
  s.model_type = GetParam();
  ramq::testkit::TempDir tmp("hybrid-gguf-read");
  ramq::testkit::write_synthetic_hybrid(tmp.path() / "hf", s);
  const auto gguf = tmp.path() / "m.gguf";
  write_gguf(gguf, s, tmp.path() / "hf");
  ramq::EvalOptions opt;
  opt.threads = 2;
  opt.ctx = 64;
  const std::vector<std::uint32_t> toks = {5, 300, 2, 2, 77, 411, 9, 128, 64, 1};
  const auto want = ramq::load_language_model(tmp.path() / "hf", opt)->forward(toks);
  const auto model = ramq::load_language_model(gguf, opt);
  EXPECT_NE(model->description().find("GGUF"), std::string::npos) << model->description();
  const auto got = model->forward(toks);
  ASSERT_EQ(got.size(), want.size());
  double max_err = 0;
  for (std::size_t i = 0; i < got.size(); ++i) max_err = std::max(max_err, double(std::fabs(got[i] - want[i])));
  EXPECT_LT(max_err, 1e-4) << s.model_type;
}

// The error of opening a converted qwen3_5 file after `tamper`.
std::string open_error(const Tamper& tamper) {
  SyntheticHybrid s;
  s.model_type = "qwen3_5";
  ramq::testkit::TempDir tmp("hybrid-gguf-bad");
  ramq::testkit::write_synthetic_hybrid(tmp.path() / "hf", s);
  write_gguf(tmp.path() / "m.gguf", s, tmp.path() / "hf", tamper);
  try {
    ramq::load_language_model(tmp.path() / "m.gguf", ramq::EvalOptions{});
  } catch (const ramq::Error& e) {
    return e.what();
  }
  return "";
}

TEST(HybridGgufReadErrors, NonNegativeSsmAAndMissingKeysAreNamed) {
  const std::string a = open_error([](std::vector<Out>& t, std::vector<GgufKV>&) {
    for (auto& x : t)
      if (x.name == "blk.1.ssm_a") x.data[2] = 0.0f;
  });
  EXPECT_NE(a.find("m.gguf"), std::string::npos) << a;
  EXPECT_NE(a.find("blk.1.ssm_a"), std::string::npos) << a;
  EXPECT_NE(a.find("element 2"), std::string::npos) << a;
  const std::string k = open_error([](std::vector<Out>&, std::vector<GgufKV>& kv) {
    std::erase_if(kv, [](const GgufKV& x) { return x.key == "qwen35.ssm.conv_kernel"; });
  });
  EXPECT_NE(k.find("metadata key 'qwen35.ssm.conv_kernel' is missing"), std::string::npos) << k;
  const std::string m = open_error([](std::vector<Out>& t, std::vector<GgufKV>&) {
    std::erase_if(t, [](const Out& x) { return x.name == "blk.2.ssm_out.weight"; });
  });
  EXPECT_NE(m.find("model.language_model.layers.2.linear_attn.out_proj.weight"), std::string::npos) << m;
}

INSTANTIATE_TEST_SUITE_P(Families, HybridGgufRead, ::testing::Values("qwen3_next", "qwen3_5", "qwen3_5_moe"));

}  // namespace
