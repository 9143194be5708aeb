// Gathers a report's facts: tensors (report_sources.cpp), scores and rate-distortion points from
// the analysis (or the manifest), the size baselines, evaluation and manifest.
#include "report/report_data.h"

#include <algorithm>
#include <map>

#include "ramq/error.h"
#include "ramq/json_io.h"
#include "ramq/manifest.h"
#include "ramq/plan.h"
#include "report/report_sources.h"

namespace fs = std::filesystem;

namespace ramq::report {

namespace {

// The rate-distortion candidates of one analysis.json tensor entry ("rd" array); entries
// without a byte count and an error are skipped.
std::vector<RdPoint> parse_rd(const nlohmann::json& entry) {
  std::vector<RdPoint> out;
  if (!entry.is_object() || !entry.contains("rd") || !entry["rd"].is_array()) return out;
  for (const auto& c : entry["rd"]) {
    if (!c.is_object() || !c.contains("bytes") || !c["bytes"].is_number_unsigned()) continue;
    const nlohmann::json* err = nullptr;
    for (const char* k : {"error", "rel_error", "relative_error", "distortion"})
      if (c.contains(k) && c[k].is_number()) {
        err = &c[k];
        break;
      }
    if (err == nullptr) continue;
    RdPoint p;
    p.bytes = c["bytes"].get<std::uint64_t>();
    p.error = err->get<double>();
    for (const char* k : {"encoding", "gguf_type", "type"})
      if (c.contains(k) && c[k].is_string()) {
        p.label = c[k].get<std::string>();
        break;
      }
    if (p.label.empty() && c.contains("bits") && c["bits"].is_number_integer()) {
      const int bits = c["bits"].get<int>();
      const int group = c.contains("group") && c["group"].is_number_integer() ? c["group"].get<int>() : 0;
      p.label = bits >= 16 || group == 0 ? std::to_string(bits) + "-bit" : std::to_string(bits) + "-bit g" + std::to_string(group);
    }
    out.push_back(std::move(p));
  }
  return out;
}

// The candidate matching the encoding used: same label, else same bytes.
int chosen_point(const ReportTensor& t) {
  for (std::size_t i = 0; i < t.rd.size(); ++i)
    if (t.rd[i].label == t.encoding) return static_cast<int>(i);
  for (std::size_t i = 0; i < t.rd.size(); ++i)
    if (t.rd[i].bytes == t.bytes) return static_cast<int>(i);
  return -1;
}

std::optional<SwanScores> scores_from_json(const nlohmann::json& s) {
  if (!s.is_object()) return std::nullopt;
  SwanScores out;
  for (const auto& [key, field] : {std::pair<const char*, double*>{"s_svd", &out.s_svd}, {"s_kurt", &out.s_kurt},
                                   {"s_out", &out.s_out}, {"s_err", &out.s_err}, {"S", &out.composite}}) {
    if (!s.contains(key) || !s[key].is_number()) return std::nullopt;
    *field = s[key].get<double>();
  }
  return out;
}

// ramq's own uniform 4-bit policy (group 64 for MLX, Q4_K for GGUF) on the same tensors.
std::uint64_t uniform4_bytes(const ModelAnalysis& a, const std::string& format, bool keep_dtype) {
  Options o;
  o.policy = "uniform";
  o.uniform.bits = 4;
  o.uniform.group = 64;
  o.format = format == "gguf" ? "gguf" : "mlx";
  o.keep_dtype = keep_dtype;
  return make_plan(a, o).total_bytes;
}

// A stand-in analysis for the baseline when only the output or plan is known: shapes and
// float types, scored (= quantizable) exactly when the analysis would score them.
ModelAnalysis shapes_only_analysis(const std::vector<ReportTensor>& tensors) {
  ModelAnalysis a;
  for (const auto& t : tensors) {
    TensorAnalysis ta;
    ta.name = t.name;
    ta.shape = t.shape;
    ta.numel = t.numel;
    ta.dtype = t.quantized() || !parse_dtype(t.encoding) ? "F16" : t.encoding;
    ta.scored = (t.shape.size() == 2 || t.shape.size() == 3) && t.numel >= 1024;
    a.total_params += t.numel;
    a.tensors.push_back(std::move(ta));
  }
  return a;
}

}  // namespace

ReportData build_report_data(const ReportInputs& in) {
  ReportData d;
  d.title = in.title;
  std::optional<ModelAnalysis> analysis;
  std::map<std::string, std::string> dtypes;
  if (in.analysis) {
    analysis = analysis_from_json(*in.analysis, in.analysis_file);
    for (const auto& t : analysis->tensors) dtypes[t.name] = t.dtype;
  }
  std::optional<Plan> plan;
  if (in.plan) plan = plan_from_json(*in.plan, in.plan_file);

  std::vector<std::string> sources;
  if (in.output) {
    d.tensors = tensors_from_output(*in.output, d.format);
    sources.push_back(in.output->path);
    if (plan) {
      if (plan->format != d.format)
        throw Error(in.plan_file, "", "the plan is for " + plan->format + " output but " + in.output->path + " is " + d.format);
      check_plan_against_output(d.tensors, *plan, in.plan_file, in.output->path);
    }
  } else if (plan) {
    d.tensors = tensors_from_plan(*plan, dtypes);
    d.format = plan->format;
  } else {
    throw Error("", "", "nothing to report on: give the quantized output or a plan");
  }
  if (plan) {
    d.policy = plan->policy;
    sources.push_back(in.plan_file);
  }
  if (in.manifest && d.policy.empty() && in.manifest->contains("options") && (*in.manifest)["options"].is_object() &&
      (*in.manifest)["options"].contains("policy") && (*in.manifest)["options"]["policy"].is_string())
    d.policy = (*in.manifest)["options"]["policy"].get<std::string>();
  for (std::size_t i = 0; i < sources.size(); ++i) d.sources += (i ? " + " : "") + sources[i];

  // Scores and rate-distortion points, by tensor name.
  std::map<std::string, const nlohmann::json*> analysis_entries, manifest_entries;
  if (in.analysis && in.analysis->contains("tensors"))
    for (const auto& e : (*in.analysis)["tensors"])
      if (e.is_object() && e.contains("name") && e["name"].is_string()) analysis_entries[e["name"].get<std::string>()] = &e;
  if (in.manifest && in.manifest->is_object() && in.manifest->contains("tensors") && (*in.manifest)["tensors"].is_array())
    for (const auto& e : (*in.manifest)["tensors"])
      if (e.is_object() && e.contains("name") && e["name"].is_string()) manifest_entries[e["name"].get<std::string>()] = &e;
  std::map<std::string, const nlohmann::json*> plan_entries;
  if (in.plan)
    for (const auto& e : (*in.plan)["tensors"]) plan_entries[e["name"].get<std::string>()] = &e;
  for (auto& t : d.tensors) {
    t.role = classify_tensor(t.name);
    if (const auto it = analysis_entries.find(t.name); it != analysis_entries.end()) {
      if (it->second->contains("scores")) t.scores = scores_from_json((*it->second)["scores"]);
      t.rd = parse_rd(*it->second);
    } else if (const auto m = manifest_entries.find(t.name); m != manifest_entries.end()) {
      if (m->second->contains("scores")) t.scores = scores_from_json((*m->second)["scores"]);
      if (t.reason.empty() && m->second->contains("reason") && (*m->second)["reason"].is_string())
        t.reason = (*m->second)["reason"].get<std::string>();
    }
    t.chosen_rd = chosen_point(t);
    if (const auto p = plan_entries.find(t.name); p != plan_entries.end() && p->second->contains("predicted_error") &&
                                                  (*p->second)["predicted_error"].is_number())
      t.predicted_error = (*p->second)["predicted_error"].get<double>();
    else if (t.chosen_rd >= 0)
      t.predicted_error = t.rd[static_cast<std::size_t>(t.chosen_rd)].error;
    d.has_scores = d.has_scores || t.scores.has_value();
    d.has_rd = d.has_rd || !t.rd.empty();
  }

  if (analysis) {
    std::size_t matched = 0;
    for (const auto& t : d.tensors) matched += analysis_entries.count(t.name);
    if (matched == 0) throw Error(in.analysis_file, "", "describes none of the tensors of " + d.sources);
  }
  for (const auto& t : d.tensors) {
    d.total_bytes += t.bytes;
    d.total_params += t.numel;
  }
  d.f16_bytes = 2 * static_cast<std::uint64_t>(d.total_params);
  d.average_bits =
      d.total_params > 0 ? 8.0 * static_cast<double>(d.total_bytes) / static_cast<double>(d.total_params) : 0.0;
  if (in.original_bytes) {
    d.original_bytes = in.original_bytes;
  } else if (analysis) {
    std::uint64_t b = 0;
    for (const auto& t : analysis->tensors)
      b += static_cast<std::uint64_t>(t.numel) * dtype_size(parse_dtype(t.dtype).value_or(DType::F16));
    d.original_bytes = b;
  } else {
    d.notes.push_back("The original model's size is unknown (give the analysis or the original model).");
  }
  const bool keep_dtype = plan ? plan->keep_dtype : false;
  d.uniform4_bytes = uniform4_bytes(analysis ? *analysis : shapes_only_analysis(d.tensors), d.format, keep_dtype);
  if (!analysis && !plan) d.notes.push_back("Without the plan or analysis, the uniform 4-bit size assumes 16-bit sources.");
  if (!d.has_scores) d.notes.push_back("No SWAN scores: give the analysis (analysis.json) to see them.");
  if (!d.has_rd)
    d.notes.push_back("No rate-distortion data in the analysis: the predicted-error chart needs an analysis with \"rd\" entries.");
  d.eval = in.eval;
  d.manifest = in.manifest;
  return d;
}

}  // namespace ramq::report

namespace ramq {

std::optional<fs::path> find_manifest(const fs::path& output) {
  std::error_code ec;
  const fs::path p = manifest_path_for(output, fs::is_directory(output, ec));
  if (fs::is_regular_file(p, ec)) return p;
  return std::nullopt;
}

ReportInputs load_report_inputs(const ReportFiles& f) {
  ReportInputs in;
  if (f.output) {
    in.output = inspect_path(*f.output);
    in.title = f.output->filename().string();
    if (in.title.empty()) in.title = f.output->parent_path().filename().string();
  }
  if (f.plan) {
    in.plan = read_json_file(*f.plan);
    in.plan_file = f.plan->string();
    if (in.title.empty()) in.title = f.plan->filename().string();
  }
  if (f.analysis) {
    in.analysis = read_json_file(*f.analysis);
    in.analysis_file = f.analysis->string();
  }
  if (f.eval) in.eval = read_json_file(*f.eval);
  std::optional<fs::path> manifest = f.manifest;
  if (!manifest && f.output) manifest = find_manifest(*f.output);
  if (manifest) in.manifest = read_json_file(*manifest);
  if (f.original_model) in.original_bytes = inspect_path(*f.original_model).total_bytes;
  return in;
}

}  // namespace ramq
