// How one tensor is stored in an output: one value type for every format, used by the plan, the
// rate-distortion curves, the probe, the report and the manifest. Like MLX's quantize/dequantize
// with a `mode`, a variant is a value, not a fork: every encoding answers its name, its bytes for
// a shape, and encodes and decodes with the same code that writes the files.
//   - float copy: kept in float (MLX: the source dtype, F32 as F16 unless keep_dtype)
//   - MLX affine {bits, group} (include/ramq/mlx_affine.h)
//   - a ggml type, float types included (include/ramq/ggml_types.h)
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ramq/dtype.h"
#include "ramq/ggml_types.h"
#include "ramq/mlx_affine.h"

namespace ramq {

// The output formats ramq writes. Names ("mlx", "gguf") are parsed and printed only at the
// command line and in JSON.
enum class OutputFormat { Mlx, Gguf };
std::string_view output_format_name(OutputFormat f);
std::optional<OutputFormat> parse_output_format(std::string_view name);

// What the encoders need besides the values: the source dtype (MLX scales and biases are F16
// for F32 sources, else the source dtype; a float copy keeps the source dtype, F32 as F16 unless
// keep_dtype) and the MLX affine encoder.
struct EncodeContext {
  DType source = DType::F16;
  MlxEncoder mlx_encoder = MlxEncoder::Search;
  bool keep_dtype = false;
};

// The bytes of one encoded tensor, in the order the format stores them: MLX affine {biases,
// scales, packed uint32 codes}; a ggml type its rows of blocks; a float copy its values.
using EncodedParts = std::vector<std::vector<std::byte>>;

class Encoding {
 public:
  struct MlxAffine {
    int bits = 4;
    int group = 64;
    bool operator==(const MlxAffine&) const = default;
  };

  Encoding() = default;  // the float copy
  static Encoding float_copy() { return Encoding(); }
  static Encoding mlx_affine(int bits, int group) {
    Encoding e;
    e.kind_ = Kind::MlxAffine;
    e.affine_ = {bits, group};
    return e;
  }
  static Encoding ggml(GgmlType type) {
    Encoding e;
    e.kind_ = Kind::Ggml;
    e.type_ = type;
    return e;
  }

  bool is_float_copy() const { return kind_ == Kind::FloatCopy; }
  const MlxAffine* affine() const { return kind_ == Kind::MlxAffine ? &affine_ : nullptr; }
  std::optional<GgmlType> ggml_type() const {
    return kind_ == Kind::Ggml ? std::optional<GgmlType>(type_) : std::nullopt;
  }
  // MLX affine, or a ggml block type (not F32, F16 or BF16).
  bool quantized() const;
  // Nominal bits: MLX bits; a ggml type's nominal_bits (2 for Q2_K ... 8 for Q8_0, 16 float); 16.
  int bits() const;
  int group() const;  // MLX group size; 0 otherwise
  // "16-bit", "4-bit group 64", "Q4_K".
  std::string name() const;
  // Rows of `cols` elements can be stored (the group or block divides them).
  bool fits_rows(std::int64_t cols) const;
  // Output bytes of a tensor of this shape (row-major, rows of shape.back() elements; MLX affine:
  // packed uint32 codes plus a 16-bit scale and bias per group; a float copy: the dtype kept).
  std::uint64_t bytes(std::span<const std::int64_t> shape, DType source, bool keep_dtype) const;
  // Encodes rows x cols floats (row-major) into the format's bytes, and back. Throws ramq::Error
  // for values the encoding cannot hold.
  EncodedParts encode(const float* w, std::int64_t rows, std::int64_t cols, const EncodeContext& ctx) const;
  std::vector<float> decode(const EncodedParts& parts, std::int64_t rows, std::int64_t cols,
                            const EncodeContext& ctx) const;
  // decode(encode(w)): what a reader of the output gets back.
  std::vector<float> round_trip(const float* w, std::int64_t rows, std::int64_t cols, const EncodeContext& ctx) const;

  bool operator==(const Encoding& o) const {
    return kind_ == o.kind_ && (kind_ != Kind::MlxAffine || affine_ == o.affine_) && (kind_ != Kind::Ggml || type_ == o.type_);
  }

 private:
  // One of three kinds; only the kind's own field is meaningful.
  enum class Kind { FloatCopy, MlxAffine, Ggml };
  Kind kind_ = Kind::FloatCopy;
  MlxAffine affine_;
  GgmlType type_ = GgmlType::F16;
};

// ||w - y||^2 / ||w||^2 over n values, summed in index order in double (1 when w is all zero
// and y is not; 0 when both are).
double relative_squared_error(const float* w, const float* y, std::size_t n);

// The dtype of MLX scales and biases for a source dtype: F16 for F32 sources, else the source's.
DType mlx_scale_dtype(DType source);

}  // namespace ramq
