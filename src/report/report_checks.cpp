// Type checks of eval JSON and ramq-manifest.json for the report (see report_checks.h).
#include "report/report_checks.h"

#include "ramq/error.h"

namespace ramq::report {

namespace {

using nlohmann::json;

enum class Kind { Number, Integer, Count, String, Boolean, Object, StringArray, Sizes, Digest, DigestOrNull, Digests };

const char* kind_text(Kind k) {
  switch (k) {
    case Kind::Number: return "a number";
    case Kind::Integer: return "an integer";
    case Kind::Count: return "a non-negative integer";
    case Kind::String: return "a string";
    case Kind::Boolean: return "true or false";
    case Kind::Object: return "an object";
    case Kind::StringArray: return "an array of strings";
    case Kind::Sizes: return "an array of non-negative integers";
    case Kind::Digest: return "an object {file, bytes, sha256}";
    case Kind::DigestOrNull: return "null or an object {file, bytes, sha256}";
    case Kind::Digests: return "an array of objects {file, bytes, sha256}";
  }
  return "?";
}

bool is_count(const json& v) { return v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0); }

bool is_digest(const json& v) {
  return v.is_object() && v.contains("file") && v["file"].is_string() && v.contains("bytes") && is_count(v["bytes"]) &&
         v.contains("sha256") && v["sha256"].is_string();
}

bool has_kind(const json& v, Kind k) {
  switch (k) {
    case Kind::Number: return v.is_number();
    case Kind::Integer: return v.is_number_integer();
    case Kind::Count: return is_count(v);
    case Kind::String: return v.is_string();
    case Kind::Boolean: return v.is_boolean();
    case Kind::Object: return v.is_object();
    case Kind::StringArray:
      if (!v.is_array()) return false;
      for (const auto& e : v)
        if (!e.is_string()) return false;
      return true;
    case Kind::Sizes:
      if (!v.is_array()) return false;
      for (const auto& e : v)
        if (!is_count(e)) return false;
      return true;
    case Kind::Digest: return is_digest(v);
    case Kind::DigestOrNull: return v.is_null() || is_digest(v);
    case Kind::Digests:
      if (!v.is_array()) return false;
      for (const auto& e : v)
        if (!is_digest(e)) return false;
      return true;
  }
  return false;
}

struct Checker {
  std::string file;
  std::string tensor;

  [[noreturn]] void fail(const std::string& problem) const { throw Error(file, tensor, problem); }

  // `where` is the field's path for the message ("plan.total_bytes", "tensors[3].bits").
  void field(const json& obj, const char* key, Kind k, bool required, const std::string& where) const {
    const auto it = obj.find(key);
    if (it == obj.end()) {
      if (required) fail("missing field '" + where + "'");
      return;
    }
    if (!has_kind(*it, k)) fail("field '" + where + "' must be " + kind_text(k) + ", not " + std::string(it->type_name()));
  }
  void fields(const json& obj, std::initializer_list<std::pair<const char*, Kind>> list, bool required,
              const std::string& prefix = "") const {
    for (const auto& [key, k] : list) field(obj, key, k, required, prefix + key);
  }
};

}  // namespace

void check_eval_json(const json& j, const std::string& file) {
  const Checker c{file, ""};
  if (!j.is_object()) c.fail("expected the JSON object `ramq eval --json` prints, not " + std::string(j.type_name()));
  c.fields(j,
           {{"ppl", Kind::Number}, {"median_window_ppl", Kind::Number}, {"mean_nll", Kind::Number},
            {"tokens", Kind::Count}, {"windows", Kind::Count}, {"scored_tokens", Kind::Count}},
           true);
  c.fields(j,
           {{"mean_kld", Kind::Number}, {"median_kld", Kind::Number}, {"top1_agreement", Kind::Number},
            {"ppl_reference", Kind::Number}, {"ppl_ratio", Kind::Number}, {"ctx", Kind::Count},
            {"model", Kind::String}, {"reference", Kind::String}, {"token_file", Kind::String}},
           false);
}

void check_manifest_json(const json& j, const std::string& file) {
  const Checker c{file, ""};
  if (!j.is_object()) c.fail("expected a ramq manifest object, not " + std::string(j.type_name()));
  c.field(j, "kind", Kind::String, true, "kind");
  if (j["kind"] != "ramq-manifest") c.fail("field 'kind' must be \"ramq-manifest\" (is this a ramq manifest?)");
  c.fields(j,
           {{"ramq_version", Kind::String}, {"command_line", Kind::StringArray}, {"options", Kind::Object},
            {"model_dir", Kind::String}, {"inputs", Kind::Digests}, {"plan_file", Kind::DigestOrNull},
            {"side_outputs", Kind::Digests}, {"plan", Kind::Object}, {"metric_options", Kind::Object},
            {"outputs", Kind::Digests}, {"manifest_sha256", Kind::String}},
           false);
  if (j.contains("plan"))
    c.fields(j["plan"],
             {{"format", Kind::String}, {"policy", Kind::String}, {"keep_dtype", Kind::Boolean},
              {"total_bytes", Kind::Count}, {"total_params", Kind::Count}, {"average_bits", Kind::Number}},
             false, "plan.");
  if (j.contains("options"))
    c.fields(j["options"], {{"policy", Kind::String}, {"format", Kind::String}}, false, "options.");
  if (!j.contains("tensors")) return;
  const json& ts = j["tensors"];
  if (!ts.is_array()) c.fail("field 'tensors' must be an array, not " + std::string(ts.type_name()));
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const std::string where = "tensors[" + std::to_string(i) + "]";
    const json& e = ts[i];
    if (!e.is_object()) c.fail("field '" + where + "' must be an object");
    c.field(e, "name", Kind::String, true, where + ".name");
    const Checker t{file, e["name"].get<std::string>()};
    t.fields(e, {{"shape", Kind::Sizes}, {"numel", Kind::Count}, {"bits", Kind::Integer}, {"bytes", Kind::Count}}, true,
             where + ".");
    t.fields(e,
             {{"group", Kind::Count}, {"reason", Kind::String}, {"gguf_type", Kind::String}, {"dtype", Kind::String},
              {"scored", Kind::Boolean}, {"skip_reason", Kind::String}, {"metrics", Kind::Object},
              {"scores", Kind::Object}},
             false, where + ".");
    if (e.contains("scores"))
      t.fields(e["scores"],
               {{"s_svd", Kind::Number}, {"s_kurt", Kind::Number}, {"s_out", Kind::Number}, {"s_err", Kind::Number},
                {"S", Kind::Number}},
               true, where + ".scores.");
  }
}

}  // namespace ramq::report
