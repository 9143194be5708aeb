// Small helpers for reading and writing ramq's JSON files with one-line errors.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ramq {

// JSON read from files ramq did not write (config.json, tokenizer.json, ...) may nest at most this
// deep: nlohmann::json copies and prints values recursively, so a file of a few hundred kilobytes of
// "[[[[..." would otherwise exhaust the stack.
inline constexpr int kMaxJsonDepth = 64;

// Parses JSON text: NUL bytes (where nlohmann::json would stop reading) and nesting deeper than
// kMaxJsonDepth are errors too. Throws ramq::Error(file, "", "not valid JSON: ...").
nlohmann::json parse_json_text(std::string_view text, const std::string& file);
// Reads and parses a JSON file (parse_json_text); throws ramq::Error(file, "", problem).
nlohmann::json read_json_file(const std::filesystem::path& path);
// Writes text to `path` (a temporary of an AtomicOutput); errors name `shown`, the final name.
void write_text_file(const std::filesystem::path& path, const std::string& text, const std::string& shown);
// Writes text to `path` through a temporary sibling and a rename (no partial file on failure).
void write_text_file_atomic(const std::filesystem::path& path, const std::string& text);

// Typed field access that names the file, the tensor (may be empty) and the field on error.
struct JsonReader {
  std::string file;
  std::string tensor;
  const nlohmann::json& field(const nlohmann::json& obj, const char* key) const;
  double number(const nlohmann::json& obj, const char* key) const;
  std::int64_t integer(const nlohmann::json& obj, const char* key) const;
  std::string string(const nlohmann::json& obj, const char* key) const;
  bool boolean(const nlohmann::json& obj, const char* key) const;
  std::vector<std::int64_t> shape(const nlohmann::json& obj, const char* key) const;
  // "shape" and "numel" fields, checked against each other (and for overflow).
  std::vector<std::int64_t> shape_with_numel(const nlohmann::json& obj, std::int64_t& numel) const;
  [[noreturn]] void fail(const std::string& problem) const;
};

}  // namespace ramq
