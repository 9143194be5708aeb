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
constexpr std::array<GgmlType, 11> kGgufTypes = {GgmlType::Q2_K,   GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K,
                                                 GgmlType::Q6_K,   GgmlType::Q8_0, GgmlType::IQ4_NL, GgmlType::Q4_0,
                                                 GgmlType::Q4_1,   GgmlType::Q5_0, GgmlType::Q5_1};

// Squared error of `got` against `want`, summed in a fixed order.
double squared_error(const float* want, const float* got, std::size_t n) {
  double e = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(got[i]) - want[i];
    e += d * d;
  }
  return e;
}

double relative(double err, double norm2) { return norm2 > 0.0 ? err / norm2 : (err > 0.0 ? 1.0 : 0.0); }

const char* format_name(RdFormat f) {
  switch (f) {
    case RdFormat::Mlx: return "mlx";
    case RdFormat::Gguf: return "gguf";
    default: return "float";
  }
}

}  // namespace

std::span<const int> rd_mlx_bits() { return kMlxBits; }
std::span<const int> rd_mlx_groups() { return kMlxGroups; }
std::span<const GgmlType> rd_gguf_types() { return kGgufTypes; }

const RdPoint* TensorRd::find_float() const {
  for (const auto& p : points)
    if (p.format == RdFormat::Float) return &p;
  return nullptr;
}

const RdPoint* TensorRd::find_mlx(int bits, int group) const {
  for (const auto& p : points)
    if (p.format == RdFormat::Mlx && p.bits == bits && p.group == group) return &p;
  return nullptr;
}

const RdPoint* TensorRd::find_gguf(GgmlType t) const {
  for (const auto& p : points)
    if (p.format == RdFormat::Gguf && p.type == t) return &p;
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

std::uint64_t rd_mlx_bytes(std::int64_t rows, std::int64_t cols, int bits, int group) {
  const auto r = static_cast<std::uint64_t>(rows), c = static_cast<std::uint64_t>(cols);
  return r * (c * static_cast<std::uint64_t>(bits) / 8 + (c / static_cast<std::uint64_t>(group)) * 2 * 2);
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
  double norm2 = 0.0;
  for (const float v : x) norm2 += static_cast<double>(v) * v;
  const std::int64_t n_sampled = rd.sampled_rows;
  const auto total_rows = static_cast<std::uint64_t>(rows);

  // The candidates, in the order of the curve: the 16-bit copy, MLX by (bits, group), GGUF types.
  std::vector<RdPoint> points;
  {
    RdPoint f16;
    f16.bytes = total_rows * static_cast<std::uint64_t>(cols) * 2;
    points.push_back(f16);
  }
  if (opt.mlx)
    for (const int bits : kMlxBits)
      for (const int group : kMlxGroups) {
        if (cols % group != 0) continue;
        RdPoint p;
        p.format = RdFormat::Mlx;
        p.bits = bits;
        p.group = group;
        p.bytes = rd_mlx_bytes(rows, cols, bits, group);
        points.push_back(p);
      }
  if (opt.gguf)
    for (const GgmlType t : kGgufTypes) {
      if (cols % ggml_type_info(t).block_size != 0) continue;
      RdPoint p;
      p.format = RdFormat::Gguf;
      p.type = t;
      p.bits = 16;
      p.bytes = total_rows * ggml_row_bytes(t, cols);
      points.push_back(p);
    }
  const DType scale_dtype = source == DType::F32 ? DType::F16 : source;
  // Each candidate measured by one worker into its own point (errors: the lowest index wins).
  parallel_for(points.size(), threads, [&](std::size_t i) {
    RdPoint& p = points[i];
    std::vector<float> y(x.size());
    if (p.format == RdFormat::Float) {
      // The 16-bit copy: F16 rounding (exact for F16 and BF16 sources).
      for (std::size_t j = 0; j < x.size(); ++j) y[j] = source == DType::F32 ? round_to_dtype(x[j], DType::F16) : x[j];
    } else if (p.format == RdFormat::Mlx) {
      y = mlx_dequantize(mlx_quantize(x.data(), n_sampled, cols, p.bits, p.group, scale_dtype, encoder));
    } else {
      std::vector<std::byte> enc(ggml_row_bytes(p.type, cols) * static_cast<std::size_t>(n_sampled));
      gguf_encode_rows(p.type, x.data(), n_sampled, cols, enc.data());
      gguf_decode_rows(p.type, enc.data(), n_sampled, cols, y.data());
    }
    p.rel_err = relative(squared_error(x.data(), y.data(), x.size()), norm2);
  });
  rd.points = std::move(points);
  for (const auto& p : rd.points)
    if (!std::isfinite(p.rel_err)) throw Error("", "", "rate-distortion measurement gave a non-finite error");
  return rd;
}

nlohmann::json rate_distortion_to_json(const TensorRd& rd) {
  nlohmann::json pts = nlohmann::json::array();
  for (const auto& p : rd.points) {
    nlohmann::json e = {{"format", format_name(p.format)}, {"bytes", p.bytes}, {"rel_err", p.rel_err}};
    if (p.format == RdFormat::Mlx) {
      e["bits"] = p.bits;
      e["group"] = p.group;
    } else {
      e["type"] = std::string(ggml_type_info(p.type).name);
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
      p.format = RdFormat::Mlx;
      p.bits = static_cast<int>(r.integer(e, "bits"));
      p.group = static_cast<int>(r.integer(e, "group"));
      if (!mlx_bits_supported(p.bits) || !mlx_group_supported(p.group)) r.fail("rd: unsupported MLX bits/group");
    } else if (format == "gguf" || format == "float") {
      p.format = format == "gguf" ? RdFormat::Gguf : RdFormat::Float;
      const std::string type = r.string(e, "type");
      const auto t = parse_ggml_type(type);
      if (!t) r.fail("rd: unknown GGUF type '" + type + "'");
      p.type = *t;
    } else {
      r.fail("rd: unknown format '" + format + "' (expected mlx, gguf or float)");
    }
    rd.points.push_back(p);
  }
  return rd;
}

}  // namespace ramq
