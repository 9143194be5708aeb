// libramq: the pipeline read -> analyze -> plan -> encode -> write behind a few calls.
// The `ramq` command-line tool is a thin shell over these.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ramq/analysis.h"
#include "ramq/error.h"
#include "ramq/eval.h"
#include "ramq/mlx_writer.h"
#include "ramq/options.h"
#include "ramq/plan.h"
#include "ramq/safetensors.h"
#include "ramq/version.h"

namespace ramq {

// Analyzes a Hugging Face model directory.
ModelAnalysis analyze_directory(const std::filesystem::path& model_dir, const Options& opt);

// Reads analysis.json / plan.json (validated; errors name the file and the tensor).
ModelAnalysis load_analysis(const std::filesystem::path& path);
Plan load_plan(const std::filesystem::path& path);

// Writes JSON with stable formatting (2-space indent, sorted keys, trailing newline), atomically.
void save_json(const std::filesystem::path& path, const nlohmann::json& j);

struct QuantizeRequest {
  std::filesystem::path model_dir;
  std::filesystem::path output;
  std::optional<std::filesystem::path> plan_file;      // use this plan instead of analyze + plan
  std::optional<std::filesystem::path> save_analysis;  // also write the analysis here
  std::optional<std::filesystem::path> save_plan;      // also write the plan used here
  bool dry_run = false;  // stop after the plan (result.written stays empty): no model is written
  // The command line (argv) recorded in the audit manifest (ramq-manifest.json); see manifest.h.
  std::vector<std::string> command_line;
};

struct QuantizeResult {
  Plan plan;
  std::optional<ModelAnalysis> analysis;  // the analysis the plan came from (none with plan_file)
  WriteSummary written;
};

QuantizeResult quantize(const QuantizeRequest& req, const Options& opt);

}  // namespace ramq
