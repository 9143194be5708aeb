// plan.json: writing, reading back with validation, and checking a plan against a model.
#include <algorithm>
#include <climits>
#include <map>
#include <set>

#include "ramq/module_weight.h"
#include "ramq/error.h"
#include "ramq/json_io.h"
#include "ramq/mlx_affine.h"
#include "ramq/model_family.h"
#include "ramq/plan.h"
#include "ramq/version.h"

namespace ramq {

namespace {
constexpr const char* kKind = "ramq-plan";

void read_mlx_choice(const JsonReader& tr, const nlohmann::json& e, TensorDecision& d) {
  const std::int64_t bits = tr.integer(e, "bits");
  const std::int64_t group = tr.integer(e, "group");
  if (bits != 16 && !mlx_bits_supported(static_cast<int>(bits)))
    tr.fail("bits " + std::to_string(bits) + " not supported (expected 2, 3, 4, 5, 6, 8 or 16)");
  if (bits != 16 && !mlx_group_supported(static_cast<int>(group)))
    tr.fail("group " + std::to_string(group) + " not supported (expected 32, 64 or 128)");
  d.encoding = bits == 16 ? Encoding::float_copy() : Encoding::mlx_affine(static_cast<int>(bits), static_cast<int>(group));
}

// "swan", ..., "llama-mix Q4_K_M".
void read_policy(const JsonReader& r, const std::string& label, Plan& p) {
  const auto space = label.find(' ');
  const auto kind = parse_policy(label.substr(0, space));
  if (!kind) r.fail("unknown policy '" + label + "'");
  p.policy = *kind;
  if (space != std::string::npos) p.mix = label.substr(space + 1);
  if ((*kind == PolicyKind::LlamaMix) != !p.mix.empty()) r.fail("policy '" + label + "' is not a policy ramq writes");
}
}  // namespace

nlohmann::json plan_to_json(const Plan& p) {
  nlohmann::json j;
  j["kind"] = kKind;
  j["ramq_version"] = kVersion;
  j["format"] = output_format_name(p.format);
  j["policy"] = plan_policy_label(p);
  j["keep_dtype"] = p.keep_dtype;
  std::map<std::string, std::int64_t> params_by_bits;
  std::int64_t quantized = 0;
  for (const auto& d : p.tensors) {
    params_by_bits[std::to_string(d.bits())] += d.numel;
    quantized += d.quantized() ? 1 : 0;
  }
  j["totals"] = {{"bytes", p.total_bytes},
                 {"params", p.total_params},
                 {"average_bits", p.average_bits},
                 {"tensors", p.tensors.size()},
                 {"quantized_tensors", quantized},
                 {"params_by_bits", params_by_bits}};
  if (!p.details.is_null()) j["details"] = p.details;
  auto& arr = j["tensors"] = nlohmann::json::array();
  for (const auto& d : p.tensors) {
    nlohmann::json e = {{"name", d.name}, {"shape", d.shape}, {"numel", d.numel}, {"bits", d.bits()},
                        {"group", d.encoding.group()}, {"bytes", d.bytes}, {"reason", d.reason}};
    if (d.encoding.ggml_type()) e["gguf_type"] = d.encoding.name();
    arr.push_back(std::move(e));
  }
  return j;
}

Plan plan_from_json(const nlohmann::json& j, const std::string& file) {
  JsonReader r{file, ""};
  if (!j.is_object()) r.fail("not a plan file (expected a JSON object)");
  if (r.string(j, "kind") != kKind) r.fail("not a plan file (kind is not \"ramq-plan\")");
  Plan p;
  if (j.contains("format")) {
    const auto format = parse_output_format(r.string(j, "format"));
    if (!format) r.fail("format must be \"mlx\" or \"gguf\"");
    p.format = *format;
  }
  read_policy(r, r.string(j, "policy"), p);
  p.keep_dtype = j.contains("keep_dtype") ? r.boolean(j, "keep_dtype") : false;
  if (j.contains("details")) p.details = j["details"];
  const auto& arr = r.field(j, "tensors");
  if (!arr.is_array()) r.fail("field 'tensors' must be an array");
  std::set<std::string> seen;
  for (const auto& e : arr) {
    JsonReader tr{file, ""};
    TensorDecision d;
    d.name = tr.string(e, "name");
    tr.tensor = d.name;
    if (!seen.insert(d.name).second) tr.fail("listed twice in the plan");
    d.shape = tr.shape_with_numel(e, d.numel);
    if (p.format == OutputFormat::Gguf) {
      const std::string type = tr.string(e, "gguf_type");
      const auto t = parse_ggml_type(type);
      if (!t) tr.fail("unknown GGUF type '" + type + "'");
      d.encoding = Encoding::ggml(*t);
    } else {
      read_mlx_choice(tr, e, d);
    }
    const std::int64_t bytes = tr.integer(e, "bytes");
    if (bytes < 0) tr.fail("bytes must not be negative");
    d.bytes = static_cast<std::uint64_t>(bytes);
    d.reason = e.contains("reason") && e["reason"].is_string() ? e["reason"].get<std::string>() : "";
    p.tensors.push_back(std::move(d));
  }
  std::sort(p.tensors.begin(), p.tensors.end(), [](const auto& x, const auto& y) { return x.name < y.name; });
  finalize_plan_totals(p);
  return p;
}

namespace {
void check_gguf_decision(const TensorDecision& d, const TensorInfo& t, const std::string& plan_file) {
  const auto& info = ggml_type_info(*d.encoding.ggml_type());
  if (t.shape.empty()) throw Error(plan_file, d.name, "a scalar tensor cannot be written to GGUF");
  // The GGUF writer keeps every 1-D tensor (norms, biases) in F32, as llama.cpp's converter does:
  // a plan that says otherwise would describe a file that is not written.
  if (t.shape.size() == 1 && *d.encoding.ggml_type() != GgmlType::F32)
    throw Error(plan_file, d.name,
                "a 1-D tensor is written as F32 in GGUF, but the plan gives it " + std::string(info.name));
  if (t.shape.back() % info.block_size != 0)
    throw Error(plan_file, d.name,
                "row length " + std::to_string(t.shape.back()) + " is not a multiple of " + std::string(info.name) +
                    "'s block of " + std::to_string(info.block_size));
  if (info.block_size > 1 && !is_float_weight_dtype(t.dtype))
    throw Error(plan_file, d.name, "cannot quantize a " + std::string(dtype_name(t.dtype)) + " tensor");
}
}  // namespace

void validate_plan_against_model(Plan& p, const ModelReader& model, const std::string& plan_file) {
  for (auto& d : p.tensors) {
    const TensorInfo* t = model.find(d.name);
    if (!t) throw Error(plan_file, d.name, "the plan names a tensor that the model does not have");
    if (t->shape != d.shape) throw Error(plan_file, d.name, "shape in the plan differs from the model's");
    if (d.encoding.ggml_type()) {
      check_gguf_decision(d, *t, plan_file);
      d.bytes = decision_bytes(d, t->dtype, p.keep_dtype);
      continue;
    }
    if (!d.quantized()) {
      d.bytes = decision_bytes(d, t->dtype, p.keep_dtype);
      continue;
    }
    if (!is_float_weight_dtype(t->dtype))
      throw Error(plan_file, d.name, "cannot quantize a " + std::string(dtype_name(t->dtype)) + " tensor");
    if (t->shape.size() != 2 && t->shape.size() != 3)
      throw Error(plan_file, d.name, "only 2-D weights and 3-D expert stacks can be quantized");
    if (!is_module_weight(d.name)) throw Error(plan_file, d.name, "only module weights (*.weight) can be quantized");
    if (!d.encoding.fits_rows(t->shape.back()))
      throw Error(plan_file, d.name,
                  "row length " + std::to_string(t->shape.back()) + " is not divisible by group " +
                      std::to_string(d.encoding.group()));
    d.bytes = decision_bytes(d, t->dtype, p.keep_dtype);
  }
  for (const auto& t : model.tensors())
    if (!p.find(t.name) && !is_left_out(model.config().model_type, t.name))
      throw Error(plan_file, t.name, "the plan has no decision for this tensor of the model");
  finalize_plan_totals(p);
}

}  // namespace ramq
