// Where a report's tensor list comes from: the output files, a plan, or both.
#pragma once

#include <optional>
#include <map>
#include <string>
#include <vector>

#include "ramq/inspect.h"
#include "ramq/plan.h"
#include "report/report_data.h"

namespace ramq::report {

// From the output as read back by inspect_path: an MLX directory (packed weights joined with
// their scales and biases, bits and group from config.json) or a GGUF file (names mapped back
// to Hugging Face names where llama.cpp has one). Sets format (nullopt: an unquantized checkpoint).
std::vector<ReportTensor> tensors_from_output(const InspectReport& r, std::optional<OutputFormat>& format);

// From a plan; source_dtypes (tensor -> dtype name, from the analysis) names kept tensors' type.
std::vector<ReportTensor> tensors_from_plan(const Plan& p, const std::map<std::string, std::string>& source_dtypes);

// Throws ramq::Error(plan_file, tensor, ...) where the plan and the output disagree on a
// tensor's encoding or bytes; copies the plan's reasons into the output's tensors.
void check_plan_against_output(std::vector<ReportTensor>& output, const Plan& p, const std::string& plan_file,
                               const std::string& output_name);

}  // namespace ramq::report
