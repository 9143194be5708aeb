// The registry of model families (arch/model_family.h): one row per family.
#include <algorithm>

#include "ramq/model_family.h"
#include "ramq/error.h"

namespace ramq {

// Defined in src/arch/<family>.cpp.
ModelFamily llama_family();
ModelFamily qwen2_family();
ModelFamily qwen3_family();
ModelFamily mistral3_family();
ModelFamily mixtral_family();
ModelFamily qwen2_moe_family();
ModelFamily qwen3_moe_family();
ModelFamily qwen3_next_family();
ModelFamily qwen3_5_family();
ModelFamily qwen3_5_moe_family();
ModelFamily phi3_family();
ModelFamily gemma3_text_family();
ModelFamily gemma3_family();

std::span<const ModelFamily> model_families() {
  static const ModelFamily kFamilies[] = {
      llama_family(),
      qwen2_family(),
      qwen3_family(),
      mistral3_family(),
      mixtral_family(),
      qwen2_moe_family(),
      qwen3_moe_family(),
      qwen3_next_family(),
      qwen3_5_family(),
      qwen3_5_moe_family(),
      phi3_family(),
      gemma3_text_family(),
      gemma3_family(),
  };
  return kFamilies;
}

const ModelFamily* find_family(std::string_view model_type) {
  for (const ModelFamily& f : model_families())
    if (std::find(f.model_types.begin(), f.model_types.end(), model_type) != f.model_types.end()) return &f;
  return nullptr;
}

const ModelFamily* find_gguf_family(std::string_view gguf_architecture, bool experts) {
  const ModelFamily* any = nullptr;
  for (const ModelFamily& f : model_families())
    if (f.gguf_architecture == gguf_architecture) {
      if ((f.moe != nullptr) == experts) return &f;
      if (any == nullptr) any = &f;
    }
  return any;
}

std::string expert_stack_key(std::string_view name, std::int64_t* expert) {
  if (expert) *expert = -1;
  constexpr std::string_view kExperts = "experts.";
  for (std::size_t at = name.find(kExperts); at != std::string_view::npos; at = name.find(kExperts, at + 1)) {
    if (at > 0 && name[at - 1] != '.') continue;
    std::string_view rest = name.substr(at + kExperts.size());
    const std::size_t before = rest.size();
    if (const auto e = take_layer_index(rest)) {
      if (expert) *expert = *e;
      const std::size_t digits = before - rest.size() - 1;
      std::string key(name);
      key.replace(at + kExperts.size(), digits, "*");
      return key;
    }
  }
  return std::string(name);
}

const ModelFamily& family_for(const ModelConfig& cfg, const std::string& file, std::string_view purpose) {
  if (const ModelFamily* f = find_family(cfg.model_type)) return *f;
  throw Error(file, "",
              "model_type '" + cfg.model_type + "' is not supported for " + std::string(purpose) + " (supported: " +
                  supported_model_types() + ")");
}

bool is_left_out(std::string_view model_type, std::string_view name) {
  const ModelFamily* f = find_family(model_type);
  return f != nullptr && f->left_out != nullptr && f->left_out(name);
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
  for (const ModelFamily& f : model_families())
    if (find_gguf_family(f.gguf_architecture) == &f)  // once each: mixtral's is llama's
      out += (out.empty() ? "" : ", ") + std::string(f.gguf_architecture);
  return out;
}

}  // namespace ramq
