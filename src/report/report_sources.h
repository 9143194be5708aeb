// Where a report's tensor list comes from: the output files, a plan, or both.
#pragma once

#include <optional>
#include <functional>
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

// The output's name of a plan tensor: the name itself, or for a routed expert of a mixture of
// experts the stacked tensor that holds it (the GGUF stack key, mlx_lm's switch_mlp path), from
// the family the output's metadata names.
std::function<std::string(const std::string&)> output_name_mapper(const InspectReport& r);

// Throws ramq::Error(plan_file, tensor, ...) where the plan and the output disagree on a
// tensor's encoding or bytes (a stack: its experts' bytes together); copies the plan's reasons
// into the output's tensors. `output_name_of` maps plan names to output names.
void check_plan_against_output(std::vector<ReportTensor>& output, const Plan& p, const std::string& plan_file,
                               const std::string& output_name,
                               const std::function<std::string(const std::string&)>& output_name_of);

}  // namespace ramq::report
