// read, internal: the one reader of config.json's fields (the top level first, then
// "text_config"; a null value counts as absent), with one-line errors naming the file and the
// field. parse_model_config reads ModelConfig with it, src/arch the family-dependent fields
// (arch/family_config.h) for the config/tensor check, the GGUF metadata and the evaluator.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace ramq {

// A JSON value for an error line: at most 80 characters, control characters replaced.
std::string show_json_value(const nlohmann::json& j);

class ConfigFields {
 public:
  ConfigFields(const nlohmann::json& raw, std::string file);

  // The field's value (top level, else text_config), or nullptr if absent or null.
  const nlohmann::json* find(const char* name) const;
  // Throws Error(file, "", "field '<field>' <problem>").
  [[noreturn]] void fail(const std::string& field, const std::string& problem) const;
  const std::string& file() const { return file_; }

  // A boolean field; `dflt` when absent.
  bool flag(const char* name, bool dflt) const;
  // The field's value; "is missing" when absent.
  const nlohmann::json& required(const char* name) const;
  // j (the value of field `name`) as a positive integer that later code may multiply: at most
  // 2^31 - 1.
  std::int64_t positive_int(const char* name, const nlohmann::json& j) const;
  std::int64_t required_int(const char* name) const { return positive_int(name, required(name)); }
  // j (the value of field `name`) as a positive finite number.
  double positive_double(const char* name, const nlohmann::json& j) const;
  std::string required_string(const char* name) const;

 private:
  const nlohmann::json& raw_;
  const nlohmann::json* text_ = nullptr;
  std::string file_;
};

}  // namespace ramq
