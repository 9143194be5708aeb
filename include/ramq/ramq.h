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

// make_plan, with the budget policy's target covering the whole output: the container the writer
// adds to the plan's tensor bytes (GGUF header, metadata and tokenizer, padding; safetensors
// headers) is measured on `model` and subtracted from the target. Without a model (nullptr) the
// budget covers tensor bytes only, and plan.json's details say so.
Plan plan_for_model(const ModelAnalysis& analysis, const Options& opt, const ModelReader* model);
// plan_for_model with the model directory the analysis records, when it can be read.
Plan plan_for_analysis(const ModelAnalysis& analysis, const Options& opt);
// Bytes of the model files the writer would produce for `plan` (GGUF: the whole file; MLX: the
// safetensors shards), computed without encoding.
std::uint64_t output_file_bytes(const ModelReader& model, const Plan& plan, const Options& opt);

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
