// The registry of model families (arch/model_family.h): one row per family.
#include <algorithm>

#include "ramq/model_family.h"
#include "ramq/error.h"

namespace ramq {

// Defined in src/arch/<family>.cpp.
ModelFamily llama_family();
ModelFamily qwen2_family();
ModelFamily qwen3_family();

std::span<const ModelFamily> model_families() {
  static const ModelFamily kFamilies[] = {
      llama_family(),
      qwen2_family(),
      qwen3_family(),
  };
  return kFamilies;
}

const ModelFamily* find_family(std::string_view model_type) {
  for (const ModelFamily& f : model_families())
    if (std::find(f.model_types.begin(), f.model_types.end(), model_type) != f.model_types.end()) return &f;
  return nullptr;
}

const ModelFamily* find_gguf_family(std::string_view gguf_architecture) {
  for (const ModelFamily& f : model_families())
    if (f.gguf_architecture == gguf_architecture) return &f;
  return nullptr;
}

const ModelFamily& family_for(const ModelConfig& cfg, const std::string& file, std::string_view purpose) {
  if (const ModelFamily* f = find_family(cfg.model_type)) return *f;
  throw Error(file, "",
              "model_type '" + cfg.model_type + "' is not supported for " + std::string(purpose) + " (supported: " +
                  supported_model_types() + ")");
}

std::optional<std::int64_t> take_layer_index(std::string_view& s) {
  std::size_t i = 0;
  std::int64_t n = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i < 9) n = n * 10 + (s[i++] - '0');
  if (i == 0 || i >= s.size() || s[i] != '.' || (i > 1 && s[0] == '0')) return std::nullopt;
  s.remove_prefix(i + 1);
  return n;
}

std::string supported_model_types() {
  std::string out;
  for (const ModelFamily& f : model_families())
    for (const std::string_view t : f.model_types) out += (out.empty() ? "" : ", ") + std::string(t);
  return out;
}

std::string supported_gguf_architectures() {
  std::string out;
  for (const ModelFamily& f : model_families()) out += (out.empty() ? "" : ", ") + std::string(f.gguf_architecture);
  return out;
}

}  // namespace ramq
