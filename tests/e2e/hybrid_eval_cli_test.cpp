// `ramq eval` on the synthetic hybrid checkpoints (qwen3_next, qwen3_5, qwen3_5_moe;
// tests/support/synthetic_hybrid.h): a finite perplexity over windows longer than the conv
// kernel, and a missing tensor as one line naming the file and the tensor.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/run_ramq.h"
#include "support/safetensors_builder.h"
#include "support/synthetic_hybrid.h"
#include "support/temp_dir.h"

namespace {

using ramq::testkit::run_ramq;
using ramq::testkit::SyntheticHybrid;

// A synthetic checkpoint of the test's family (dir/m, missing `omit`) and 100 tokens (dir/t.u32).
class HybridEvalCli : public ::testing::TestWithParam<std::string> {
 protected:
  std::string model(const std::string& omit = "") {
    s.model_type = GetParam();
    s.omit = omit;
    ramq::testkit::write_synthetic_hybrid(tmp.path() / "m", s);
    std::vector<std::uint32_t> t(100);
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<std::uint32_t>((i * 7919 + 13) % s.vocab);
    ramq::testkit::write_file(tmp.path() / "t.u32", std::string(reinterpret_cast<const char*>(t.data()), t.size() * 4));
    return (tmp.path() / "m").string();
  }
  std::string tokens() const { return (tmp.path() / "t.u32").string(); }

  SyntheticHybrid s;
  ramq::testkit::TempDir tmp{"hybrid-eval-cli"};
};

TEST_P(HybridEvalCli, PerplexityIsFinite) {
  const auto r = run_ramq({"--threads", "2", "eval", model(), "--tokens", tokens(), "--ctx", "24", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.contains("ppl")) << r.out;
  const double ppl = j["ppl"].get<double>();
  EXPECT_TRUE(std::isfinite(ppl) && ppl > 1.0) << r.out;
  // Random weights: about as perplexed as uniform guessing over 512 tokens, not wildly more.
  EXPECT_LT(ppl, 50.0 * s.vocab) << r.out;
}

TEST_P(HybridEvalCli, MissingTensorIsOneLineNamingIt) {
  const std::string omit = "layers.1.linear_attn.A_log";
  const std::string dir = model((GetParam() == "qwen3_next" ? "model." : "model.language_model.") + omit);
  const auto r = run_ramq({"eval", dir, "--tokens", tokens(), "--ctx", "16"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find(s.omit), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(dir), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_P(HybridEvalCli, MlxOutputIsRefusedInOneLine) {
  const std::string mlx = (tmp.path() / "mlx").string();
  const auto q = run_ramq({"quantize", model(), "--format", "mlx", "--policy", "uniform", "-o", mlx});
  ASSERT_EQ(q.status, 0) << q.err;
  const auto r = run_ramq({"eval", mlx, "--tokens", tokens(), "--ctx", "16"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("is an MLX (mlx_lm) layout of " + s.model_type), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

INSTANTIATE_TEST_SUITE_P(Families, HybridEvalCli, ::testing::Values("qwen3_next", "qwen3_5", "qwen3_5_moe"));

}  // namespace
