// mlx_lm's loading rules for the hybrid families (tests/support/mlx_loader_hybrid.cpp) against
// the synthetic Hugging Face checkpoints of tests/support/synthetic_hybrid.h. mlx_lm.load takes a
// Hugging Face directory as it is (its sanitize() renames, stacks, splits and shifts), so every
// synthetic checkpoint must load, with the values sanitize() gives; and what sanitize() returns,
// written back, must load unchanged (sanitize a no-op): the layout ramq's MLX writer is to write
// (issue 19). Expected values are computed here from the source bytes: norms + 1 rounded to BF16,
// conv1d [C, 1, K] -> [C, K, 1] with the same bytes, gate_up_proj rows [0, I) / [I, 2I).
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <fstream>

#include "support/mini_safetensors.h"
#include "support/mlx_loader_check.h"
#include "support/synthetic_hybrid.h"
#include "support/temp_dir.h"

namespace ramq {
namespace {

using nlohmann::json;
using testkit::MlxLoaded;
using testkit::SyntheticHybrid;

SyntheticHybrid hybrid(const std::string& type) {
  SyntheticHybrid s;
  s.model_type = type;
  return s;
}

MlxLoaded load_ok(const std::filesystem::path& dir) {
  std::string violation = "(not run)";
  MlxLoaded m = testkit::mlx_load(dir, &violation);
  EXPECT_EQ(violation, "") << dir;
  return m;
}

std::string load_violation(const std::filesystem::path& dir) {
  std::string violation;
  testkit::mlx_load(dir, &violation);
  return violation;
}

// The source tensors of a synthetic checkpoint, by name.
std::map<std::string, testkit::MiniTensor> source(const std::filesystem::path& dir) {
  return testkit::mini_read(dir / "model.safetensors").tensors;
}

std::vector<float> floats_of(const testkit::MiniTensor& t) {
  return testkit::mlx_floats({t.dtype, t.shape, t.bytes});
}

float bf16_round(float x) {
  std::uint32_t u = std::bit_cast<std::uint32_t>(x);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return std::bit_cast<float>(u & 0xFFFF0000u);
}

// Writes `m`'s weights (after sanitize) and its config.json into dir.
void write_back(const MlxLoaded& m, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  testkit::SafetensorsBuilder b;
  for (const auto& [name, a] : m.weights) b.add_raw(name, a.dtype, a.shape, a.bytes);
  testkit::write_model(dir, b, m.config.dump(2));
}

TEST(MlxHybridRules, HuggingFaceCheckpointsLoadAsMlxLmSanitizesThem) {
  for (const char* type : {"qwen3_next", "qwen3_5", "qwen3_5_moe"}) {
    SCOPED_TRACE(type);
    testkit::TempDir tmp;
    const SyntheticHybrid s = hybrid(type);
    testkit::write_synthetic_hybrid(tmp.path(), s);
    const MlxLoaded m = load_ok(tmp.path());
    const auto src = source(tmp.path());
    const bool next = s.model_type == "qwen3_next";
    const std::string hf = next ? "model." : "model.language_model.", mlx = next ? "model." : "language_model.model.";
    // Norms shifted by one (BF16 arithmetic), the gated linear-attention norm not.
    for (const std::string n : {"layers.0.input_layernorm", "layers.3.self_attn.q_norm", "norm"}) {
      const std::vector<float> before = floats_of(src.at(hf + n + ".weight"));
      const std::vector<float> after = testkit::mlx_module_weight(m, mlx + n);
      ASSERT_EQ(before.size(), after.size()) << n;
      for (std::size_t i = 0; i < before.size(); ++i) ASSERT_EQ(after[i], bf16_round(before[i] + 1.0f)) << n << " " << i;
    }
    EXPECT_EQ(testkit::mlx_module_weight(m, mlx + "layers.0.linear_attn.norm"),
              floats_of(src.at(hf + "layers.0.linear_attn.norm.weight")));
    // conv1d: [C, 1, K] -> [C, K, 1], same bytes; A_log kept in F32.
    const auto& conv = m.weights.at(mlx + "layers.1.linear_attn.conv1d.weight");
    EXPECT_EQ(conv.shape, (std::vector<std::int64_t>{512, 4, 1}));
    EXPECT_EQ(conv.bytes, src.at(hf + "layers.1.linear_attn.conv1d.weight").bytes);
    EXPECT_EQ(m.weights.at(mlx + "layers.2.linear_attn.A_log").dtype, "F32");
    EXPECT_FALSE(m.weights.count(mlx + "layers.3.linear_attn.A_log"));  // layer 3: full attention
    if (s.model_type == "qwen3_5_moe") {
      // gate_up_proj [E, 2I, H]: expert e's rows [0, I) are gate, [I, 2I) up.
      const auto& gu = src.at(hf + "layers.2.mlp.experts.gate_up_proj");
      const std::size_t row = 256 * 2, expert = 512 * row;
      const auto& gate = m.weights.at(mlx + "layers.2.mlp.switch_mlp.gate_proj.weight");
      const auto& up = m.weights.at(mlx + "layers.2.mlp.switch_mlp.up_proj.weight");
      EXPECT_EQ(gate.shape, (std::vector<std::int64_t>{4, 256, 256}));
      EXPECT_EQ(gate.bytes.substr(3 * expert / 2, expert / 2), gu.bytes.substr(3 * expert, expert / 2));
      EXPECT_EQ(up.bytes.substr(3 * expert / 2, expert / 2), gu.bytes.substr(3 * expert + expert / 2, expert / 2));
    }
    if (next) {
      const auto& up = m.weights.at("model.layers.0.mlp.switch_mlp.up_proj.weight");
      EXPECT_EQ(up.shape, (std::vector<std::int64_t>{4, 256, 256}));
      EXPECT_EQ(up.bytes.substr(up.bytes.size() / 4 * 2, up.bytes.size() / 4),
                src.at("model.layers.0.mlp.experts.2.up_proj.weight").bytes);
    }
    for (const auto& [k, v] : m.weights) {
      EXPECT_EQ(k.find("mtp."), std::string::npos) << k;
      EXPECT_EQ(k.find("visual"), std::string::npos) << k;
    }
    // What sanitize returned, written back: sanitize leaves it as it is.
    const std::filesystem::path again = tmp.path() / "sanitized";
    write_back(m, again);
    const MlxLoaded m2 = load_ok(again);
    EXPECT_EQ(m2.weights.size(), m.weights.size());
    for (const auto& [k, v] : m.weights) {
      ASSERT_TRUE(m2.weights.count(k)) << k;
      EXPECT_EQ(m2.weights.at(k).bytes, v.bytes) << k;
      EXPECT_EQ(m2.weights.at(k).shape, v.shape) << k;
    }
  }
}

// The config edited (the text model's fields), rewritten into dir.
template <class Edit>
std::string violation_after(const std::filesystem::path& dir, const SyntheticHybrid& s, Edit&& edit) {
  json c = testkit::synthetic_hybrid_config(s);
  edit(s.wrapped() ? c["text_config"] : c, c);
  std::ofstream(dir / "config.json") << c.dump(2);
  return load_violation(dir);
}

TEST(MlxHybridRules, RulesThatRefuse) {
  testkit::TempDir tmp;
  const SyntheticHybrid next = hybrid("qwen3_next"), moe = hybrid("qwen3_5_moe");
  testkit::write_synthetic_hybrid(tmp.path(), next);
  // qwen3_next ModelArgs has no default for mlp_only_layers.
  EXPECT_EQ(violation_after(tmp.path(), next, [](json& t, json&) { t.erase("mlp_only_layers"); }),
            "config.json: qwen3_next ModelArgs needs 'mlp_only_layers'");
  // mlx_lm reads full_attention_interval, not layer_types.
  EXPECT_EQ(violation_after(tmp.path(), next, [](json& t, json&) { t["full_attention_interval"] = 2; }),
            "load_weights: Received parameters not in model: model.layers.1.linear_attn.A_log");
  // conv1d has no to_quantized.
  EXPECT_EQ(violation_after(tmp.path(), next,
                            [](json&, json& c) {
                              c["quantization"] = {{"group_size", 64}, {"bits", 4},
                                                   {"model.layers.0.linear_attn.conv1d", {{"group_size", 64}, {"bits", 8}}}};
                            }),
            "nn.quantize: Unable to quantize 'model.layers.0.linear_attn.conv1d' (no to_quantized)");
  testkit::TempDir tmp5;
  testkit::write_synthetic_hybrid(tmp5.path(), moe);
  // mlx_lm's TextModelArgs defaults are its own: a config relying on transformers' defaults for
  // the linear heads (16 / 32 / 128 / 128) builds other shapes in mlx_lm (64 value heads, key dim 192).
  EXPECT_EQ(violation_after(tmp5.path(), moe, [](json& t, json&) { t.erase("linear_key_head_dim"); }),
            "load_weights: Expected shape [1024, 4, 1] but received shape [512, 4, 1] for parameter "
            "language_model.model.layers.0.linear_attn.conv1d.weight");
  // tie_word_embeddings is read from text_config.
  EXPECT_EQ(violation_after(tmp5.path(), moe, [](json& t, json&) { t["tie_word_embeddings"] = true; }),
            "load_weights: Received parameters not in model: language_model.lm_head.weight");
}

}  // namespace
}  // namespace ramq
