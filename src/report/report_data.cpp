// Gathers a report's facts: tensors (report_sources.cpp), scores and rate-distortion points from
// the analysis (or the manifest), the size baselines, evaluation and manifest.
#include "report/report_data.h"

#include <algorithm>
#include <map>

#include "ramq/error.h"
#include "ramq/ggml_types.h"
#include "ramq/json_io.h"
#include "ramq/manifest.h"
#include "ramq/plan.h"
#include "report/report_checks.h"
#include "report/report_sources.h"

namespace fs = std::filesystem;

namespace ramq::report {

namespace {

// "4-bit g64", "Q4_K", "F16" (the float copy).
std::string point_label(const Encoding& e) {
  if (const auto* a = e.affine()) return std::to_string(a->bits) + "-bit g" + std::to_string(a->group);
  return e.is_float_copy() ? std::string(ggml_type_info(GgmlType::F16).name) : e.name();
}

// The rate-distortion candidates of one tensor, as the analysis measured them
// (rate_distortion_from_json has checked the schema).
std::vector<RdPoint> rd_points(const TensorRd& rd) {
  std::vector<RdPoint> out;
  for (const auto& p : rd.points) {
    RdPoint r;
    r.bytes = p.bytes;
    r.error = p.rel_err;
    r.label = point_label(p.encoding);
    out.push_back(std::move(r));
  }
  return out;
}

// The candidate the plan chose: MLX bits/group, the GGUF type, or the 16-bit float copy for
// tensors kept in float (F16, or a BF16/F16 source kept as it is; an F32 copy has no point).
// -1 when there is none.
int chosen_point(const ReportTensor& t, std::optional<OutputFormat> format, const TensorRd& rd) {
  const ramq::RdPoint* p = nullptr;
  if (format == OutputFormat::Gguf) {
    const auto type = parse_ggml_type(t.encoding);
    if (type && (*type == GgmlType::F16 || *type == GgmlType::BF16)) {
      p = rd.find_float();
    } else if (type && *type != GgmlType::F32) {
      p = rd.find(Encoding::ggml(*type));
    }
  } else if (t.quantized()) {
    p = rd.find(Encoding::mlx_affine(t.bits, t.group));
  } else if (t.encoding != "F32") {
    p = rd.find_float();
  }
  if (p == nullptr) return -1;
  return static_cast<int>(p - rd.points.data());
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
std::uint64_t uniform4_bytes(const ModelAnalysis& a, std::optional<OutputFormat> format, bool keep_dtype) {
  PlanOptions o;
  o.policy = UniformPolicyOptions{4, 64, false};
  o.format = format.value_or(OutputFormat::Mlx);
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
  if (in.eval) check_eval_json(*in.eval, in.eval_file);
  if (in.manifest) check_manifest_json(*in.manifest, in.manifest_file);

  std::vector<std::string> sources;
  if (in.output) {
    d.tensors = tensors_from_output(*in.output, d.format);
    sources.push_back(in.output->path);
    if (plan) {
      if (plan->format != d.format)
        throw Error(in.plan_file, "", "the plan is for " + std::string(output_format_name(plan->format)) +
                                          " output but " + in.output->path + " is " +
                                          (d.format ? std::string(output_format_name(*d.format)) : "not quantized"));
      check_plan_against_output(d.tensors, *plan, in.plan_file, in.output->path, output_name_mapper(*in.output));
    }
  } else if (plan) {
    d.tensors = tensors_from_plan(*plan, dtypes);
    d.format = plan->format;
  } else {
    throw Error("", "", "nothing to report on: give the quantized output or a plan");
  }
  if (plan) {
    d.policy = plan_policy_label(*plan);
    sources.push_back(in.plan_file);
  }
  if (in.manifest && d.policy.empty() && in.manifest->contains("options") && (*in.manifest)["options"].contains("policy"))
    d.policy = (*in.manifest)["options"]["policy"].get<std::string>();
  for (std::size_t i = 0; i < sources.size(); ++i) d.sources += (i ? " + " : "") + sources[i];

  // Scores and rate-distortion points, by tensor name: from the analysis, else from the manifest.
  std::map<std::string, const TensorAnalysis*> analysis_entries;
  if (analysis)
    for (const auto& t : analysis->tensors) analysis_entries[t.name] = &t;
  std::map<std::string, const nlohmann::json*> manifest_entries;
  if (in.manifest && in.manifest->contains("tensors"))  // check_manifest_json has checked the types
    for (const auto& e : (*in.manifest)["tensors"]) manifest_entries[e["name"].get<std::string>()] = &e;
  for (auto& t : d.tensors) {
    t.role = tensor_site(t.name);
    if (const auto it = analysis_entries.find(t.name); it != analysis_entries.end()) {
      t.scores = it->second->scores;
      if (it->second->rd) {
        t.rd = rd_points(*it->second->rd);
        t.chosen_rd = chosen_point(t, d.format, *it->second->rd);
      }
    } else if (const auto m = manifest_entries.find(t.name); m != manifest_entries.end()) {
      if (m->second->contains("scores")) t.scores = scores_from_json((*m->second)["scores"]);
      if (t.reason.empty() && m->second->contains("reason")) t.reason = (*m->second)["reason"].get<std::string>();
    }
    if (t.chosen_rd >= 0) t.predicted_error = t.rd[static_cast<std::size_t>(t.chosen_rd)].error;
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
  if (f.eval) {
    in.eval = read_json_file(*f.eval);
    in.eval_file = f.eval->string();
  }
  std::optional<fs::path> manifest = f.manifest;
  if (!manifest && f.output) manifest = find_manifest(*f.output);
  if (manifest) {
    in.manifest = read_json_file(*manifest);
    in.manifest_file = manifest->string();
  }
  if (f.original_model) in.original_bytes = inspect_path(*f.original_model).total_bytes;
  return in;
}

}  // namespace ramq
