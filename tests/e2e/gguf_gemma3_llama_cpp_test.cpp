// GGUF output of the Gemma 3 families (gemma3_text, and gemma3 with its vision tower left out)
// against real llama.cpp (prebuilt libllama from npm, driven by tests/peer's llama_peer), on the
// small synthetic checkpoints of tests/support/synthetic_gemma3.h (6 layers: five sliding-window
// layers of window 16, then a global one; rows of 256 so the K-quants fit; the real config.json
// fields and tensor names). For each family:
//  (a) an F32 plan: llama.cpp loads the file with 6 layers; the metadata holds the window, the
//      local rope base and the head width, and no sliding_window_pattern (llama.cpp's default 6
//      is the model's); every norm is stored as 1 + w (the converter's norm_shift), the vision
//      tower is left out, and the embedding is the only vocabulary matrix (tied);
//  (b) a quantized file (uniform 4-bit: Q4_K) loads;
//  (c) llama.cpp's logits over 40 positions (more than twice the window) of the F32 and the Q4_K
//      file agree with ramq's forward pass on the same file; ramq's pass on the Hugging Face
//      directory agrees with llama.cpp on the F32 file too, and stops agreeing when config.json
//      is mutated (no sliding window, another local rope base, another attention scale, every
//      layer global): the comparison sees each of them (and, since llama.cpp applies the stored
//      1 + w as is, a pass applying w instead of 1 + w would not agree either);
//      Tolerances (expect_logits_agree): F32 within 1e-3 of the logit scale. Both sides compute
//      in float32, but ggml's CPU GeGLU reads GELU from a table indexed by the input rounded to
//      F16 and returns the F16 table value (ggml-cpu/vec.h ggml_vec_geglu_f32, GGML_GELU_FP16):
//      a relative error up to 2^-11 per activation where ramq evaluates tanh-GELU in float32; over
//      6 layers that gives 2.7e-4 of the logit scale here (measured), where the float32-only
//      families stay near 1e-6. The mutations move the logits by 1.1 to 3.8 (about 700 times the
//      F32 difference).
//  (d) --policy llama-mix picks, tensor by tensor, the type llama_model_quantize picks from
//      ramq's F16 GGUF, for five mixes.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ramq/eval.h"
#include "ramq/gguf.h"
#include "ramq/model_family.h"
#include "ramq/safetensors.h"
#include "support/llama_cpp_harness.h"
#include "support/synthetic_gemma3.h"
#include "support/synthetic_llama.h"

namespace fs = std::filesystem;
using namespace ramq::testkit;
using nlohmann::json;

namespace {

constexpr std::size_t kPositions = 40;  // more than twice the sliding window (16)

// The plan of `analysis` with every matrix at `type` (1-D tensors stay F32).
fs::path plan_all(const fs::path& dir, const fs::path& analysis, const std::string& type) {
  const fs::path plan = dir / "plan.json", out = dir / (type + ".plan.json");
  EXPECT_EQ(run_ramq({"plan", analysis.string(), "--format", "gguf", "-o", plan.string()}).status, 0);
  json p = json::parse(slurp(plan));
  for (auto& d : p["tensors"])
    if (d["shape"].size() >= 2 && d["gguf_type"] != "F32") d["gguf_type"] = type;
  write_file(out, p.dump());
  return out;
}

double gguf_metadata_f32(const fs::path& file, const std::string& key) {
  ramq::GgufReader r(file);
  const ramq::GgufValue* v = r.find(key);
  return v && std::holds_alternative<double>(v->v) ? std::get<double>(v->v) : -1.0;
}

// (a): every norm stored as 1 + w (exact in float32: w is BF16 and small), the rest as is.
void expect_converter_values(const fs::path& dir, const fs::path& gguf, const SyntheticGemma3& s) {
  ramq::ModelReader src(dir);
  ramq::GgufReader g(gguf);
  const std::string p = s.layer_prefix(5);
  const std::map<std::string, std::string> norms{
      {p + "input_layernorm.weight", "blk.5.attn_norm.weight"},
      {p + "post_attention_layernorm.weight", "blk.5.post_attention_norm.weight"},
      {p + "pre_feedforward_layernorm.weight", "blk.5.ffn_norm.weight"},
      {p + "post_feedforward_layernorm.weight", "blk.5.post_ffw_norm.weight"},
      {p + "self_attn.q_norm.weight", "blk.5.attn_q_norm.weight"},
      {p + "self_attn.k_norm.weight", "blk.5.attn_k_norm.weight"},
      {s.text_prefix() + "norm.weight", "output_norm.weight"}};
  for (const auto& [hf, name] : norms) {
    const std::vector<float> w = src.load_f32(*src.find(hf));
    const ramq::GgufTensorInfo* t = g.find_tensor(name);
    ASSERT_NE(t, nullptr) << name;
    const std::vector<float> stored = g.load_f32(*t);
    ASSERT_EQ(stored.size(), w.size()) << name;
    for (std::size_t i = 0; i < w.size(); ++i) ASSERT_EQ(stored[i], w[i] + 1.0f) << name << " " << i;
  }
  EXPECT_EQ(g.load_f32(*g.find_tensor("blk.5.attn_q.weight")), src.load_f32(*src.find(p + "self_attn.q_proj.weight")));
  EXPECT_EQ(g.find_tensor("output.weight"), nullptr);  // tied
  for (const auto& t : g.tensors()) {
    EXPECT_EQ(t.name.find("vision"), std::string::npos) << t.name;
    EXPECT_EQ(t.name.find("multi_modal"), std::string::npos) << t.name;
  }
  EXPECT_EQ(g.tensors().size(), 2u + 13u * static_cast<std::size_t>(s.layers));
}

std::vector<float> ramq_logits(const fs::path& model, const std::vector<std::uint32_t>& stream) {
  ramq::EvalOptions opt;
  opt.threads = 1;
  opt.ctx = static_cast<int>(kPositions);
  return ramq::load_language_model(model, opt)->forward(stream);
}

// The Hugging Face directory `dir` copied to `to` with `edit` applied to the text config.
template <class Edit>
fs::path mutated(const fs::path& dir, const fs::path& to, const SyntheticGemma3& s, Edit&& edit) {
  fs::create_directories(to);
  fs::copy_file(dir / "model.safetensors", to / "model.safetensors", fs::copy_options::overwrite_existing);
  json c = json::parse(slurp(dir / "config.json"));
  edit(s.wrapped() ? c["text_config"] : c);
  write_file(to / "config.json", c.dump(2));
  return to;
}

class GgufGemma3LlamaCpp : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufGemma3LlamaCpp, LoadsAgreesAndMatchesLlamaQuantize) {
  REQUIRE_LLAMA();
  const std::string type = GetParam();
  TempDir tmp("gguf-gemma3-" + type);
  SyntheticGemma3 shape;
  shape.model_type = type;
  const fs::path dir = tmp / type, a = tmp / "a.json", tokens = tmp / "t.u32";
  write_synthetic_gemma3(dir, shape);
  ASSERT_EQ(run_ramq({"analyze", dir.string(), "-o", a.string()}).status, 0);
  const auto vocab = static_cast<std::size_t>(shape.vocab);
  const std::vector<std::uint32_t> stream = random_tokens(kPositions, static_cast<std::uint32_t>(vocab), 7);
  write_tokens(tokens, stream);

