// The facts a report shows, gathered from the output, the plan, the analysis, the evaluation
// and the manifest (src/report/report_data.cpp), independent of how they are drawn.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramq/analysis.h"
#include "ramq/encoding.h"
#include "ramq/report.h"
#include "report/tensor_role.h"

namespace ramq::report {

// One candidate encoding of a tensor from the analysis' rate-distortion data.
struct RdPoint {
  std::string label;  // "4-bit g64", "Q4_K", ...
  std::uint64_t bytes = 0;
  double error = 0;   // relative squared reconstruction error
};

struct ReportTensor {
  std::string name;
  std::vector<std::int64_t> shape;  // row-major (Hugging Face order)
  std::int64_t numel = 0;
  int bits = 16;                    // nominal bits; 16 = kept in float
  int group = 0;                    // MLX group size when quantized
  std::string encoding;             // "4-bit g64", "Q4_K", "F16", ...
  std::uint64_t bytes = 0;          // bytes in the output
  std::string reason;               // the plan's reason, when known
  std::optional<SwanScores> scores;
  std::optional<double> predicted_error;
  std::vector<RdPoint> rd;
  int chosen_rd = -1;  // index into rd of the encoding used, -1 if none matches
  TensorSite role;
  bool quantized() const { return bits < 16; }
  bool is_matrix() const { return shape.size() >= 2; }
};

struct ReportData {
  std::string title;
  std::optional<OutputFormat> format;  // nullopt: an unquantized checkpoint
  std::string policy;  // the plan's policy label; "" when unknown
  std::string sources; // what the tensors were read from, for the page
  std::vector<ReportTensor> tensors;  // sorted by name
  std::uint64_t total_bytes = 0;
  std::int64_t total_params = 0;
  double average_bits = 0;  // 8 * total_bytes / total_params
  std::uint64_t f16_bytes = 0;  // every tensor in 16 bits
  std::optional<std::uint64_t> original_bytes;
  std::optional<std::uint64_t> uniform4_bytes;  // ramq's uniform 4-bit (group 64 / Q4_K) policy
  bool has_scores = false, has_rd = false;
  std::optional<nlohmann::json> eval, manifest;
  std::vector<std::string> notes;  // what could not be shown, and why
};

// Throws ramq::Error on malformed inputs or when the plan and the output disagree.
ReportData build_report_data(const ReportInputs& in);

}  // namespace ramq::report
