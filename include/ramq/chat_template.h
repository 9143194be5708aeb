// A model directory's chat templates (Jinja source text) as llama.cpp's converter and Hugging Face
// find them: read by the GGUF writer (src/write/gguf_chat_template.cpp) and by `ramq generate
// --chat`.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ramq {

// The folder of a model directory that holds named templates (NAME.jinja), carried into MLX
// outputs: the one subfolder an output directory may have, listed in its manifest as
// "additional_chat_templates/NAME.jinja".
inline constexpr const char* kAdditionalChatTemplatesDir = "additional_chat_templates";

struct ChatTemplates {
  std::optional<std::string> main;  // tokenizer.chat_template (the "default" one)
  // tokenizer.chat_template.<name>, name reduced to [A-Za-z0-9_], sorted by name
  std::vector<std::pair<std::string, std::string>> named;
  bool empty() const { return !main && named.empty(); }
};

// The chat templates of a model directory by gguf-py's rules (tokenizer_config.json's
// "chat_template", else chat_template.jinja with additional_chat_templates/*.jinja, else
// chat_template.json's "chat_template"). None when tokenizer_config.json is absent or empty.
// A field of the wrong JSON type is an Error(file, "", problem).
ChatTemplates read_chat_templates(const std::filesystem::path& dir);

}  // namespace ramq
