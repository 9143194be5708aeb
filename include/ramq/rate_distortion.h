// analyze stage: rate-distortion curves of a tensor. For every candidate encoding, the exact
// bytes it occupies in the output and the relative squared reconstruction error
// ||W - Q(W)||^2 / ||W||^2 it causes, measured with the encoders and decoders that write the
// file (mlx_quantize / gguf_encode_rows and their decoders) on a deterministic row sample.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramq/dtype.h"
#include "ramq/encoding.h"
#include "ramq/ggml_types.h"
#include "ramq/mlx_affine.h"

namespace ramq {

// Settings of the measurement (Options::rd).
struct RdOptions {
  bool enabled = true;          // measure the curves in `ramq analyze` (the budget policy needs them)
  std::int64_t max_rows = 64;   // rows measured per tensor: evenly spaced, all when there are fewer (0: all rows)
  // ... and at most about this many elements (but at least 8 rows); 0: no element limit.
  std::int64_t max_elements = std::int64_t{1} << 16;
  bool mlx = true;              // measure the MLX candidates
  bool gguf = true;             // measure the GGUF candidates
};

// One candidate encoding of a whole tensor: the float copy (the 16-bit rounding of the source),
// MLX affine or a ggml type.
struct RdPoint {
  Encoding encoding;
  std::uint64_t bytes = 0;         // output bytes of the whole tensor (the float copy: as F16)
  double rel_err = 0;              // ||W - Q(W)||^2 / ||W||^2 over the measured rows
};

struct TensorRd {
  std::int64_t rows = 0;          // rows of the tensor (experts x rows for a 3-D stack)
  std::int64_t sampled_rows = 0;  // rows the errors were measured on
  std::vector<RdPoint> points;    // Float first, then MLX by (bits, group), then GGUF in rd_gguf_types() order
  const RdPoint* find(const Encoding& e) const;
  const RdPoint* find_float() const { return find(Encoding::float_copy()); }
};

// The candidate sets: MLX bits {2, 3, 4, 5, 6, 8} x groups {32, 64, 128} (group dividing the
// row), the ggml types with an rd_order in the type table, in that order (Q2_K, Q3_K, Q4_K,
// Q5_K, Q6_K, Q8_0, IQ4_NL, Q4_0, Q4_1, Q5_0, Q5_1; block dividing the row), and the 16-bit
// float copy.
std::span<const int> rd_mlx_bits();
std::span<const int> rd_mlx_groups();
std::vector<GgmlType> rd_gguf_types();
// The candidates of one format (MLX affine or ggml types) for rows of `cols` elements.
std::vector<Encoding> rd_candidates(OutputFormat format, std::int64_t cols);

// Rows measured for a tensor of `rows` rows: all when rows <= max_rows, else max_rows rows
// evenly spaced, index floor((2i + 1) * rows / (2 * max_rows)) for i in [0, max_rows).
std::vector<std::int64_t> rd_sample_rows(std::int64_t rows, std::int64_t max_rows);
// The max_rows rd_sample_rows gets for rows of `cols` elements: opt.max_rows (0 = all), capped to
// max(8, ceil(max_elements / cols)) when max_elements > 0.
std::int64_t rd_rows_for(const RdOptions& opt, std::int64_t cols);


// Measures the curve of a row-major matrix of `rows` x `cols` floats (all experts of a 3-D stack
// stacked row-wise). source: the tensor's dtype (MLX scales use F16 for F32 sources, else the
// source dtype, as the writer does). Throws ramq::Error for NaN/Inf or values an encoding cannot
// hold. Deterministic: the candidates run on up to `threads` workers, each into its own slot.
TensorRd measure_rate_distortion(const float* w, std::int64_t rows, std::int64_t cols, DType source,
                                 const RdOptions& opt, MlxEncoder encoder, unsigned threads = 1);
// The same from the sampled rows alone: `sampled` holds rows rd_sample_rows(rows, rd_rows_for(opt,
// cols)) of the matrix, one after another (what the analysis reads when it needs nothing else).
TensorRd measure_rate_distortion_sampled(std::vector<float> sampled, std::int64_t rows, std::int64_t cols,
                                         DType source, const RdOptions& opt, MlxEncoder encoder,
                                         unsigned threads = 1);

// analysis.json form: {"rows", "sampled_rows", "points": [{"format": "mlx", "bits", "group",
// "bytes", "rel_err"} | {"format": "gguf", "type": "Q4_K", ...} | {"format": "float", "type":
// "F16", ...}]}.
nlohmann::json rate_distortion_to_json(const TensorRd& rd);
// Reads it back (throws ramq::Error naming the file and the tensor).
TensorRd rate_distortion_from_json(const nlohmann::json& j, const std::string& file, const std::string& tensor);

}  // namespace ramq
