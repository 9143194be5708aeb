// MLX output of the hybrid linear-attention families (qwen3_next, qwen3_5, qwen3_5_moe) through
// the command line, checked with mlx_lm's loading rules (support/mlx_loader_check.h,
// mlx_loader_hybrid.cpp), every policy: the output is what mlx_lm's sanitize() returns (names,
// stacked / split experts, conv1d [C, K, 1], norms + 1), so sanitize leaves it as it is; routers,
// shared-expert gates, conv1d, A_log and dt_bias stay float; the vision tower and mtp.* are left
// out; weights dequantized the MLX way match the checkpoint (norms: the checkpoint's + 1, rounded
// to BF16 as mlx_lm's `v + 1.0` does).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <string>
#include <vector>

#include "support/mlx_policy_cases.h"
#include "support/mini_safetensors.h"
#include "support/mlx_loader_check.h"
#include "support/run_ramq.h"
#include "support/synthetic_hybrid.h"

namespace ramq::testkit {
namespace {

namespace fs = std::filesystem;

float bf16_round(float x) {
  std::uint32_t u = std::bit_cast<std::uint32_t>(x);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return std::bit_cast<float>(u & 0xFFFF0000u);
}

bool zero_centred_norm(const std::string& n) {
  for (const char* s : {".input_layernorm.weight", ".post_attention_layernorm.weight", "model.norm.weight",
                        "language_model.norm.weight", ".q_norm.weight", ".k_norm.weight"})
    if (n.ends_with(s)) return true;
  return false;
}

// Where a checkpoint tensor's values are in the output: a module, and the block of `count` rows
// (of `period`) of each stacked expert (period 0: all of it); for per-expert qwen3_next tensors,
// the expert's slice of the stack.
struct Place {
  std::string module;
  std::int64_t expert = -1, period = 0, begin = 0, count = 0;
};

std::vector<Place> places_of(const std::string& hf, bool wrapped) {
  std::string m = hf.ends_with(".weight") ? hf.substr(0, hf.size() - 7) : hf;
  if (wrapped) {
    if (m.starts_with("model.language_model.")) m = "language_model.model." + m.substr(21);
    if (m == "lm_head") m = "language_model.lm_head";
  }
  const std::size_t at = m.find(".experts.");
  if (at == std::string::npos) return {{m}};
  const std::string mlp = m.substr(0, at) + ".switch_mlp.", rest = m.substr(at + 9);
  if (rest == "gate_up_proj") return {{mlp + "gate_proj", -1, 512, 0, 256}, {mlp + "up_proj", -1, 512, 256, 256}};
  if (rest == "down_proj") return {{mlp + "down_proj"}};
  const std::size_t dot = rest.find('.');
  return {{mlp + rest.substr(dot + 1), std::stoi(rest.substr(0, dot))}};
}

// Rows [begin, begin + count) of every `period` rows of `cols` columns.
std::vector<float> rows_of(const std::vector<float>& v, std::size_t cols, const Place& p) {
  if (p.period == 0) return v;
  std::vector<float> out;
  const std::size_t block = static_cast<std::size_t>(p.period) * cols;
  for (std::size_t at = 0; at < v.size(); at += block)
    out.insert(out.end(), v.begin() + static_cast<std::ptrdiff_t>(at + static_cast<std::size_t>(p.begin) * cols),
               v.begin() + static_cast<std::ptrdiff_t>(at + static_cast<std::size_t>(p.begin + p.count) * cols));
  return out;
}


void expect_weights_match(const fs::path& model, const MlxLoaded& out, const SyntheticHybrid& s, double steps) {
  const MiniFile src = mini_read(model / "model.safetensors");
  std::map<std::string, std::vector<float>> cache;
  for (const auto& [name, t] : src.tensors) {
    if (name.starts_with("model.visual") || name.find("mtp.") != std::string::npos) continue;
    std::vector<float> want = mlx_floats({t.dtype, t.shape, t.bytes});
    if (zero_centred_norm(name))
      for (float& x : want) x = bf16_round(x + 1.0f);
    for (const Place& p : places_of(name, s.wrapped())) {
      ASSERT_TRUE(out.modules.count(p.module)) << name << " -> " << p.module;
      if (!cache.count(p.module)) cache[p.module] = mlx_module_weight(out, p.module);
      const std::vector<float>& all = cache[p.module];
      const std::vector<float> part = rows_of(want, static_cast<std::size_t>(t.shape.back()), p);
      const std::size_t first = p.expert < 0 ? 0 : static_cast<std::size_t>(p.expert) * part.size();
      ASSERT_LE(first + part.size(), all.size()) << name;
      const std::vector<float> got(all.begin() + static_cast<std::ptrdiff_t>(first),
                                   all.begin() + static_cast<std::ptrdiff_t>(first + part.size()));
      expect_within_affine_steps(part, got, out.modules.at(p.module), steps, name + " -> " + p.module);
    }
  }
}

using Case = MlxPolicyCase;

class MlxHybrid : public ::testing::TestWithParam<Case> {};

TEST_P(MlxHybrid, LoadsAsMlxLmWouldAndMatchesTheCheckpoint) {
  const Case& c = GetParam();
  TempDir tmp;
  const fs::path model = tmp.path() / "model", out = tmp.path() / "out";
  SyntheticHybrid s;
  s.model_type = c.type;
  write_synthetic_hybrid(model, s);
  MlxLoaded loaded;
  ASSERT_NO_FATAL_FAILURE(quantize_and_load_mlx(model, out, c, loaded));
  const std::string p = s.wrapped() ? "language_model.model.layers." : "model.layers.";
  // What sanitize would change is already changed: conv1d [C, K, 1], no per-expert or fused names.
  EXPECT_EQ(loaded.weights.at(p + "0.linear_attn.conv1d.weight").shape, (std::vector<std::int64_t>{512, 4, 1}));
  EXPECT_EQ(loaded.weights.at(p + "0.linear_attn.A_log").dtype, "F32");
  for (const auto& [name, a] : loaded.weights) {
    EXPECT_EQ(name.find(".experts."), std::string::npos) << name;
    EXPECT_EQ(name.find("mtp."), std::string::npos) << name;
  }
  for (const char* m : {"0.linear_attn.conv1d", "0.linear_attn.norm", "0.input_layernorm"}) {
    EXPECT_FALSE(loaded.modules.at(p + m).quantized) << m;
  }
  if (s.moe()) {
    EXPECT_FALSE(loaded.modules.at(p + "1.mlp.gate").quantized);  // routers stay float
    EXPECT_FALSE(loaded.modules.at(p + "1.mlp.shared_expert_gate").quantized);
    EXPECT_TRUE(loaded.modules.at(p + "1.mlp.switch_mlp.up_proj").quantized);
  }
  EXPECT_TRUE(loaded.modules.at(p + "1.linear_attn.out_proj").quantized);
  for (auto it = loaded.config["quantization"].begin(); it != loaded.config["quantization"].end(); ++it)
    if (it->is_object()) {
      EXPECT_TRUE(loaded.modules.count(it.key())) << it.key();
    }
  expect_weights_match(model, loaded, s, c.steps);
  // The output passes through sanitize unchanged: mlx_lm adds nothing (conv1d already [C, K, 1]).
  const MiniFile written = mini_read(out / "model.safetensors");
  for (const auto& [name, a] : loaded.weights) {
    ASSERT_TRUE(written.tensors.count(name)) << name;
    EXPECT_EQ(written.tensors.at(name).bytes, a.bytes) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Families, MlxHybrid,
                         ::testing::ValuesIn(mlx_policy_cases({"qwen3_next", "qwen3_5", "qwen3_5_moe"})),
                         mlx_policy_case_name);

TEST(MlxHybrid, LayerTypesMlxLmCannotFollowAreRefused) {
  TempDir tmp;
  const fs::path model = tmp.path() / "model", out = tmp.path() / "out";
  SyntheticHybrid s;
  s.model_type = "qwen3_5";
  write_synthetic_hybrid(model, s);
  auto cfg = nlohmann::json::parse(slurp(model / "config.json"));
  cfg["text_config"]["full_attention_interval"] = 2;  // layer_types still says linear, linear, linear, full
  write_file(model / "config.json", cfg.dump());
  const RunResult r = run_ramq({"quantize", model.string(), "--format", "mlx", "--policy", "uniform", "-o", out.string()});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("field 'layer_types' makes layer 1 a linear_attention layer, but mlx_lm reads only "
                       "full_attention_interval (2)"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(out));
}

TEST(MlxHybrid, ReportChecksThePlanAgainstTheSplitAndDroppedTensors) {
  // plan.json names each expert's view of the fused stacks (its gate rows, its up rows, its down
  // matrix), which the MLX output stacks again; mtp.* and the vision tower get no decision.
  TempDir tmp;
  const fs::path model = tmp.path() / "model", out = tmp.path() / "out";
  SyntheticHybrid s;
  s.model_type = "qwen3_5_moe";
  write_synthetic_hybrid(model, s);
  const std::string analysis = (tmp.path() / "analysis.json").string(), plan = (tmp.path() / "plan.json").string();
  ASSERT_EQ(run_ramq({"analyze", model.string(), "-o", analysis}).status, 0);
  const RunResult p = run_ramq({"plan", analysis, "--policy", "budget", "--target-bpw", "4.5", "--format", "mlx", "-o", plan});
  ASSERT_EQ(p.status, 0) << p.err;
  const RunResult q = run_ramq({"quantize", model.string(), "--plan", plan, "--format", "mlx", "-o", out.string()});
  ASSERT_EQ(q.status, 0) << q.err;
  const RunResult r =
      run_ramq({"report", out.string(), "--plan", plan, "-o", (tmp.path() / "report.html").string()});
  EXPECT_EQ(r.status, 0) << r.err;
}

}  // namespace
}  // namespace ramq::testkit
