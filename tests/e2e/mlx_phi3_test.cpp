// MLX output of the phi3 family (Phi-3 / Phi-4) through the command line, checked with mlx_lm's
// loading rules (support/mlx_loader_check.h, models/phi3.py in mlx_loader_rules.h): qkv_proj and
// gate_up_proj stay fused under their Hugging Face names, every policy; weights dequantized the
// MLX way match the checkpoint within the affine error bound of their bits.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/mini_safetensors.h"
#include "support/mlx_loader_check.h"
#include "support/mlx_policy_cases.h"
#include "support/run_ramq.h"
#include "support/synthetic_phi3.h"

namespace ramq::testkit {
namespace {

namespace fs = std::filesystem;

class MlxPhi3 : public ::testing::TestWithParam<MlxPolicyCase> {};

TEST_P(MlxPhi3, LoadsAsMlxLmWouldAndMatchesTheCheckpoint) {
  const MlxPolicyCase& c = GetParam();
  TempDir tmp;
  const fs::path model = tmp.path() / "model", out = tmp.path() / "out";
  write_phi3(model, Phi3Shape{.longrope = true, .dtype = DType::BF16});  // float modules stay BF16
  MlxLoaded loaded;
  ASSERT_NO_FATAL_FAILURE(quantize_and_load_mlx(model, out, c, loaded));
  const MlxModule& qkv = loaded.modules.at("model.layers.0.self_attn.qkv_proj");
  EXPECT_EQ(qkv.weight_shape, (std::vector<std::int64_t>{(kHeads + 2 * kKvHeads) * kHeadDim, kHidden}));
  EXPECT_TRUE(qkv.quantized);
  EXPECT_TRUE(loaded.modules.at("model.layers.2.mlp.gate_up_proj").quantized);
  for (auto it = loaded.config["quantization"].begin(); it != loaded.config["quantization"].end(); ++it)
    if (it->is_object()) {
      EXPECT_TRUE(loaded.modules.count(it.key())) << it.key();
    }
  EXPECT_EQ(loaded.config["rope_scaling"]["type"], "longrope");  // config.json carried over
  const MiniFile src = mini_read(model / "model.safetensors");
  for (const auto& [name, t] : src.tensors) {
    const std::string module = name.substr(0, name.size() - 7);  // ".weight"
    ASSERT_TRUE(loaded.modules.count(module)) << name;
    expect_within_affine_steps(mlx_floats({t.dtype, t.shape, t.bytes}), mlx_module_weight(loaded, module),
                               loaded.modules.at(module), c.steps, name);
  }
}

INSTANTIATE_TEST_SUITE_P(Families, MlxPhi3, ::testing::ValuesIn(mlx_policy_cases({"phi3"})), mlx_policy_case_name);

}  // namespace
}  // namespace ramq::testkit
