// Test support: the MLX policies every family's end-to-end test runs (uniform 4-bit g64 with the
// min/max encoder, uniform 3-bit g32, SWAN, budget at 4.5 bits per weight), each with the error
// bound, in quantization steps, its dequantized weights must keep to; and that bound's check.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/mlx_loader_check.h"
#include "support/run_ramq.h"

namespace ramq::testkit {

struct MlxPolicyCase {
  std::string type;               // model_type
  std::vector<std::string> args;  // policy arguments
  double steps;                   // error bound in quantization steps
};

inline std::vector<MlxPolicyCase> mlx_policy_cases(const std::vector<std::string>& model_types) {
  std::vector<MlxPolicyCase> v;
  for (const std::string& t : model_types) {
    v.push_back({t, {"--policy", "uniform", "--bits", "4", "--group", "64", "--mlx-encoder", "minmax"}, 0.5});
    v.push_back({t, {"--policy", "uniform", "--bits", "3", "--group", "32"}, 1.0});
    v.push_back({t, {"--policy", "swan"}, 1.0});
    v.push_back({t, {"--policy", "budget", "--target-bpw", "4.5"}, 1.0});
  }
  return v;
}

// `ramq quantize MODEL --format mlx -o OUT` with the case's policy arguments, then OUT loaded by
// mlx_lm's rules into `loaded`; a fatal test failure if ramq fails or a rule is broken (call it
// inside ASSERT_NO_FATAL_FAILURE).
inline void quantize_and_load_mlx(const std::filesystem::path& model, const std::filesystem::path& out,
                                  const MlxPolicyCase& c, MlxLoaded& loaded) {
  std::vector<std::string> args = {"quantize", model.string(), "--format", "mlx", "-o", out.string()};
  args.insert(args.end(), c.args.begin(), c.args.end());
  const RunResult r = run_ramq(args);
  ASSERT_EQ(r.status, 0) << r.err;
  std::string violation;
  loaded = mlx_load(out, &violation);
  ASSERT_EQ(violation, "");
}

// "qwen3_5_uniform_4_minmax", "qwen3_5_swan", ...
inline std::string mlx_policy_case_name(const ::testing::TestParamInfo<MlxPolicyCase>& i) {
  std::string n = i.param.type + "_" + i.param.args[1];
  for (std::size_t k = 2; k < i.param.args.size(); ++k)
    if (i.param.args[k] == "--bits" || i.param.args[k] == "--mlx-encoder") n += "_" + i.param.args[k + 1];
  return n;
}

// Every quantized element of the source within `steps` quantization steps of its group
// ((max - min) / (2^bits - 1), plus one BF16 rounding of the group's minimum, which the stored
// bias is rounded from): half a step for round-to-nearest on the min/max grid, one step for
// ramq's search encoder (include/ramq/mlx_affine.h). Float modules: equal.
inline void expect_within_affine_steps(const std::vector<float>& src, const std::vector<float>& deq,
                                       const MlxModule& m, double steps, const std::string& what) {
  ASSERT_EQ(src.size(), deq.size()) << what;
  if (!m.quantized) {
    for (std::size_t i = 0; i < src.size(); ++i) {
      ASSERT_EQ(src[i], deq[i]) << what << " element " << i;
    }
    return;
  }
  const auto g = static_cast<std::size_t>(m.group);
  const double levels = std::ldexp(1.0, m.bits) - 1;
  for (std::size_t at = 0; at < src.size(); at += g) {
    double lo = src[at], hi = src[at];
    for (std::size_t i = at; i < at + g; ++i) lo = std::min<double>(lo, src[i]), hi = std::max<double>(hi, src[i]);
    const double step = (hi - lo + std::fabs(lo) * 0x1p-7) / levels * (1 + 0x1p-6) + 1e-7;
    for (std::size_t i = at; i < at + g; ++i)
      ASSERT_LE(std::fabs(double(src[i]) - deq[i]), steps * step)
          << what << " element " << i << " (" << m.bits << "-bit g" << m.group << ")";
  }
}

}  // namespace ramq::testkit
