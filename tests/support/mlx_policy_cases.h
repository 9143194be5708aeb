// Test support: the MLX policies every family's end-to-end test runs (uniform 4-bit g64 with the
// min/max encoder, uniform 3-bit g32, SWAN, budget at 4.5 bits per weight), each with the error
// bound, in quantization steps, its dequantized weights must keep to.
#pragma once

#include <string>
#include <vector>

#include <gtest/gtest.h>

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

// "qwen3_5_uniform_4_minmax", "qwen3_5_swan", ...
inline std::string mlx_policy_case_name(const ::testing::TestParamInfo<MlxPolicyCase>& i) {
  std::string n = i.param.type + "_" + i.param.args[1];
  for (std::size_t k = 2; k < i.param.args.size(); ++k)
    if (i.param.args[k] == "--bits" || i.param.args[k] == "--mlx-encoder") n += "_" + i.param.args[k + 1];
  return n;
}

}  // namespace ramq::testkit
