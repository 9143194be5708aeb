// write stage for MLX: quantized safetensors shards + index + config.json with a
// "quantization" block, loadable by mlx_lm.
#pragma once

#include <cstdint>
#include <filesystem>

#include "ramq/options.h"
#include "ramq/plan.h"
#include "ramq/safetensors.h"

namespace ramq {

struct WriteSummary {
  std::filesystem::path output;
  std::uint64_t total_bytes = 0;   // bytes of all files written
  std::uint64_t tensor_bytes = 0;  // bytes of tensor data
  std::int64_t params = 0;
  double average_bits = 0;         // 8 * tensor_bytes / params
  int shards = 0;
};

WriteSummary write_mlx_model(const ModelReader& model, const Plan& plan, const Options& opt,
                             const std::filesystem::path& out_dir);

}  // namespace ramq
