// The mistral3 family (Mistral Small 3.1 / 3.2: Mistral3ForConditionalGeneration) end to end, on
// a small checkpoint in the released layout: config.json's text model in "text_config"
// (model_type "mistral", head_dim 128 unlike hidden / heads = 64, as Mistral Small's 128 against
// 5120 / 32), the text weights under "language_model." (language_model.model.layers.N.*,
// language_model.lm_head.weight) beside a Pixtral vision tower and projector. Checked:
//  (a) GGUF: llama.cpp (tests/peer) loads ramq's F32 and Q4_K files as architecture "mistral3",
//      with no vision tensor, attention.key_length 128; its logits over 64 positions agree with
//      ramq's forward pass, on the Hugging Face directory and on each file;
//  (b) --policy llama-mix picks llama_model_quantize's type for every tensor, five mixes; the
//      plan decides nothing for the vision tower;
//  (c) MLX: every policy's output loads under mlx_lm's mistral3 rules (support/
//      mlx_loader_mistral3.cpp) and dequantizes within the affine bound of the checkpoint;
//  (d) a Ministral 3 text model (text_config model_type "ministral3") is refused with one line.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "ramq/eval.h"
#include "ramq/gguf.h"
#include "ramq/model_family.h"
#include "support/llama_cpp_harness.h"
#include "support/mini_safetensors.h"
#include "support/mlx_loader_check.h"
#include "support/mlx_policy_cases.h"
#include "support/synthetic_llama.h"

namespace fs = std::filesystem;
using namespace ramq::testkit;
using nlohmann::json;

namespace {

constexpr std::size_t kPositions = 64;

SyntheticLlama text_model() {
  return {.hidden = 256, .heads = 4, .kv_heads = 2, .ffn = 512, .layers = 2, .vocab = 512,
          .model_type = "mistral", .head_dim = 128, .rope_theta = 1e9, .norm_sd = 0.3};
}

// A Mistral3ForConditionalGeneration directory holding the text model of text_model(): its
// tensors renamed under "language_model.", a vision tower and projector added, config.json
// wrapped as the released checkpoints' is.
fs::path write_mistral3(const fs::path& dir, const std::string& text_type = "mistral") {
  const fs::path text = dir.string() + "-text";
  write_synthetic_llama(text, text_model());
  SafetensorsBuilder b;
  for (const auto& [name, t] : mini_read(text / "model.safetensors").tensors)
    b.add_raw("language_model." + name, t.dtype, t.shape, t.bytes);
  ramq::Rng rng(99);
  const auto values = [&](std::int64_t n) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = static_cast<float>(rng.normal() * 0.05);
    return v;
  };
  b.add_rounded("vision_tower.patch_conv.weight", ramq::DType::BF16, {64, 3, 4, 4}, values(64 * 48));
  b.add_rounded("vision_tower.transformer.layers.0.attention.q_proj.weight", ramq::DType::BF16, {64, 64}, values(64 * 64));
  b.add_rounded("vision_tower.ln_pre.weight", ramq::DType::BF16, {64}, values(64));
  b.add_rounded("multi_modal_projector.patch_merger.merging_layer.weight", ramq::DType::BF16, {64, 256}, values(64 * 256));
  b.add_rounded("multi_modal_projector.linear_1.weight", ramq::DType::BF16, {256, 64}, values(256 * 64));
  b.add_rounded("multi_modal_projector.linear_2.weight", ramq::DType::BF16, {256, 256}, values(256 * 256));
  json text_config = json::parse(slurp(text / "config.json"));
  text_config.erase("architectures");
  text_config["model_type"] = text_type;
  text_config["sliding_window"] = nullptr;
  const json cfg = {{"architectures", {"Mistral3ForConditionalGeneration"}},
                    {"model_type", "mistral3"},
                    {"image_token_index", 10},
                    {"multimodal_projector_bias", false},
                    {"projector_hidden_act", "gelu"},
                    {"spatial_merge_size", 2},
                    {"vision_feature_layer", -1},
                    {"torch_dtype", "bfloat16"},
                    {"text_config", text_config},
                    {"vision_config", {{"model_type", "pixtral"}, {"hidden_size", 64}, {"hidden_act", "silu"},
                                       {"num_hidden_layers", 1}, {"patch_size", 4}, {"image_size", 64}}}};
  fs::create_directories(dir);
  write_model(dir, b, cfg.dump(2));
  fs::remove_all(text);
  return dir;
}

