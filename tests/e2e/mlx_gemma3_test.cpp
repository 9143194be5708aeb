// MLX output of the Gemma 3 families (gemma3_text, gemma3) through the command line, checked with
// mlx_lm's loading rules (support/mlx_loader_check.h, mlx_loader_gemma3.cpp), every policy: the
// names are mlx_lm's after sanitize() (gemma3: "language_model.*", vision tower and projector left
// out); the model is tied (no lm_head: mlx_lm's sanitize pops the module and uses the embedding);
// the seven norms per layer and the final norm stay float and hold the checkpoint's w (mlx_lm
// applies 1 + w itself); weights dequantized the MLX way match the checkpoint.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/mini_safetensors.h"
#include "support/mlx_loader_check.h"
#include "support/mlx_policy_cases.h"
#include "support/run_ramq.h"
#include "support/synthetic_gemma3.h"

namespace ramq::testkit {
namespace {

namespace fs = std::filesystem;

using Case = MlxPolicyCase;

class MlxGemma3 : public ::testing::TestWithParam<Case> {};

TEST_P(MlxGemma3, LoadsAsMlxLmWouldAndMatchesTheCheckpoint) {
  const Case& c = GetParam();
  TempDir tmp;
  const fs::path model = tmp.path() / "model", out = tmp.path() / "out";
  SyntheticGemma3 s;
  s.model_type = c.type;
  write_synthetic_gemma3(model, s);
  MlxLoaded loaded;
  ASSERT_NO_FATAL_FAILURE(quantize_and_load_mlx(model, out, c, loaded));
  const std::string top = s.wrapped() ? "language_model." : "";
  EXPECT_FALSE(loaded.modules.count(top + "lm_head"));  // tied
  for (const auto& [name, a] : loaded.weights) {
    EXPECT_FALSE(name.starts_with("vision_tower.") || name.starts_with("multi_modal_projector.")) << name;
    EXPECT_TRUE(name.starts_with(top + "model.")) << name;
  }
  const std::string p = s.layer_prefix(5);
  for (const char* n : {"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                        "post_feedforward_layernorm", "self_attn.q_norm", "self_attn.k_norm"}) {
    EXPECT_FALSE(loaded.modules.at(p + n).quantized) << n;
  }
  EXPECT_TRUE(loaded.modules.at(p + "mlp.gate_proj").quantized);
  for (auto it = loaded.config["quantization"].begin(); it != loaded.config["quantization"].end(); ++it)
    if (it->is_object()) {
      EXPECT_TRUE(loaded.modules.count(it.key())) << it.key();
    }
  const MiniFile src = mini_read(model / "model.safetensors");
  for (const auto& [name, t] : src.tensors) {
    if (name.starts_with("vision_tower.") || name.starts_with("multi_modal_projector.")) continue;
    const std::string module = name.substr(0, name.size() - 7);  // without ".weight"
    ASSERT_TRUE(loaded.modules.count(module)) << name;
    expect_within_affine_steps(mlx_floats({t.dtype, t.shape, t.bytes}), mlx_module_weight(loaded, module),
                               loaded.modules.at(module), c.steps, name);
  }
}

INSTANTIATE_TEST_SUITE_P(Families, MlxGemma3, ::testing::ValuesIn(mlx_policy_cases({"gemma3_text", "gemma3"})),
                         mlx_policy_case_name);

}  // namespace
}  // namespace ramq::testkit
