// config.json's fields (read/config_fields.h).
#include "ramq/config_fields.h"

#include <cmath>
#include <limits>

#include "ramq/error.h"

namespace ramq {

using json = nlohmann::json;

std::string show_json_value(const json& j) {
  std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 80) + "...";
  for (auto& ch : s)
    if (static_cast<unsigned char>(ch) < 0x20) ch = '?';  // the error stays one line
  return s;
}

ConfigFields::ConfigFields(const json& raw, std::string file) : raw_(raw), file_(std::move(file)) {
  const auto it = raw.find("text_config");
  if (it != raw.end() && it->is_object()) text_ = &*it;
}

const json* ConfigFields::find(const char* name) const {
  for (const json* obj : {&raw_, text_}) {
    if (obj == nullptr || !obj->is_object()) continue;
    const auto it = obj->find(name);
    if (it != obj->end() && !it->is_null()) return &*it;
  }
  return nullptr;
}

void ConfigFields::fail(const std::string& field, const std::string& problem) const {
  throw Error(file_, "", "field '" + field + "' " + problem);
}

bool ConfigFields::flag(const char* name, bool dflt) const {
  const json* j = find(name);
  if (j == nullptr) return dflt;
  if (!j->is_boolean()) fail(name, "must be true or false, got " + show_json_value(*j));
  return j->get<bool>();
}

const json& ConfigFields::required(const char* name) const {
  const json* j = find(name);
  if (j == nullptr) fail(name, "is missing");
  return *j;
}

std::int64_t ConfigFields::positive_int(const char* name, const json& j) const {
  constexpr std::int64_t kMax = std::numeric_limits<std::int32_t>::max();
  const std::string range = "must be a positive integer of at most " + std::to_string(kMax) + ", got ";
  if (!j.is_number_integer()) fail(name, "must be a positive integer, got " + show_json_value(j));
  if (j.is_number_unsigned()) {
    const auto v = j.get<std::uint64_t>();
    if (v == 0 || v > static_cast<std::uint64_t>(kMax)) fail(name, range + show_json_value(j));
    return static_cast<std::int64_t>(v);
  }
  const auto v = j.get<std::int64_t>();
  if (v <= 0 || v > kMax) fail(name, range + show_json_value(j));
  return v;
}

double ConfigFields::positive_double(const char* name, const json& j) const {
  if (!j.is_number()) fail(name, "must be a positive number, got " + show_json_value(j));
  const double v = j.get<double>();
  if (!std::isfinite(v) || v <= 0) fail(name, "must be a positive finite number, got " + show_json_value(j));
  return v;
}

std::string ConfigFields::required_string(const char* name) const {
  const json& j = required(name);
  if (!j.is_string() || j.get_ref<const std::string&>().empty())
    fail(name, "must be a non-empty string, got " + show_json_value(j));
  return j.get<std::string>();
}

}  // namespace ramq
