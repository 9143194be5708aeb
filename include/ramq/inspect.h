// `ramq inspect`: what a model file holds, read as strictly as the pipeline reads it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ramq {

// What an inspected path is. Names ("safetensors", "safetensors model", "mlx model", "gguf") are
// printed only in inspect's text and JSON.
enum class InspectKind { Safetensors, SafetensorsModel, MlxModel, Gguf };
std::string_view inspect_kind_name(InspectKind k);

struct InspectedTensor {
  std::string name;
  std::vector<std::int64_t> shape;  // as stored (safetensors shape, or GGUF ne in ggml order)
  std::string type;                 // "BF16", "U32", "Q4_K", ...
  std::uint64_t bytes = 0;
  std::int64_t params = 0;          // logical weights (MLX packed weights count their unpacked values; scales/biases 0)
};

struct InspectReport {
  InspectKind kind = InspectKind::Safetensors;
  std::string path;
  nlohmann::json metadata;  // safetensors __metadata__ / GGUF key-values (long arrays summarised)
  std::vector<InspectedTensor> tensors;
  std::uint64_t total_bytes = 0;
  std::int64_t total_params = 0;
  double bits_per_weight = 0;  // 8 * total_bytes / total_params
};

// A safetensors file, a model directory (Hugging Face or ramq MLX output), or a GGUF file.
// Throws ramq::Error (file, tensor, problem) on anything malformed.
InspectReport inspect_path(const std::filesystem::path& path);
nlohmann::json inspect_to_json(const InspectReport& r);

}  // namespace ramq
