#include "ramq/json_io.h"

#include <climits>
#include <fstream>
#include <sstream>

#include "ramq/atomic_output.h"
#include "ramq/error.h"

namespace ramq {

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string(), "", "cannot open file");
  std::ostringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw Error(path.string(), "", "not valid JSON");
  return j;
}

void write_text_file_atomic(const std::filesystem::path& path, const std::string& text) {
  AtomicOutput out(path, /*is_directory=*/false);
  {
    std::ofstream f(out.temp_path(), std::ios::binary | std::ios::trunc);
    if (!f) throw Error(path.string(), "", "cannot create output file");
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    f.flush();
    if (!f) throw Error(path.string(), "", "write failed (disk full?)");
  }
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
