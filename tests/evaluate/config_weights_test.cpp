// Config validation for the forward pass (supported / refused features, rope scaling) and the
// MLX weight source (dequantization with default and per-module quantization parameters).
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "evaluate/llama_forward.h"
#include "evaluate/weights.h"
#include "ramq/error.h"
#include "ramq/eval.h"
#include "ramq/mlx_affine.h"
#include "support/safetensors_builder.h"

namespace {

using nlohmann::json;
using ramq::testkit::TempDir;

json base_config() {
  return json::parse(R"({"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":64,
    "intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
    "vocab_size":100,"max_position_embeddings":2048,"rms_norm_eps":1e-5,"rope_theta":10000.0})");
}

ramq::eval::LlamaSpec spec(const json& j, int ctx = 256) {
  return ramq::eval::llama_spec(ramq::parse_model_config(j.dump(), "cfg/config.json"), "cfg/config.json", ctx);
}

// Expects a ramq::Error naming cfg/config.json whose problem mentions `field`.
void expect_refused(const json& j, const std::string& field, int ctx = 256) {
  try {
    spec(j, ctx);
    ADD_FAILURE() << "accepted a config with " << field;
  } catch (const ramq::Error& e) {
    EXPECT_EQ(e.file(), "cfg/config.json");
    EXPECT_NE(e.problem().find("'" + field), std::string::npos) << e.what();
  }
}

TEST(EvalConfig, PlainLlamaAccepted) {
  const auto s = spec(base_config());
  EXPECT_EQ(s.head_dim, 16);
  ASSERT_EQ(s.inv_freq.size(), 8u);
  EXPECT_DOUBLE_EQ(s.inv_freq[0], 1.0);
  EXPECT_NEAR(s.inv_freq[3], std::pow(10000.0, -6.0 / 16.0), 1e-15);
  EXPECT_FALSE(s.qkv_bias);
  EXPECT_FALSE(s.qk_norm);
}

TEST(EvalConfig, RefusedFeaturesNameTheField) {
  auto j = base_config();
  j["model_type"] = "gemma";
  expect_refused(j, "model_type");
  j = base_config();
  j["hidden_act"] = "gelu";
  expect_refused(j, "hidden_act");
  j = base_config();
  j["num_local_experts"] = 8;
  expect_refused(j, "num_local_experts");
  j = base_config();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  expect_refused(j, "rope_scaling.rope_type");
  j = base_config();
  j["model_type"] = "mistral";
  j["sliding_window"] = 128;
  expect_refused(j, "sliding_window");
  j["sliding_window"] = 4096;  // covers the window: plain attention
  EXPECT_NO_THROW(spec(j));
  j["sliding_window"] = nullptr;
  EXPECT_NO_THROW(spec(j));
  j = base_config();
  j["model_type"] = "qwen2";
  j["sliding_window"] = 128;
  j["use_sliding_window"] = false;
  EXPECT_NO_THROW(spec(j));
  j["use_sliding_window"] = true;
  expect_refused(j, "sliding_window");
  j = base_config();
  j["rope_scaling"] = {{"type", "dynamic"}, {"factor", 2.0}};
  EXPECT_NO_THROW(spec(j, 256));
  expect_refused(j, "rope_scaling.rope_type", 4096);
}

TEST(EvalConfig, QwenFlags) {
  auto j = base_config();
  j["model_type"] = "qwen2";
  EXPECT_TRUE(spec(j).qkv_bias);
  j["model_type"] = "qwen3";
  j["attention_bias"] = true;
  const auto s = spec(j);
  EXPECT_TRUE(s.qk_norm);
  EXPECT_TRUE(s.attention_bias);
}

