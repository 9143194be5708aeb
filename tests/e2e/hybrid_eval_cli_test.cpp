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

void write_tokens(const std::filesystem::path& p, std::size_t n, std::uint32_t vocab) {
  std::vector<std::uint32_t> t(n);
  for (std::size_t i = 0; i < n; ++i) t[i] = static_cast<std::uint32_t>((i * 7919 + 13) % vocab);
  ramq::testkit::write_file(p, std::string(reinterpret_cast<const char*>(t.data()), t.size() * 4));
}

class HybridEvalCli : public ::testing::TestWithParam<std::string> {};

TEST_P(HybridEvalCli, PerplexityIsFinite) {
  SyntheticHybrid s;
  s.model_type = GetParam();
  ramq::testkit::TempDir tmp("hybrid-eval-cli");
  ramq::testkit::write_synthetic_hybrid(tmp.path() / "m", s);
  write_tokens(tmp.path() / "t.u32", 100, static_cast<std::uint32_t>(s.vocab));
  const auto r = run_ramq({"--threads", "2", "eval", (tmp.path() / "m").string(), "--tokens",
                           (tmp.path() / "t.u32").string(), "--ctx", "24", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.contains("ppl")) << r.out;
  const double ppl = j["ppl"].get<double>();
  EXPECT_TRUE(std::isfinite(ppl) && ppl > 1.0) << r.out;
  // Random weights: about as perplexed as uniform guessing over 512 tokens, not wildly more.
  EXPECT_LT(ppl, 50.0 * s.vocab) << r.out;
}

TEST_P(HybridEvalCli, MissingTensorIsOneLineNamingIt) {
  SyntheticHybrid s;
  s.model_type = GetParam();
  s.omit = s.layer_prefix(1) + "linear_attn.A_log";
  ramq::testkit::TempDir tmp("hybrid-eval-missing");
  ramq::testkit::write_synthetic_hybrid(tmp.path() / "m", s);
  write_tokens(tmp.path() / "t.u32", 40, static_cast<std::uint32_t>(s.vocab));
  const auto r = run_ramq({"eval", (tmp.path() / "m").string(), "--tokens", (tmp.path() / "t.u32").string(), "--ctx",
                           "16"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find(s.omit), std::string::npos) << r.err;
  EXPECT_NE(r.err.find((tmp.path() / "m").string()), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_P(HybridEvalCli, MlxOutputIsRefusedInOneLine) {
  SyntheticHybrid s;
  s.model_type = GetParam();
  ramq::testkit::TempDir tmp("hybrid-eval-mlx");
  ramq::testkit::write_synthetic_hybrid(tmp.path() / "m", s);
  write_tokens(tmp.path() / "t.u32", 40, static_cast<std::uint32_t>(s.vocab));
  const auto q = run_ramq({"quantize", (tmp.path() / "m").string(), "--format", "mlx", "--policy", "uniform", "-o",
                           (tmp.path() / "mlx").string()});
  ASSERT_EQ(q.status, 0) << q.err;
  const auto r = run_ramq({"eval", (tmp.path() / "mlx").string(), "--tokens", (tmp.path() / "t.u32").string(), "--ctx",
                           "16"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("is an MLX (mlx_lm) layout of " + s.model_type), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

INSTANTIATE_TEST_SUITE_P(Families, HybridEvalCli, ::testing::Values("qwen3_next", "qwen3_5", "qwen3_5_moe"));

}  // namespace
