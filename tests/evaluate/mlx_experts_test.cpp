// The safetensors/MLX weight source reads mlx_lm's stacked experts (switch_mlp) by the Hugging
// Face stack key: expert e of "model.layers.N.mlp.experts.*.up_proj.weight" (Mixtral:
// "block_sparse_moe.experts.*.w3.weight") is rows [e*out, (e+1)*out) of the stacked tensor,
// dequantized as MLX does (compared with support/mlx_loader_check.h's own decoder).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "evaluate/weights.h"
#include "ramq/error.h"
#include "support/mlx_loader_check.h"
#include "support/run_ramq.h"
#include "support/synthetic_moe.h"

namespace ramq::eval {
namespace {

namespace fs = std::filesystem;
using testkit::TempDir;

void expect_rows(const std::vector<std::unique_ptr<WeightTensor>>& experts, const std::vector<float>& stacked,
                 std::int64_t out, std::int64_t in) {
  std::vector<float> scratch;
  for (std::size_t e = 0; e < experts.size(); ++e) {
    ASSERT_EQ(experts[e]->rows(), out);
    ASSERT_EQ(experts[e]->cols(), in);
    const float* p = experts[e]->read_rows(1, out - 1, scratch);  // rows 1.. of expert e
    for (std::int64_t i = 0; i < (out - 1) * in; ++i)
      ASSERT_EQ(p[i], stacked[static_cast<std::size_t>((std::int64_t(e) * out + 1) * in + i)]) << "expert " << e;
  }
}

struct Case {
  std::string type, stack_key, module;
  std::int64_t out, in;
};

class MlxExperts : public ::testing::TestWithParam<Case> {};

TEST_P(MlxExperts, StackKeyResolvesToRowsOfTheStackedTensor) {
  const Case& c = GetParam();
  TempDir tmp;
  const fs::path model = tmp.path() / "model", out = tmp.path() / "out";
  testkit::write_synthetic_moe(model, {.model_type = c.type});
  const auto r = testkit::run_ramq({"quantize", model.string(), "--format", "mlx", "--policy", "uniform", "--bits", "4",
                                    "-o", out.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string violation;
  const testkit::MlxLoaded loaded = testkit::mlx_load(out, &violation);
  ASSERT_EQ(violation, "");
  const auto src = open_safetensors_weights(out);
  EXPECT_FALSE(src->has(c.stack_key));
  const auto experts = src->experts(c.stack_key, 4, c.out, c.in);
  ASSERT_EQ(experts.size(), 4u);
  expect_rows(experts, testkit::mlx_module_weight(loaded, c.module), c.out, c.in);
  EXPECT_THROW(src->experts(c.stack_key, 5, c.out, c.in), Error);  // the stack holds 4
  // The Hugging Face checkpoint itself: one tensor per expert, as before.
  const auto hf = open_safetensors_weights(model);
  EXPECT_EQ(hf->experts(c.stack_key, 4, c.out, c.in).size(), 4u);
}

INSTANTIATE_TEST_SUITE_P(
    Families, MlxExperts,
    ::testing::Values(Case{"mixtral", "model.layers.1.block_sparse_moe.experts.*.w3.weight",
                           "model.layers.1.block_sparse_moe.switch_mlp.up_proj", 128, 256},
                      Case{"qwen2_moe", "model.layers.0.mlp.experts.*.down_proj.weight",
                           "model.layers.0.mlp.switch_mlp.down_proj", 256, 128},
                      Case{"qwen3_moe", "model.layers.1.mlp.experts.*.gate_proj.weight",
                           "model.layers.1.mlp.switch_mlp.gate_proj", 128, 256}),
    [](const auto& i) { return i.param.type; });

}  // namespace
}  // namespace ramq::eval
