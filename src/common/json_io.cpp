#include "ramq/json_io.h"

#include <climits>
#include <optional>
#include <set>
#include <fstream>
#include <sstream>

#include "ramq/atomic_output.h"
#include "ramq/error.h"
#include "ramq/input_file.h"

namespace ramq {

namespace {
// A key for an error line: control characters replaced, long keys shortened.
std::string printable(std::string s) {
  if (s.size() > 80) s = s.substr(0, 80) + "...";
  for (auto& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return s;
}
}  // namespace

nlohmann::json parse_json_text(std::string_view text, const std::string& file) {
  if (const auto nul = text.find('\0'); nul != std::string_view::npos)
    throw Error(file, "", "not valid JSON: contains a NUL byte at offset " + std::to_string(nul));
  // The keys seen in each open object (an array's entry stays empty): a key given twice is an
  // error, since readers disagree on which value wins and a reviewer may read the other one.
  std::vector<std::optional<std::set<std::string>>> open_keys;
  auto check = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (depth > kMaxJsonDepth)
      throw Error(file, "", "not valid JSON for ramq: nested more than " + std::to_string(kMaxJsonDepth) + " levels deep");
    if (event == E::object_start) open_keys.emplace_back(std::set<std::string>{});
    if (event == E::array_start) open_keys.emplace_back(std::nullopt);
    if ((event == E::object_end || event == E::array_end) && !open_keys.empty()) open_keys.pop_back();
    if (event == E::key && !open_keys.empty() && open_keys.back() && !open_keys.back()->insert(parsed.get<std::string>()).second)
      throw Error(file, "", "not valid JSON for ramq: key '" + printable(parsed.get<std::string>()) +
                                "' appears twice in one object");
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), check);
  } catch (const nlohmann::json::exception& e) {
    // "[json.exception.parse_error.101] parse error at line 1, ...": keep the readable part.
    std::string msg = e.what();
    if (const auto p = msg.find("] "); !msg.empty() && msg.front() == '[' && p != std::string::npos) msg.erase(0, p + 2);
    if (msg.size() > 300) msg = msg.substr(0, 300) + "...";
    for (auto& c : msg)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    throw Error(file, "", "not valid JSON: " + msg);
  }
}

nlohmann::json read_json_file(const std::filesystem::path& path) {
  return parse_json_text(read_regular_file(path, kMaxJsonInputBytes), path.string());
}

void write_text_file(const std::filesystem::path& path, const std::string& text, const std::string& shown) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw Error(shown, "", "cannot create output file");
  f.write(text.data(), static_cast<std::streamsize>(text.size()));
  f.flush();
  if (!f) throw Error(shown, "", "write failed (disk full?)");
}

void write_text_file_atomic(const std::filesystem::path& path, const std::string& text) {
  AtomicOutput out(path, /*is_directory=*/false);
  write_text_file(out.temp_path(), text, path.string());
  out.commit();
}

void JsonReader::fail(const std::string& problem) const { throw Error(file, tensor, problem); }

const nlohmann::json& JsonReader::field(const nlohmann::json& obj, const char* key) const {
  if (!obj.is_object()) fail(std::string("expected an object holding '") + key + "'");
  auto it = obj.find(key);
  if (it == obj.end()) fail(std::string("missing field '") + key + "'");
  return *it;
}

double JsonReader::number(const nlohmann::json& obj, const char* key) const {
  const auto& v = field(obj, key);
  if (!v.is_number()) fail(std::string("field '") + key + "' must be a number");
  return v.get<double>();
}

std::int64_t JsonReader::integer(const nlohmann::json& obj, const char* key) const {
  const auto& v = field(obj, key);
  if (!v.is_number_integer()) fail(std::string("field '") + key + "' must be an integer");
  return v.get<std::int64_t>();
}

std::string JsonReader::string(const nlohmann::json& obj, const char* key) const {
  const auto& v = field(obj, key);
  if (!v.is_string()) fail(std::string("field '") + key + "' must be a string");
  return v.get<std::string>();
}

bool JsonReader::boolean(const nlohmann::json& obj, const char* key) const {
  const auto& v = field(obj, key);
  if (!v.is_boolean()) fail(std::string("field '") + key + "' must be true or false");
  return v.get<bool>();
}

std::vector<std::int64_t> JsonReader::shape(const nlohmann::json& obj, const char* key) const {
  const auto& v = field(obj, key);
  if (!v.is_array()) fail(std::string("field '") + key + "' must be an array of sizes");
  std::vector<std::int64_t> out;
  for (const auto& d : v) {
    if (!d.is_number_integer() || d.get<std::int64_t>() < 0)
      fail(std::string("field '") + key + "' must hold non-negative integers");
    out.push_back(d.get<std::int64_t>());
  }
  return out;
}

std::vector<std::int64_t> JsonReader::shape_with_numel(const nlohmann::json& obj, std::int64_t& numel) const {
  auto dims = shape(obj, "shape");
  numel = integer(obj, "numel");
  std::int64_t prod = 1;
  for (auto d : dims) {
    if (d != 0 && prod > INT64_MAX / d) fail("shape overflows");
    prod *= d;
  }
  if (prod != numel) fail("numel does not match shape");
  return dims;
}

}  // namespace ramq
