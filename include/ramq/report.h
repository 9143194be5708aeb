// report stage: one self-contained HTML page about a quantized model: where the bits went
// (heat map of bits per tensor, bytes by role and by bit width), what it cost (size against the
// original, 16-bit and uniform 4-bit), the sensitivity scores behind the decisions, predicted
// error against bytes when the analysis has rate-distortion data, evaluation results and the
// audit manifest when given. Charts are inline SVG written by ramq; the page loads nothing, works
// offline and with scripts disabled (a small inline script only adds a hover panel), and is
// well-formed XML (XHTML-compatible markup). The same inputs always give the same bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "ramq/inspect.h"

namespace ramq {

// Everything a report can show; every part is optional, but the tensors come from the output
// or the plan (at least one is required). When both are given they must agree (bits, group or
// type, and bytes of every tensor), else ramq::Error names the plan file and the tensor.
struct ReportInputs {
  std::string title;                            // e.g. the output's path
  std::optional<InspectReport> output;          // the quantized model read back (MLX directory or GGUF)
  std::optional<nlohmann::json> plan;           // plan.json
  std::string plan_file = "plan.json";          // its name, for error messages
  // analysis.json: SWAN scores and source dtypes. The per-tensor rate-distortion curves ("rd",
  // see rate_distortion.h) add the predicted-error-vs-bytes chart and each tensor's predicted
  // error: the candidate matching the plan's decision (MLX bits/group, the GGUF type, or the
  // 16-bit float copy for tensors kept in F16/BF16).
  std::optional<nlohmann::json> analysis;
  std::string analysis_file = "analysis.json";   // its name, for error messages
  // The object `ramq eval --json` prints, and ramq-manifest.json: fields of the wrong type are a
  // ramq::Error naming the file and the field.
  std::optional<nlohmann::json> eval;
  std::string eval_file = "eval.json";
  std::optional<nlohmann::json> manifest;
  std::string manifest_file = "ramq-manifest.json";
  std::optional<std::uint64_t> original_bytes;   // tensor bytes of the source model
};

// Paths from the command line, read into ReportInputs (the manifest is looked up beside the
// output when not given).
struct ReportFiles {
  std::optional<std::filesystem::path> output, plan, analysis, eval, manifest, original_model;
};
ReportInputs load_report_inputs(const ReportFiles& files);

// The manifest that belongs to an output (OUT/ramq-manifest.json or OUT.ramq-manifest.json), if
// it exists.
std::optional<std::filesystem::path> find_manifest(const std::filesystem::path& output);

std::string render_report_html(const ReportInputs& in);

struct ReportSummary {
  std::size_t tensors = 0, quantized = 0;
  std::uint64_t total_bytes = 0;
  std::int64_t total_params = 0;
  double average_bits = 0;
};
// Renders and writes the page atomically.
ReportSummary write_report(const std::filesystem::path& html_file, const ReportInputs& in);

}  // namespace ramq
