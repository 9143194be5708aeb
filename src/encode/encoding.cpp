// The Encoding value type: names, bytes, and encode/decode through the codecs that write files.
#include "ramq/encoding.h"

#include <stdexcept>

#include "ramq/error.h"

namespace ramq {

namespace {

// The dtype a float copy is stored in.
DType float_copy_dtype(DType source, bool keep_dtype) {
  return source == DType::F32 && !keep_dtype ? DType::F16 : source;
}

std::vector<std::byte> float_bytes(DType t, const std::vector<float>& v) {
  std::vector<std::byte> out(v.size() * dtype_size(t));
  convert_from_f32(t, v, out);
  return out;
}

std::vector<float> floats_of(DType t, const std::vector<std::byte>& bytes) {
  std::vector<float> out(bytes.size() / dtype_size(t));
  convert_to_f32(t, bytes, out);
  return out;
}

std::vector<std::byte> packed_bytes(const std::vector<std::uint32_t>& packed) {
  std::vector<std::byte> words(packed.size() * 4);
  for (std::size_t i = 0; i < packed.size(); ++i)
    for (std::size_t b = 0; b < 4; ++b) words[4 * i + b] = static_cast<std::byte>((packed[i] >> (8 * b)) & 0xffu);
  return words;
}

std::vector<std::uint32_t> packed_words(const std::vector<std::byte>& bytes) {
  std::vector<std::uint32_t> words(bytes.size() / 4);
  for (std::size_t i = 0; i < words.size(); ++i)
    for (std::size_t b = 0; b < 4; ++b) words[i] |= static_cast<std::uint32_t>(bytes[4 * i + b]) << (8 * b);
  return words;
}

void check_parts(const EncodedParts& parts, std::size_t n) {
  if (parts.size() != n) throw std::invalid_argument("Encoding::decode: wrong number of parts");
}

}  // namespace

std::string_view output_format_name(OutputFormat f) { return f == OutputFormat::Gguf ? "gguf" : "mlx"; }

std::optional<OutputFormat> parse_output_format(std::string_view name) {
  if (name == "mlx") return OutputFormat::Mlx;
  if (name == "gguf") return OutputFormat::Gguf;
  return std::nullopt;
}

DType mlx_scale_dtype(DType source) { return source == DType::F32 ? DType::F16 : source; }

bool Encoding::quantized() const {
  if (affine()) return true;
  return ggml_type() && !ggml_type_info(*ggml_type()).is_float();
}

int Encoding::bits() const {
  if (affine()) return affine()->bits;
  return ggml_type() ? ggml_type_info(*ggml_type()).nominal_bits : 16;
}

int Encoding::group() const { return affine() ? affine()->group : 0; }

std::string Encoding::name() const {
  if (const MlxAffine* a = affine()) return std::to_string(a->bits) + "-bit group " + std::to_string(a->group);
  if (ggml_type()) return std::string(ggml_type_info(*ggml_type()).name);
  return "16-bit";
}

bool Encoding::fits_rows(std::int64_t cols) const {
  if (const MlxAffine* a = affine()) return cols % a->group == 0;
  if (ggml_type()) return cols % ggml_type_info(*ggml_type()).block_size == 0;
  return true;
}

std::uint64_t Encoding::bytes(std::span<const std::int64_t> shape, DType source, bool keep_dtype) const {
  std::uint64_t numel = 1;
  for (const std::int64_t d : shape) numel *= static_cast<std::uint64_t>(d);
  const std::uint64_t cols = shape.empty() ? 1 : static_cast<std::uint64_t>(shape.back());
  const std::uint64_t rows = cols > 0 ? numel / cols : 0;
  if (const MlxAffine* a = affine()) {
    const std::uint64_t words = cols * static_cast<std::uint64_t>(a->bits) / 32;
    const std::uint64_t groups = cols / static_cast<std::uint64_t>(a->group);
    return rows * (words * 4 + groups * 2 /*scale*/ * 2 /*bytes*/);
  }
  if (ggml_type()) return rows * ggml_row_bytes(*ggml_type(), static_cast<std::int64_t>(cols));
  return numel * dtype_size(float_copy_dtype(source, keep_dtype));
}

EncodedParts Encoding::encode(const float* w, std::int64_t rows, std::int64_t cols, const EncodeContext& ctx) const {
  const std::size_t n = static_cast<std::size_t>(rows * cols);
  if (const MlxAffine* a = affine()) {
    const DType sdt = mlx_scale_dtype(ctx.source);
    const MlxQuantized q = mlx_quantize(w, rows, cols, a->bits, a->group, sdt, ctx.mlx_encoder);
    return EncodedParts{float_bytes(sdt, q.biases), float_bytes(sdt, q.scales), packed_bytes(q.packed)};
  }
  if (ggml_type()) {
    std::vector<std::byte> out(ggml_row_bytes(*ggml_type(), cols) * static_cast<std::size_t>(rows));
    gguf_encode_rows(*ggml_type(), w, rows, cols, out.data());
    return EncodedParts{std::move(out)};
  }
  return EncodedParts{float_bytes(float_copy_dtype(ctx.source, ctx.keep_dtype), {w, w + n})};
}

std::vector<float> Encoding::decode(const EncodedParts& parts, std::int64_t rows, std::int64_t cols,
                                    const EncodeContext& ctx) const {
  if (const MlxAffine* a = affine()) {
    check_parts(parts, 3);
    MlxQuantized q;
    q.rows = rows;
    q.cols = cols;
    q.bits = a->bits;
    q.group = a->group;
    q.scale_dtype = mlx_scale_dtype(ctx.source);
    q.biases = floats_of(q.scale_dtype, parts[0]);
    q.scales = floats_of(q.scale_dtype, parts[1]);
    q.packed = packed_words(parts[2]);
    return mlx_dequantize(q);
  }
  check_parts(parts, 1);
  if (ggml_type()) {
    std::vector<float> y(static_cast<std::size_t>(rows * cols));
    gguf_decode_rows(*ggml_type(), parts[0].data(), rows, cols, y.data());
    return y;
  }
  return floats_of(float_copy_dtype(ctx.source, ctx.keep_dtype), parts[0]);
}

std::vector<float> Encoding::round_trip(const float* w, std::int64_t rows, std::int64_t cols,
                                        const EncodeContext& ctx) const {
  return decode(encode(w, rows, cols, ctx), rows, cols, ctx);
}

double relative_squared_error(const float* w, const float* y, std::size_t n) {
  double norm2 = 0.0, err = 0.0;
  for (std::size_t i = 0; i < n; ++i) norm2 += static_cast<double>(w[i]) * w[i];
  for (std::size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(y[i]) - w[i];
    err += d * d;
  }
  return norm2 > 0.0 ? err / norm2 : (err > 0.0 ? 1.0 : 0.0);
}

}  // namespace ramq
