// general.sampling.* from generation_config.json (write/gguf_sampling.h).
#include "write/gguf_sampling.h"

#include <cmath>
#include <limits>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ramq/error.h"
#include "ramq/json_io.h"

namespace ramq {

namespace {

enum class Kind { Int32, Float32, String };

// generation_config.json field -> GGUF key, in the converter's order. penalty_repeat falls back
// to transformers' own name, repetition_penalty.
struct SamplingField {
  std::string_view field, fallback, key;
  Kind kind;
};
constexpr SamplingField kFields[] = {
    {"sequence", "", "general.sampling.sequence", Kind::String},
    {"top_k", "", "general.sampling.top_k", Kind::Int32},
    {"top_p", "", "general.sampling.top_p", Kind::Float32},
    {"min_p", "", "general.sampling.min_p", Kind::Float32},
    {"xtc_probability", "", "general.sampling.xtc_probability", Kind::Float32},
    {"xtc_threshold", "", "general.sampling.xtc_threshold", Kind::Float32},
    {"temperature", "", "general.sampling.temp", Kind::Float32},
    {"penalty_last_n", "", "general.sampling.penalty_last_n", Kind::Int32},
    {"penalty_repeat", "repetition_penalty", "general.sampling.penalty_repeat", Kind::Float32},
    {"mirostat", "", "general.sampling.mirostat", Kind::Int32},
    {"mirostat_tau", "", "general.sampling.mirostat_tau", Kind::Float32},
    {"mirostat_eta", "", "general.sampling.mirostat_eta", Kind::Float32},
};

GgufValue sampling_value(const nlohmann::json& v, const SamplingField& f, const std::string& file) {
  const std::string what = "'" + std::string(f.field) + "' ";
  switch (f.kind) {
    case Kind::String:
      if (!v.is_string()) throw Error(file, "", what + "must be a string, not " + v.dump());
      return GgufValue::str(v.get<std::string>());
    case Kind::Int32:
      if (!v.is_number_integer() || v.get<std::int64_t>() < std::numeric_limits<std::int32_t>::min() ||
          v.get<std::int64_t>() > std::numeric_limits<std::int32_t>::max())
        throw Error(file, "", what + "must be a 32-bit integer, not " + v.dump());
      return GgufValue::i32(static_cast<std::int32_t>(v.get<std::int64_t>()));
    case Kind::Float32:
      if (!v.is_number() || !std::isfinite(v.get<double>()) || std::fabs(v.get<double>()) > std::numeric_limits<float>::max())
        throw Error(file, "", what + "must be a finite number, not " + v.dump());
      return GgufValue::f32(static_cast<float>(v.get<double>()));
  }
  throw Error(file, "", what + "has no GGUF type");
}

}  // namespace

void append_sampling_kvs(const std::filesystem::path& model_dir, std::vector<GgufKV>& kvs) {
  const auto path = model_dir / "generation_config.json";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return;
  const std::string file = path.string();
  const nlohmann::json g = read_json_file(path);
  if (!g.is_object()) throw Error(file, "", "is not a JSON object");
  for (const auto& f : kFields) {
    auto it = g.find(std::string(f.field));
    if ((it == g.end() || it->is_null()) && !f.fallback.empty()) it = g.find(std::string(f.fallback));
    if (it == g.end() || it->is_null()) continue;  // Python's dict.get: absent or None writes nothing
    kvs.push_back({std::string(f.key), sampling_value(*it, f, file)});
  }
}

}  // namespace ramq