  // (a) F32.
  const fs::path f32 = tmp / "f32.gguf";
  auto r = run_ramq({"quantize", dir.string(), "--format", "gguf", "--plan", plan_all(tmp.path(), a, "F32").string(), "-o",
                     f32.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(gguf_metadata_u64(f32, "gemma3.block_count"), 6u);
  EXPECT_EQ(gguf_metadata_u64(f32, "gemma3.attention.sliding_window"), 16u);
  EXPECT_EQ(gguf_metadata_u64(f32, "gemma3.attention.key_length"), 128u);
  EXPECT_EQ(gguf_metadata_u64(f32, "gemma3.attention.sliding_window_pattern"), 0u);  // absent: llama.cpp's 6
  EXPECT_EQ(gguf_metadata_f32(f32, "gemma3.rope.freq_base_swa"), 10000.0);
  EXPECT_EQ(gguf_metadata_f32(f32, "gemma3.rope.freq_base"), 1000000.0);
  expect_converter_values(dir, f32, shape);
  const json info = peer_json({"info", f32.string()});
  ASSERT_FALSE(info.empty()) << type << ": llama.cpp did not load the F32 file";
  EXPECT_EQ(info["n_layer"], shape.layers);

  // (b) 4-bit.
  const fs::path q4 = tmp / "q4.gguf";
  r = run_ramq({"quantize", dir.string(), "--format", "gguf", "--policy", "uniform", "--bits", "4", "-o", q4.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(gguf_types(q4).at("blk.5.attn_q.weight"), "Q4_K");
  EXPECT_EQ(gguf_types(q4).at("blk.0.post_ffw_norm.weight"), "F32");

  // (c) logits.
  std::map<std::string, std::vector<float>> ours, theirs;
  for (const fs::path& f : {f32, q4}) {
    theirs[f.filename().string()] = llama_cpp_logits(f, tokens, kPositions, vocab);
    ours[f.filename().string()] = ramq_logits(f, stream);
  }
  expect_logits_agree(ours, theirs, "f32.gguf", "q4.gguf", kPositions, vocab);
  const std::vector<float>& reference = theirs["f32.gguf"];
  const double scale = max_abs(reference), hf_diff = max_abs_diff(ramq_logits(dir, stream), reference);
  std::printf("Hugging Face directory: max |llama.cpp - ramq| %.3e (%.3e of scale)\n", hf_diff, hf_diff / scale);
  EXPECT_LT(hf_diff, 1e-3 * scale);
  const struct {
    const char* what;
    std::function<void(json&)> edit;
  } mutations[] = {
      {"no sliding window", [](json& c) { c["sliding_window"] = 4096; }},
      {"local rope base 1e6", [](json& c) { c["rope_local_base_freq"] = 1000000.0; }},
      {"attention scale 1/sqrt(256)", [](json& c) { c["query_pre_attn_scalar"] = 256; }},
      {"every layer global", [](json& c) { c["sliding_window_pattern"] = 1; }},
  };
  for (const auto& m : mutations) {
    const double d = max_abs_diff(ramq_logits(mutated(dir, tmp / "mutant", shape, m.edit), stream), reference);
    std::printf("mutation '%s': max |llama.cpp - ramq| %.3e\n", m.what, d);
    EXPECT_GT(d, 30 * std::max(hf_diff, 1e-4 * scale)) << m.what;
  }

  // (d) llama-mix against llama_model_quantize of ramq's F16 file.
  const fs::path f16 = tmp / "f16.gguf";
  r = run_ramq({"quantize", dir.string(), "--format", "gguf", "--plan", plan_all(tmp.path(), a, "F16").string(), "-o",
                f16.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  expect_llama_mix_matches_llama_quantize(dir, a, f16, *ramq::find_family(type), tmp.path());
}

INSTANTIATE_TEST_SUITE_P(Families, GgufGemma3LlamaCpp, ::testing::Values("gemma3_text", "gemma3"));

}  // namespace