fs::path plan_all(const fs::path& dir, const fs::path& analysis, const std::string& type) {
  const fs::path plan = dir / "plan.json", out = dir / (type + ".plan.json");
  EXPECT_EQ(run_ramq({"plan", analysis.string(), "--format", "gguf", "-o", plan.string()}).status, 0);
  json p = json::parse(slurp(plan));
  for (auto& d : p["tensors"])
    if (d["shape"].size() >= 2) d["gguf_type"] = type;
  write_file(out, p.dump());
  return out;
}

TEST(Mistral3, GgufLoadsInLlamaCppAndMatchesItsLogitsAndMixes) {
  REQUIRE_LLAMA();
  TempDir tmp("mistral3");
  const fs::path dir = write_mistral3(tmp / "model"), a = tmp / "a.json", tokens = tmp / "t.u32";
  ASSERT_EQ(run_ramq({"analyze", dir.string(), "-o", a.string()}).status, 0);
  // The vision tower and projector are listed unscored; its matrices, which would be scored
  // otherwise, as left out (analysis.cpp).
  const json analysis = json::parse(slurp(a));
  int vision = 0, left_out = 0;
  for (const auto& t : analysis["tensors"]) {
    const std::string name = t["name"].get<std::string>();
    if (!name.starts_with("vision_tower.") && !name.starts_with("multi_modal_projector.")) continue;
    ++vision;
    EXPECT_FALSE(t["scored"].get<bool>()) << name;
    left_out += t.value("skip_reason", "").find("left out") != std::string::npos;
  }
  EXPECT_EQ(vision, 6);
  EXPECT_EQ(left_out, 4);  // the four 2-D ones
  const std::size_t vocab = 512;
  const std::vector<std::uint32_t> stream = random_tokens(kPositions, vocab, 5);
  write_tokens(tokens, stream);
  const fs::path f32 = tmp / "f32.gguf", q4 = tmp / "q4.gguf";
  auto r = run_ramq({"quantize", dir.string(), "--format", "gguf", "--plan", plan_all(tmp.path(), a, "F32").string(),
                     "-o", f32.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  r = run_ramq({"quantize", dir.string(), "--format", "gguf", "--policy", "uniform", "--bits", "4", "-o", q4.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(gguf_metadata_u64(f32, "mistral3.attention.key_length"), 128u);
  EXPECT_EQ(gguf_types(q4).at("blk.1.attn_q.weight"), "Q4_K");
  {
    ramq::GgufReader g(f32);
    EXPECT_EQ(std::get<std::string>(g.find("general.architecture")->v), "mistral3");
    for (const auto& t : g.tensors()) {
      EXPECT_EQ(t.name.find("vision"), std::string::npos) << t.name;
      EXPECT_EQ(t.name.find("mm"), std::string::npos) << t.name;
    }
    EXPECT_EQ(g.tensors().size(), 3u + 2u * 9u);
  }
  const json info = peer_json({"info", f32.string()});
  ASSERT_FALSE(info.empty()) << "llama.cpp did not load the F32 file";
  EXPECT_EQ(info["n_layer"], 2);

  ramq::EvalOptions opt;
  opt.threads = 1;
  opt.ctx = static_cast<int>(kPositions);
  std::map<std::string, std::vector<float>> ours, theirs;
  for (const fs::path& f : {f32, q4}) {
    theirs[f.filename().string()] = llama_cpp_logits(f, tokens, kPositions, vocab);
    ours[f.filename().string()] = ramq::load_language_model(f, opt)->forward(stream);
  }
  // ramq's forward pass on the Hugging Face directory (names under language_model.) against
  // llama.cpp on the F32 file: BF16 weights exactly in F32, so only summation orders differ.
  const std::vector<float> hf = ramq::load_language_model(dir, opt)->forward(stream);
  const double scale = max_abs(theirs["f32.gguf"]);
  EXPECT_LT(max_abs_diff(hf, theirs["f32.gguf"]), 1e-3 * scale);
  EXPECT_EQ(argmax_agreement(hf, theirs["f32.gguf"], vocab), kPositions);
  // Each file: F32 as above; Q4_K: llama.cpp rounds the activations of its quantized products to
  // 8 bits (Q8_K) where ramq keeps float32, which moves these logits by up to 5 % of the scale
  // (measured 4.8 %), far less than weight quantization itself moves them (2.4, 37 % of the
  // scale): under a third of that, and the same argmax on 90 % of the positions.
  const double f32_diff = max_abs_diff(theirs["f32.gguf"], ours["f32.gguf"]);
  EXPECT_LT(f32_diff, 1e-4 * scale);
  EXPECT_EQ(argmax_agreement(theirs["f32.gguf"], ours["f32.gguf"], vocab), kPositions);
  const double quantization_effect = max_abs_diff(ours["q4.gguf"], ours["f32.gguf"]);
  const double q4_diff = max_abs_diff(theirs["q4.gguf"], ours["q4.gguf"]);
  std::printf("logit scale %.3f; |llama.cpp - ramq| F32 %.3e, Q4_K %.3e; Q4_K moves ramq's logits by %.3f\n", scale,
              f32_diff, q4_diff, quantization_effect);
  EXPECT_LT(q4_diff, quantization_effect / 3);
  EXPECT_GE(10 * argmax_agreement(theirs["q4.gguf"], ours["q4.gguf"], vocab), 9 * kPositions);

  const fs::path f16 = tmp / "f16.gguf";
  r = run_ramq({"quantize", dir.string(), "--format", "gguf", "--plan", plan_all(tmp.path(), a, "F16").string(), "-o",
                f16.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  expect_llama_mix_matches_llama_quantize(dir, a, f16, *ramq::find_family("mistral3"), tmp.path());
}

class Mistral3Mlx : public ::testing::TestWithParam<MlxPolicyCase> {};

TEST_P(Mistral3Mlx, LoadsAsMlxLmWouldAndMatchesTheCheckpoint) {
  const MlxPolicyCase& c = GetParam();
  TempDir tmp("mistral3-mlx");
  const fs::path dir = write_mistral3(tmp / "model"), out = tmp / "out";
  MlxLoaded loaded;
  ASSERT_NO_FATAL_FAILURE(quantize_and_load_mlx(dir, out, c, loaded));
  EXPECT_EQ(loaded.config["model_type"], "mistral3");
  EXPECT_EQ(loaded.config["text_config"]["head_dim"], 128);
  EXPECT_TRUE(loaded.modules.at("language_model.model.layers.1.mlp.down_proj").quantized);
  const MiniFile src = mini_read(dir / "model.safetensors");
  for (const auto& [name, t] : src.tensors) {
    if (!name.starts_with("language_model.")) {
      EXPECT_FALSE(loaded.weights.count(name)) << name;
      continue;
    }
    const std::string module = name.substr(0, name.size() - 7);
    expect_within_affine_steps(mlx_floats({t.dtype, t.shape, t.bytes}), mlx_module_weight(loaded, module),
                               loaded.modules.at(module), c.steps, name);
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, Mistral3Mlx, ::testing::ValuesIn(mlx_policy_cases({"mistral3"})),
                         mlx_policy_case_name);

// ramq eval reads an MLX output back (names under language_model., affine groups): its logits
// follow the checkpoint's, and closer the more bits. Four more bits make every quantization step
// 17 times finer (255 / 15 levels), so the 8-bit file's distance from the checkpoint must be
// under a quarter of the 4-bit file's (measured: 4.3 % and 35 % of the logit scale); a misread
// tensor would put both near the scale itself.
TEST(Mistral3, EvalReadsTheMlxOutputBack) {
  TempDir tmp("mistral3-mlx-eval");
  const fs::path dir = write_mistral3(tmp / "model");
  ramq::EvalOptions opt;
  opt.threads = 1;
  opt.ctx = static_cast<int>(kPositions);
  const std::vector<std::uint32_t> stream = random_tokens(kPositions, 512, 3);
  const std::vector<float> hf = ramq::load_language_model(dir, opt)->forward(stream);
  std::map<int, std::vector<float>> mlx;
  for (const int bits : {4, 8}) {
    const fs::path out = tmp / ("mlx" + std::to_string(bits));
    const RunResult r = run_ramq({"quantize", dir.string(), "--format", "mlx", "--policy", "uniform", "--bits",
                                  std::to_string(bits), "-o", out.string()});
    ASSERT_EQ(r.status, 0) << r.err;
    mlx[bits] = ramq::load_language_model(out, opt)->forward(stream);
  }
  const double scale = max_abs(hf), d4 = max_abs_diff(hf, mlx[4]), d8 = max_abs_diff(hf, mlx[8]);
  std::printf("MLX against the checkpoint: max |diff| / logit scale %.3f (4-bit), %.3f (8-bit)\n", d4 / scale,
              d8 / scale);
  EXPECT_GT(d8, 0.0);  // the weights were quantized
  EXPECT_LT(d8, d4 / 4);
  EXPECT_LT(d4, scale);
  EXPECT_GE(10 * argmax_agreement(hf, mlx[8], 512), 9 * kPositions);
}

TEST(Mistral3, MinistralTextModelIsRefusedWithOneLine) {
  TempDir tmp("mistral3-ministral");
  const fs::path dir = write_mistral3(tmp / "model", "ministral3");
  const RunResult r = run_ramq({"quantize", dir.string(), "--format", "gguf", "-o", (tmp / "m.gguf").string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("text_config.model_type' is \"ministral3\""), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("covers text models of type 'mistral' only"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp / "m.gguf"));
}

}  // namespace
