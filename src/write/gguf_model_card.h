// write, internal: the YAML front matter of a model directory's README.md (the Hugging Face model
// card), read as llama.cpp's converter reads it (gguf-py/gguf/metadata.py, Metadata.load_model_card)
// for the general.* naming keys (write/gguf_naming.h).
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace ramq {

struct ModelCard {
  // The front matter's top-level mapping, its values typed as PyYAML's safe_load types them:
  // strings, null, booleans, integers and floats as JSON; a value no JSON type holds (a YAML
  // timestamp, binary, set ...) as a JSON binary, which no naming key accepts. Empty when
  // README.md is absent, has no front matter, or its front matter is not a mapping.
  nlohmann::json fields = nlohmann::json::object();
  // Why the front matter was ignored ("" if it was not): it does not parse as YAML, README.md is
  // not UTF-8 or too large. llama.cpp's converter stops on these; ramq writes no card keys and
  // says so, because a model card never changes how the model runs.
  std::string note;
};

// README.md in `model_dir`, if it is a regular file. Never throws for its contents.
ModelCard read_model_card(const std::filesystem::path& model_dir);

// The same, from the README's text (exposed for tests).
ModelCard parse_model_card(const std::string& readme_text);

}  // namespace ramq
