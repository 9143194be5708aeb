// The tensor list of a report: read from the output itself (MLX safetensors headers + the
// config.json quantization block, or GGUF tensor types), or from a plan, or both (checked
// against each other).
#include <algorithm>
#include <map>
#include <set>

#include "ramq/module_weight.h"
#include "ramq/gguf_names.h"
#include "ramq/model_family.h"
#include "ramq/error.h"
#include "ramq/plan.h"
#include "report/report_sources.h"

namespace ramq::report {

namespace {

std::int64_t product(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (const auto d : shape) n *= d;
  return n;
}

std::string mlx_encoding(int bits, int group) { return std::to_string(bits) + "-bit g" + std::to_string(group); }

int quant_int(const nlohmann::json& q, const char* key, const std::string& file, const std::string& tensor) {
  if (!q.is_object() || !q.contains(key) || !q[key].is_number_integer())
    throw Error(file, tensor, std::string("config.json's quantization block has no integer '") + key + "' for it");
  return q[key].get<int>();
}

std::vector<ReportTensor> tensors_from_safetensors(const InspectReport& r) {
  std::map<std::string, const InspectedTensor*> by_name;
  for (const auto& t : r.tensors) by_name[t.name] = &t;
  const nlohmann::json quant = r.metadata.is_object() && r.metadata.contains("quantization") ? r.metadata["quantization"]
                                                                                          : nlohmann::json();
  // Pass 1: packed weights and the scales/biases that belong to them.
  std::set<std::string> packed, companions;
  for (const auto& t : r.tensors) {
    if (t.type != "U32" || !t.name.ends_with(".weight")) continue;
    const std::string mod = t.name.substr(0, t.name.size() - 7);
    if (!by_name.count(mod + ".scales") || !by_name.count(mod + ".biases"))
      throw Error(r.path, t.name, "packed U32 weight without " + mod + ".scales and " + mod + ".biases");
    if (!quant.is_object())
      throw Error(r.path, t.name, "packed weight but no quantization block (give the MLX directory with its config.json)");
    packed.insert(t.name);
    companions.insert(mod + ".scales");
    companions.insert(mod + ".biases");
  }
  std::vector<ReportTensor> out;
  for (const auto& t : r.tensors) {
    if (companions.count(t.name)) continue;
    ReportTensor rt;
    rt.name = t.name;
    rt.shape = t.shape;
    rt.bytes = t.bytes;
    rt.encoding = t.type;
    if (packed.count(t.name)) {
      const std::string mod = t.name.substr(0, t.name.size() - 7);
      const nlohmann::json& q = quant.contains(mod) && quant[mod].is_object() ? quant[mod] : quant;
      rt.bits = quant_int(q, "bits", r.path, t.name);
      rt.group = quant_int(q, "group_size", r.path, t.name);
      const InspectedTensor& scales = *by_name.at(mod + ".scales");
      if (rt.bits <= 0 || rt.bits >= 16 || rt.group <= 0 || t.shape.empty() || scales.shape.empty() ||
          t.shape.back() * 32 % rt.bits != 0 || scales.shape.back() * rt.group != t.shape.back() * 32 / rt.bits)
        throw Error(r.path, t.name,
                    "packed shape and scales do not match " + mlx_encoding(rt.bits, rt.group) + " from config.json");
      rt.shape.back() = t.shape.back() * 32 / rt.bits;
      rt.bytes += scales.bytes + by_name.at(mod + ".biases")->bytes;
      rt.encoding = mlx_encoding(rt.bits, rt.group);
    }  // else kept in float: bits stay 16 (the plan's class), whatever the float type
    rt.numel = product(rt.shape);
    out.push_back(std::move(rt));
  }
  return out;
}

// The family of a GGUF file's general.architecture (with experts when it counts them).
const ModelFamily* gguf_family(const InspectReport& r) {
  const auto it = r.metadata.find("general.architecture");
  if (it == r.metadata.end() || !it->is_string()) return nullptr;
  const std::string arch = it->get<std::string>();
  return find_gguf_family(arch, r.metadata.contains(arch + ".expert_count"));
}

std::vector<ReportTensor> tensors_from_gguf(const InspectReport& r) {
  std::vector<ReportTensor> out;
  const ModelFamily* family = gguf_family(r);
  for (const auto& t : r.tensors) {
    ReportTensor rt;
    const auto hf = family != nullptr ? gguf_to_hf_tensor_name(*family, t.name) : gguf_to_hf_tensor_name(t.name);
    rt.name = hf.value_or(t.name);
    rt.shape = shape_from_gguf_ne(t.shape);
    rt.numel = product(rt.shape);
    rt.bytes = t.bytes;
    rt.encoding = t.type;
    const auto type = parse_ggml_type(t.type);
    if (!type) throw Error(r.path, t.name, "unknown ggml type " + t.type);
    rt.bits = ggml_type_info(*type).nominal_bits;
    out.push_back(std::move(rt));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

}  // namespace

std::vector<ReportTensor> tensors_from_output(const InspectReport& r, std::optional<OutputFormat>& format) {
  if (r.kind == InspectKind::Gguf) {
    format = OutputFormat::Gguf;
    return tensors_from_gguf(r);
  }
  auto tensors = tensors_from_safetensors(r);
  bool any_quantized = false;
  for (const auto& t : tensors) any_quantized = any_quantized || t.quantized();
  format = any_quantized || r.kind == InspectKind::MlxModel ? std::optional<OutputFormat>(OutputFormat::Mlx) : std::nullopt;
  return tensors;
}

std::vector<ReportTensor> tensors_from_plan(const Plan& p, const std::map<std::string, std::string>& source_dtypes) {
  std::vector<ReportTensor> out;
  for (const auto& d : p.tensors) {
    ReportTensor rt;
    rt.name = d.name;
    rt.shape = d.shape;
    rt.numel = d.numel;
    rt.bits = d.bits();
    rt.group = d.encoding.group();
    rt.bytes = d.bytes;
    rt.reason = d.reason;
    if (d.encoding.ggml_type()) {
      rt.encoding = d.encoding.name();
    } else if (d.quantized()) {
      rt.encoding = mlx_encoding(d.bits(), d.encoding.group());
    } else {
      const auto it = source_dtypes.find(d.name);
      rt.encoding = it == source_dtypes.end() ? "float" : (it->second == "F32" && !p.keep_dtype ? "F16" : it->second);
    }
    out.push_back(std::move(rt));
  }
  return out;
}

std::function<std::string(const std::string&)> output_name_mapper(const InspectReport& r) {
  const auto text = [&](const char* key) {
    const auto it = r.metadata.find(key);
    return it != r.metadata.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (r.kind == InspectKind::Gguf) {
    if (const ModelFamily* f = gguf_family(r); f != nullptr && f->moe != nullptr)
      return [](const std::string& n) { return expert_stack_key(n); };
  } else if (const ModelFamily* f = find_family(text("model_type")); f != nullptr && f->mlx_path != nullptr) {
    return [f](const std::string& n) { return f->mlx_path(n); };
  }
  return [](const std::string& n) { return n; };
}

void check_plan_against_output(std::vector<ReportTensor>& output, const Plan& p, const std::string& plan_file,
                               const std::string& output_name,
                               const std::function<std::string(const std::string&)>& output_name_of) {
  std::map<std::string, ReportTensor*> by_name;
  for (auto& t : output) by_name[t.name] = &t;
  std::map<std::string, std::uint64_t> planned_bytes;  // by output name: a stack sums its experts
  std::map<std::string, std::string> first_member;
  for (const auto& d : p.tensors) {
    const std::string name = output_name_of(d.name);
    // "": a tensor the MLX output leaves out by design (mlx_lm's sanitize drops it: mtp.*, a vision tower).
    if (name.empty()) continue;
    const auto it = by_name.find(name);
    if (it == by_name.end()) {
      // GGUF leaves out tensors llama.cpp does not use (rotary buffers); quantized ones must be there.
      if (d.quantized()) throw Error(plan_file, d.name, "is quantized in the plan but is not in " + output_name);
      continue;
    }
    ReportTensor& t = *it->second;
    const bool ggml = d.encoding.ggml_type().has_value();
    const std::string planned =
        ggml ? d.encoding.name() : (d.quantized() ? mlx_encoding(d.bits(), d.encoding.group()) : "16-bit float");
    const bool same_encoding =
        ggml ? t.encoding == planned : (d.bits() == t.bits && (!d.quantized() || d.encoding.group() == t.group));
    if (!same_encoding)
      throw Error(plan_file, d.name, "the plan says " + planned + " but " + output_name + " holds " + t.encoding);
    planned_bytes[name] += d.bytes;
    if (first_member.emplace(name, d.name).second) t.reason = d.reason;
  }
  for (const auto& [name, bytes] : planned_bytes) {
    const ReportTensor& t = *by_name.at(name);
    if (bytes != t.bytes)
      throw Error(plan_file, first_member.at(name),
                  "the plan says " + std::to_string(bytes) + " bytes" + (name == first_member.at(name) ? "" : " for " + name) +
                      " but " + output_name + " holds " + std::to_string(t.bytes));
  }
}

}  // namespace ramq::report