TEST(EvalConfig, LinearAndLlama3RopeScaling) {
  auto j = base_config();
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 4.0}};
  const auto lin = spec(j);
  EXPECT_DOUBLE_EQ(lin.inv_freq[0], 0.25);

  j = base_config();
  j["hidden_size"] = 512;
  j["num_attention_heads"] = 4;  // head_dim 128
  j["rope_theta"] = 500000.0;
  j["rope_scaling"] = {{"rope_type", "llama3"},   {"factor", 8.0}, {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
  const auto s = spec(j);
  ASSERT_EQ(s.inv_freq.size(), 64u);
  for (std::size_t i = 0; i < 64; ++i) {
    const double f = std::pow(500000.0, -2.0 * static_cast<double>(i) / 128.0);
    const double wavelen = 2 * std::numbers::pi / f;
    if (wavelen < 8192.0 / 4.0) {
      EXPECT_DOUBLE_EQ(s.inv_freq[i], f) << i;  // high frequency: unchanged
    } else if (wavelen > 8192.0) {
      EXPECT_DOUBLE_EQ(s.inv_freq[i], f / 8.0) << i;  // low frequency: divided by factor
    } else {
      EXPECT_LT(s.inv_freq[i], f);  // in between: interpolated
      EXPECT_GT(s.inv_freq[i], f / 8.0);
    }
  }
}

TEST(EvalLoad, GgufPathsGoToTheGgufHook) {
  TempDir tmp("eval-gguf");
  const auto p = tmp / "model.gguf";
  ramq::testkit::write_file(p, "GGUF");
  try {
    ramq::load_language_model(p, ramq::EvalOptions{});
    ADD_FAILURE() << "expected ramq::Error";
  } catch (const ramq::Error& e) {
    EXPECT_EQ(e.file(), p.string());
  }
  EXPECT_THROW(ramq::load_language_model(tmp / "absent", ramq::EvalOptions{}), ramq::Error);
}

std::vector<float> ramp(std::size_t n, float scale) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = scale * static_cast<float>(std::sin(0.7 * static_cast<double>(i) + 0.3));
  return v;
}

// Adds "<module>.weight/.scales/.biases" for w quantized at (bits, group); returns the expected dequantization.
std::vector<float> add_quantized(ramq::testkit::SafetensorsBuilder& b, const std::string& module,
                                 const std::vector<float>& w, std::int64_t rows, std::int64_t cols, int bits, int group) {
  const auto q = ramq::mlx_quantize(w.data(), rows, cols, bits, group, ramq::DType::F16);
  std::string words;
  for (const std::uint32_t x : q.packed)
    for (int k = 0; k < 4; ++k) words.push_back(static_cast<char>((x >> (8 * k)) & 0xffu));
  b.add_raw(module + ".weight", "U32", {rows, cols * bits / 32}, words);
  b.add(module + ".scales", ramq::DType::F16, {rows, cols / group}, q.scales);
  b.add(module + ".biases", ramq::DType::F16, {rows, cols / group}, q.biases);
  return ramq::mlx_dequantize(q);
}

TEST(EvalWeights, MlxDefaultAndPerModuleOverrides) {
  TempDir tmp("eval-mlx");
  ramq::testkit::SafetensorsBuilder b;
  const auto a = add_quantized(b, "model.a", ramp(4 * 64, 0.5f), 4, 64, 4, 32);
  const auto c = add_quantized(b, "model.b", ramp(2 * 128, 2.0f), 2, 128, 8, 64);
  b.add("model.n.weight", ramq::DType::F16, {3}, {1.0f, -0.5f, 0.25f});
  auto cfg = json::parse(ramq::testkit::tiny_config_json());
  cfg["quantization"] = {{"bits", 4}, {"group_size", 32}, {"model.b", {{"bits", 8}, {"group_size", 64}}}};
  ramq::testkit::write_model(tmp.path(), b, cfg.dump());

  const auto w = ramq::eval::open_safetensors_weights(tmp.path());
  EXPECT_EQ(w->shape("model.a.weight"), (std::vector<std::int64_t>{4, 64}));
  EXPECT_EQ(w->shape("model.b.weight"), (std::vector<std::int64_t>{2, 128}));
  EXPECT_EQ(w->load("model.a.weight"), a);
  EXPECT_EQ(w->load("model.b.weight"), c);
  EXPECT_EQ(w->load("model.n.weight"), (std::vector<float>{1.0f, -0.5f, 0.25f}));
  EXPECT_FALSE(w->has("model.a.bias"));
  EXPECT_THROW(w->load("model.missing.weight"), ramq::Error);

  // Parameters that do not fit the stored shapes are reported, naming a file and the tensor.
  cfg["quantization"]["model.b"] = {{"bits", 4}, {"group_size", 64}};
  ramq::testkit::write_file(tmp / "config.json", cfg.dump());
  const auto bad = ramq::eval::open_safetensors_weights(tmp.path());
  try {
    bad->load("model.b.weight");
    ADD_FAILURE() << "expected ramq::Error";
  } catch (const ramq::Error& e) {
    EXPECT_FALSE(e.tensor().empty());
  }
  cfg["quantization"] = {{"bits", 7}, {"group_size", 32}};
  ramq::testkit::write_file(tmp / "config.json", cfg.dump());
  EXPECT_THROW(ramq::eval::open_safetensors_weights(tmp.path()), ramq::Error);
}

}  // namespace
