// MLX output of the mixture-of-experts families (mixtral, qwen2_moe, qwen3_moe) through the
// command line, checked with mlx_lm's loading rules (support/mlx_loader_check.h): stacked
// switch_mlp experts, mlx_lm module paths in the quantization overrides, every policy; weights
// dequantized the MLX way match the checkpoint within the affine error bound of their bits.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "support/mlx_policy_cases.h"
#include "support/mini_safetensors.h"
#include "support/mlx_loader_check.h"
#include "support/run_ramq.h"
#include "support/synthetic_moe.h"

namespace ramq::testkit {
namespace {

namespace fs = std::filesystem;

// The mlx_lm module path of a checkpoint tensor (its ".weight" removed) and, for a routed
// expert, its index in the stack; -1 otherwise.
std::pair<std::string, int> module_of(const std::string& type, const std::string& hf) {
  std::string m = hf.substr(0, hf.size() - 7);
  const std::size_t at = m.find(".experts.");
  if (at == std::string::npos) return {m, -1};
  const std::size_t dot = m.find('.', at + 9);
  const int e = std::stoi(m.substr(at + 9, dot - at - 9));
  std::string proj = m.substr(dot + 1);
  if (type == "mixtral") proj = proj == "w1" ? "gate_proj" : proj == "w2" ? "down_proj" : "up_proj";
  return {m.substr(0, at) + ".switch_mlp." + proj, e};
}


// Dequantized output against the checkpoint, tensor by tensor (experts as slices of their stack).
void expect_weights_match(const fs::path& model, const MlxLoaded& out, const std::string& type, double steps) {
  const MiniFile src = mini_read(model / "model.safetensors");
  std::map<std::string, std::vector<float>> cache;
  for (const auto& [name, t] : src.tensors) {
    if (!name.ends_with(".weight")) continue;
    const auto [module, expert] = module_of(type, name);
    ASSERT_TRUE(out.modules.count(module)) << name << " -> " << module;
    if (!cache.count(module)) cache[module] = mlx_module_weight(out, module);
    const std::vector<float>& all = cache[module];
    const std::vector<float> s = mlx_floats({t.dtype, t.shape, t.bytes});
    const std::size_t first = expert < 0 ? 0 : static_cast<std::size_t>(expert) * s.size();
    ASSERT_LE(first + s.size(), all.size()) << name;
    const std::vector<float> d(all.begin() + static_cast<std::ptrdiff_t>(first),
                               all.begin() + static_cast<std::ptrdiff_t>(first + s.size()));
    expect_within_affine_steps(s, d, out.modules.at(module), steps, name);
  }
}

using Case = MlxPolicyCase;

class MlxMoe : public ::testing::TestWithParam<Case> {};

TEST_P(MlxMoe, LoadsAsMlxLmWouldAndMatchesTheCheckpoint) {
  const Case& c = GetParam();
  TempDir tmp;
  const fs::path model = tmp.path() / "model", out = tmp.path() / "out";
  write_synthetic_moe(model, {.model_type = c.type});
  MlxLoaded loaded;
  ASSERT_NO_FATAL_FAILURE(quantize_and_load_mlx(model, out, c, loaded));
  // The experts are stacked under mlx_lm's names; nothing is left under a per-expert name.
  const std::string moe = c.type == "mixtral" ? "block_sparse_moe" : "mlp";
  const MlxModule& up = loaded.modules.at("model.layers.1." + moe + ".switch_mlp.up_proj");
  EXPECT_EQ(up.weight_shape, (std::vector<std::int64_t>{4, 128, 256}));
  EXPECT_TRUE(up.quantized);
  EXPECT_FALSE(loaded.modules.at("model.layers.0." + moe + ".gate").quantized);  // routers stay float
  for (const auto& [name, a] : loaded.weights) {
    EXPECT_EQ(name.find(".experts."), std::string::npos) << name;
  }
  // Overrides (if the policy makes any) are keyed by mlx_lm module paths.
  for (auto it = loaded.config["quantization"].begin(); it != loaded.config["quantization"].end(); ++it) {
    if (it->is_object()) {
      EXPECT_TRUE(loaded.modules.count(it.key())) << it.key();
    }
  }
  EXPECT_EQ(loaded.config["quantization"], loaded.config["quantization_config"]);
  expect_weights_match(model, loaded, c.type, c.steps);
}

INSTANTIATE_TEST_SUITE_P(Families, MlxMoe,
                         ::testing::ValuesIn(mlx_policy_cases({"mixtral", "qwen2_moe", "qwen3_moe"})),
                         mlx_policy_case_name);

TEST(MlxMoe, LeavesOutRotaryBuffersMlxLmWouldRefuse) {
  // models/qwen2_moe.py's sanitize() keeps rotary_emb.inv_freq, which no module has.
  TempDir tmp;
  const fs::path model = tmp.path() / "model", out = tmp.path() / "out";
  write_synthetic_moe(model, {.model_type = "qwen2_moe", .inv_freq = true});
  const RunResult r = run_ramq({"quantize", model.string(), "--format", "mlx", "--policy", "uniform", "-o", out.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string violation;
  const MlxLoaded loaded = mlx_load(out, &violation);
  EXPECT_EQ(violation, "");
  EXPECT_FALSE(loaded.weights.count("model.layers.0.self_attn.rotary_emb.inv_freq"));
}

// The layout ramq wrote before mlx_lm's stacking: every expert under its Hugging Face name.
void unstack_experts(const fs::path& dir, const std::string& type, int experts) {
  const MiniFile f = mini_read(dir / "model.safetensors");
  SafetensorsBuilder b;
  for (const auto& [name, t] : f.tensors) {
    const std::size_t at = name.find(".switch_mlp.");
    if (at == std::string::npos) {
      b.add_raw(name, t.dtype, t.shape, t.bytes);
      continue;
    }
    std::string proj = name.substr(at + 12);  // "up_proj.scales"
    if (type == "mixtral")
      proj = (proj.starts_with("gate") ? "w1" : proj.starts_with("down") ? "w2" : "w3") + proj.substr(proj.find('.'));
    const std::vector<std::int64_t> shape(t.shape.begin() + 1, t.shape.end());
    const std::size_t n = t.bytes.size() / static_cast<std::size_t>(experts);
    for (int e = 0; e < experts; ++e)
      b.add_raw(name.substr(0, at) + ".experts." + std::to_string(e) + "." + proj, t.dtype, shape,
                t.bytes.substr(static_cast<std::size_t>(e) * n, n));
  }
  b.write(dir / "model.safetensors");
  fs::remove(dir / "model.safetensors.index.json");
}

TEST(MlxMoeLoaderCheck, RejectsThePerExpertLayout) {
  TempDir tmp;
  const fs::path model = tmp.path() / "model", out = tmp.path() / "out";
  write_synthetic_moe(model, {.model_type = "qwen3_moe"});
  ASSERT_EQ(run_ramq({"quantize", model.string(), "--format", "mlx", "--policy", "uniform", "-o", out.string()}).status, 0);
  unstack_experts(out, "qwen3_moe", 4);
  std::string violation;
  mlx_load(out, &violation);
  // qwen3_moe's sanitize stacks only ".weight": the per-expert scales are left over.
  EXPECT_NE(violation.find("not in model"), std::string::npos) << violation;
}

TEST(MlxMoeLoaderCheck, RejectsOverridesKeyedByHuggingFaceNames) {
  TempDir tmp;
  const fs::path model = tmp.path() / "model", out = tmp.path() / "out";
  write_synthetic_moe(model, {.model_type = "mixtral"});
  ASSERT_EQ(run_ramq({"quantize", model.string(), "--format", "mlx", "--policy", "uniform", "-o", out.string()}).status, 0);
  std::string violation;
  mlx_load(out, &violation);
  ASSERT_EQ(violation, "");
  // Mixtral's sanitize would stack the old layout; an override under an HF name names no module.
  unstack_experts(out, "mixtral", 4);
  mlx_load(out, &violation);
  EXPECT_EQ(violation, "");
  auto cfg = nlohmann::json::parse(slurp(out / "config.json"));
  cfg["quantization"]["model.layers.0.block_sparse_moe.experts.0.w1"] = {{"group_size", 64}, {"bits", 8}};
  write_file(out / "config.json", cfg.dump());
  mlx_load(out, &violation);
  EXPECT_NE(violation.find("names no module"), std::string::npos) << violation;
}

TEST(MlxMoeLoaderCheck, RejectsAWrongShapeAndAWrongBitWidth) {
  TempDir tmp;
  const fs::path model = tmp.path() / "model", out = tmp.path() / "out";
  write_synthetic_moe(model, {.model_type = "qwen2_moe"});
  ASSERT_EQ(run_ramq({"quantize", model.string(), "--format", "mlx", "--policy", "uniform", "-o", out.string()}).status, 0);
  auto cfg = nlohmann::json::parse(slurp(out / "config.json"));
  cfg["quantization"]["model.layers.1.mlp.switch_mlp.down_proj"] = {{"group_size", 64}, {"bits", 8}};
  write_file(out / "config.json", cfg.dump());
  std::string violation;
  mlx_load(out, &violation);
  EXPECT_NE(violation.find("Expected shape [4, 256, 32] but received shape [4, 256, 16]"), std::string::npos)
      << violation;
}

}  // namespace
}  // namespace ramq::testkit
