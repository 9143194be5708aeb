// read, internal: config.json's fields as parse_model_config reads them (the top level first,
// then "text_config"; a null value counts as absent), with one-line errors naming the file and
// the field. Shared by the config/tensor check and the evaluator's config reader.
#pragma once

#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "ramq/error.h"

namespace ramq {

// A JSON value for an error line: at most 80 characters, control characters replaced.
inline std::string show_json_value(const nlohmann::json& j) {
  std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 80) + "...";
  for (auto& ch : s)
    if (static_cast<unsigned char>(ch) < 0x20) ch = '?';  // the error stays one line
  return s;
}

class ConfigFields {
 public:
  ConfigFields(const nlohmann::json& raw, std::string file) : raw_(raw), file_(std::move(file)) {
    const auto it = raw.find("text_config");
    if (it != raw.end() && it->is_object()) text_ = &*it;
  }
  const nlohmann::json* find(const char* name) const {
    for (const nlohmann::json* obj : {&raw_, text_}) {
      if (obj == nullptr || !obj->is_object()) continue;
      const auto it = obj->find(name);
      if (it != obj->end() && !it->is_null()) return &*it;
    }
    return nullptr;
  }
  [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
    throw Error(file_, "", "field '" + field + "' " + problem);
  }
  const std::string& file() const { return file_; }
  // A boolean field; `dflt` when absent.
  bool flag(const char* name, bool dflt) const {
    const nlohmann::json* j = find(name);
    if (j == nullptr) return dflt;
    if (!j->is_boolean()) fail(name, "must be true or false, got " + show_json_value(*j));
    return j->get<bool>();
  }
  // obj[key], a positive finite number (prefix names obj in the message).
  double positive_number(const nlohmann::json& obj, const std::string& prefix, const char* key) const {
    const auto it = obj.find(key);
    if (it == obj.end() || !it->is_number()) fail(prefix + "." + key, "must be a number");
    const double v = it->get<double>();
    if (!std::isfinite(v) || v <= 0) fail(prefix + "." + key, "must be a positive finite number, got " + show_json_value(*it));
    return v;
  }

 private:
  const nlohmann::json& raw_;
  const nlohmann::json* text_ = nullptr;
  std::string file_;
};

}  // namespace ramq
