// Rate-distortion curves: every candidate encoding of a tensor, its output bytes and its
// relative squared error, measured by running the writer's own encoders and decoders on a
// deterministic sample of rows.
#include "ramq/rate_distortion.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "ramq/error.h"
#include "ramq/json_io.h"
#include "ramq/parallel.h"

namespace ramq {

namespace {

constexpr std::array<int, 6> kMlxBits = {2, 3, 4, 5, 6, 8};
constexpr std::array<int, 3> kMlxGroups = {32, 64, 128};

// analysis.json's "format" of a point: "float", "mlx" or "gguf".
std::string point_format_name(const Encoding& e) {
  if (e.is_float_copy()) return "float";
  return std::string(output_format_name(e.affine() ? OutputFormat::Mlx : OutputFormat::Gguf));
}

}  // namespace

std::span<const int> rd_mlx_bits() { return kMlxBits; }
std::span<const int> rd_mlx_groups() { return kMlxGroups; }

std::vector<GgmlType> rd_gguf_types() {
  std::vector<const GgmlTypeInfo*> rows;
  for (const auto& info : ggml_types())
    if (info.rd_order > 0) rows.push_back(&info);
  std::sort(rows.begin(), rows.end(), [](auto* a, auto* b) { return a->rd_order < b->rd_order; });
  std::vector<GgmlType> types;
  for (const auto* info : rows) types.push_back(info->type);
  return types;
}

std::vector<Encoding> rd_candidates(OutputFormat format, std::int64_t cols) {
  std::vector<Encoding> out;
  if (format == OutputFormat::Mlx) {
    for (const int bits : kMlxBits)
      for (const int group : kMlxGroups)
        if (cols % group == 0) out.push_back(Encoding::mlx_affine(bits, group));
  } else {
    for (const GgmlType t : rd_gguf_types())
      if (cols % ggml_type_info(t).block_size == 0) out.push_back(Encoding::ggml(t));
  }
  return out;
}

const RdPoint* TensorRd::find(const Encoding& e) const {
  for (const auto& p : points)
    if (p.encoding == e) return &p;
  return nullptr;
}
std::vector<std::int64_t> rd_sample_rows(std::int64_t rows, std::int64_t max_rows) {
  std::vector<std::int64_t> idx;
  if (rows <= 0) return idx;
  if (max_rows <= 0 || rows <= max_rows) {
    for (std::int64_t r = 0; r < rows; ++r) idx.push_back(r);
    return idx;
  }
  for (std::int64_t i = 0; i < max_rows; ++i) idx.push_back((2 * i + 1) * rows / (2 * max_rows));
  return idx;
}

std::int64_t rd_rows_for(const RdOptions& opt, std::int64_t cols) {
  if (opt.max_rows <= 0) return 0;
  if (opt.max_elements <= 0 || cols <= 0) return opt.max_rows;
  const std::int64_t by_elements = std::max<std::int64_t>(8, (opt.max_elements + cols - 1) / cols);
  return std::min(opt.max_rows, by_elements);
}

TensorRd measure_rate_distortion(const float* w, std::int64_t rows, std::int64_t cols, DType source,
                                 const RdOptions& opt, MlxEncoder encoder, unsigned threads) {
  const auto sample = rd_sample_rows(rows, rd_rows_for(opt, cols));
  const std::size_t ucols = static_cast<std::size_t>(cols);
  std::vector<float> x(sample.size() * ucols);
  for (std::size_t i = 0; i < sample.size(); ++i)
    std::copy_n(w + static_cast<std::size_t>(sample[i]) * ucols, ucols, x.begin() + static_cast<std::ptrdiff_t>(i * ucols));
  return measure_rate_distortion_sampled(std::move(x), rows, cols, source, opt, encoder, threads);
}

TensorRd measure_rate_distortion_sampled(std::vector<float> x, std::int64_t rows, std::int64_t cols, DType source,
                                         const RdOptions& opt, MlxEncoder encoder, unsigned threads) {
  TensorRd rd;
  rd.rows = rows;
  const std::size_t ucols = static_cast<std::size_t>(cols);
  rd.sampled_rows = static_cast<std::int64_t>(rd_sample_rows(rows, rd_rows_for(opt, cols)).size());
  if (x.size() != static_cast<std::size_t>(rd.sampled_rows) * ucols)
    throw std::invalid_argument("measure_rate_distortion_sampled: wrong number of sampled values");
  const std::int64_t shape[2] = {rows, cols};

  // The candidates, in the order of the curve: the 16-bit copy, MLX by (bits, group), GGUF types.
  std::vector<Encoding> encodings = {Encoding::float_copy()};
  for (const OutputFormat f : {OutputFormat::Mlx, OutputFormat::Gguf}) {
    if (!(f == OutputFormat::Mlx ? opt.mlx : opt.gguf)) continue;
    for (const Encoding& e : rd_candidates(f, cols)) encodings.push_back(e);
  }
  std::vector<RdPoint> points(encodings.size());
  const EncodeContext ctx{source, encoder, /*keep_dtype=*/false};
  // Each candidate measured by one worker into its own point (errors: the lowest index wins).
  parallel_for(points.size(), threads, [&](std::size_t i) {
    RdPoint& p = points[i];
    p.encoding = encodings[i];
    // The float copy counts as F16 (exact for F16 and BF16 sources, F16 rounding of F32 ones);
    // the other encodings' bytes do not depend on the source.
    p.bytes = encodings[i].bytes(shape, DType::F16, false);
    const std::vector<float> y = encodings[i].round_trip(x.data(), rd.sampled_rows, cols, ctx);
    p.rel_err = relative_squared_error(x.data(), y.data(), x.size());
  });
  rd.points = std::move(points);
  for (const auto& p : rd.points)
    if (!std::isfinite(p.rel_err)) throw Error("", "", "rate-distortion measurement gave a non-finite error");
  return rd;
}

nlohmann::json rate_distortion_to_json(const TensorRd& rd) {
  nlohmann::json pts = nlohmann::json::array();
  for (const auto& p : rd.points) {
    nlohmann::json e = {{"format", point_format_name(p.encoding)}, {"bytes", p.bytes}, {"rel_err", p.rel_err}};
    if (const auto* a = p.encoding.affine()) {
      e["bits"] = a->bits;
      e["group"] = a->group;
    } else {
      e["type"] = p.encoding.is_float_copy() ? "F16" : p.encoding.name();
    }
    pts.push_back(std::move(e));
  }
  return {{"rows", rd.rows}, {"sampled_rows", rd.sampled_rows}, {"points", std::move(pts)}};
}

TensorRd rate_distortion_from_json(const nlohmann::json& j, const std::string& file, const std::string& tensor) {
  const JsonReader r{file, tensor};
  if (!j.is_object()) r.fail("field 'rd' must be an object");
  TensorRd rd;
  rd.rows = r.integer(j, "rows");
  rd.sampled_rows = r.integer(j, "sampled_rows");
  if (rd.rows < 0 || rd.sampled_rows < 0 || rd.sampled_rows > rd.rows) r.fail("rd: bad row counts");
  const auto& pts = r.field(j, "points");
  if (!pts.is_array()) r.fail("rd: field 'points' must be an array");
  for (const auto& e : pts) {
    RdPoint p;
    const std::string format = r.string(e, "format");
    const std::int64_t bytes = r.integer(e, "bytes");
    if (bytes < 0) r.fail("rd: bytes must not be negative");
    p.bytes = static_cast<std::uint64_t>(bytes);
    p.rel_err = r.number(e, "rel_err");
    if (!(p.rel_err >= 0.0) || !std::isfinite(p.rel_err)) r.fail("rd: rel_err must be a finite number >= 0");
    if (format == "mlx") {
      const int bits = static_cast<int>(r.integer(e, "bits"));
      const int group = static_cast<int>(r.integer(e, "group"));
      if (!mlx_bits_supported(bits) || !mlx_group_supported(group)) r.fail("rd: unsupported MLX bits/group");
      p.encoding = Encoding::mlx_affine(bits, group);
    } else if (format == "gguf" || format == "float") {
      const std::string type = r.string(e, "type");
      const auto t = parse_ggml_type(type);
      if (!t) r.fail("rd: unknown GGUF type '" + type + "'");
      p.encoding = format == "gguf" ? Encoding::ggml(*t) : Encoding::float_copy();
    } else {
      r.fail("rd: unknown format '" + format + "' (expected mlx, gguf or float)");
    }
    rd.points.push_back(p);
  }
  return rd;
}

}  // namespace ramq
