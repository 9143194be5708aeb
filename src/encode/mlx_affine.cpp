#include "ramq/mlx_affine.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "encode/mlx_grid.h"
#include "encode/simd/kernels.h"
#include "ramq/error.h"

namespace ramq {

bool mlx_bits_supported(int bits) {
  return bits == 2 || bits == 3 || bits == 4 || bits == 5 || bits == 6 || bits == 8;
}

bool mlx_group_supported(int group) { return group == 32 || group == 64 || group == 128; }

namespace {

// Packs n values (n * bits a multiple of 32, every value < 2^bits) LSB-first into n * bits / 32
// words: whole runs of 32 values (= bits words) with the shifts known at compile time, then the
// rest through a 64-bit accumulator.
template <int B>
void pack_fixed(const std::uint8_t* q, std::size_t n, std::uint32_t* out) {
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32, out += B) {
    std::uint32_t w[B] = {};
#pragma GCC unroll 32
    for (int j = 0; j < 32; ++j) {
      const int bit = j * B, word = bit / 32, shift = bit % 32;
      const std::uint32_t v = q[i + static_cast<std::size_t>(j)];
      w[word] |= v << shift;
      if (shift + B > 32) w[word + 1] |= v >> (32 - shift);
    }
    for (int k = 0; k < B; ++k) out[k] = w[k];
  }
  std::uint64_t acc = 0;
  unsigned have = 0;
  for (; i < n; ++i) {
    acc |= static_cast<std::uint64_t>(q[i]) << have;
    have += B;
    if (have >= 32) {
      *out++ = static_cast<std::uint32_t>(acc & 0xffffffffu);
      acc >>= 32;
      have -= 32;
    }
  }
}

void pack_codes(const std::uint8_t* q, std::size_t n, int bits, std::uint32_t* out) {
  switch (bits) {
    case 2: return pack_fixed<2>(q, n, out);
    case 3: return pack_fixed<3>(q, n, out);
    case 4: return pack_fixed<4>(q, n, out);
    case 5: return pack_fixed<5>(q, n, out);
    case 6: return pack_fixed<6>(q, n, out);
    default: return pack_fixed<8>(q, n, out);
  }
}

}  // namespace

void mlx_pack(std::span<const std::uint8_t> q, int bits, std::span<std::uint32_t> out) {
  if (!mlx_bits_supported(bits)) throw std::invalid_argument("mlx_pack: unsupported bit width");
  const std::size_t ubits = static_cast<std::size_t>(bits);
  if ((q.size() * ubits) % 32 != 0) throw std::invalid_argument("mlx_pack: n * bits is not a multiple of 32");
  if (out.size() != q.size() * ubits / 32) throw std::invalid_argument("mlx_pack: output size mismatch");
  // Little-endian bit stream, LSB first. A value fits iff the OR of all values does.
  std::uint8_t all = 0;
  for (const std::uint8_t v : q) all = static_cast<std::uint8_t>(all | v);
  if (bits < 8 && (all >> bits) != 0) throw std::invalid_argument("mlx_pack: value does not fit in the bit width");
  pack_codes(q.data(), q.size(), bits, out.data());
}

void mlx_unpack(std::span<const std::uint32_t> words, int bits, std::span<std::uint8_t> q) {
  if (!mlx_bits_supported(bits)) throw std::invalid_argument("mlx_unpack: unsupported bit width");
  const std::size_t ubits = static_cast<std::size_t>(bits);
  if ((q.size() * ubits) % 32 != 0) throw std::invalid_argument("mlx_unpack: n * bits is not a multiple of 32");
  if (words.size() != q.size() * ubits / 32) throw std::invalid_argument("mlx_unpack: input size mismatch");
  const std::uint64_t mask = (std::uint64_t{1} << bits) - 1;
  std::uint64_t acc = 0;
  unsigned have = 0;
  std::size_t w = 0;
  for (auto& v : q) {
    if (have < static_cast<unsigned>(bits)) {
      acc |= static_cast<std::uint64_t>(words[w++]) << have;
      have += 32;
    }
    v = static_cast<std::uint8_t>(acc & mask);
    acc >>= bits;
    have -= static_cast<unsigned>(bits);
  }
}

namespace {

// 16-bit encodings of the scale dtype, as sign-magnitude integers.
std::uint16_t encode16(float f, DType t) { return t == DType::F16 ? f32_to_f16(f) : f32_to_bf16(f); }
float decode16(std::uint16_t h, DType t) { return t == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h); }

// The next representable value of dtype t above v (v already representable and finite).
float next_up16(float v, DType t) {
  std::uint16_t h = encode16(v, t);
  if (h == 0x8000u) {
    h = 0x0001u;  // -0 -> smallest positive subnormal
  } else if (h & 0x8000u) {
    --h;  // negative: smaller magnitude
  } else {
    ++h;  // positive: larger magnitude (may become inf; caller checks)
  }
  return decode16(h, t);
}
float next_down16(float v, DType t) { return -next_up16(-v, t); }

}  // namespace

namespace mlx_detail {

Grid minmax_grid(const float* x, int n, int qmax_i, DType scale_dtype) {
  const float qmax = static_cast<float>(qmax_i);
  float lo = x[0], hi = x[0];
  bool finite = true;
  for (int i = 0; i < n; ++i) {
    finite = finite && std::isfinite(x[i]);
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  if (!finite || !std::isfinite(lo) || !std::isfinite(hi)) throw Error("", "", "cannot quantize a group holding NaN or Inf");

  Grid g;
  g.bias = round_to_dtype(lo, scale_dtype);
  if (!std::isfinite(g.bias))
    throw Error("", "", "group minimum " + std::to_string(lo) + " is outside the range of the " +
                            std::string(dtype_name(scale_dtype)) + " scale dtype");
  if (hi > lo) {
    // Round the bias down so that the smallest value is covered (q = 0 never undershoots),
    // then round the scale to nearest and step it up while the top of the grid
    // (bias + qmax * scale) falls short of the largest value. Every value then lies inside
    // [bias, bias + qmax * scale] and rounding to the grid errs by at most scale / 2. This
    // also handles scales that round to zero or to a subnormal: they are bumped up until
    // they cover the range.
    if (g.bias > lo) g.bias = next_down16(g.bias, scale_dtype);
    g.scale = round_to_dtype((hi - g.bias) / qmax, scale_dtype);
    for (int step = 0; step < 64 && g.bias + qmax * g.scale < hi && std::isfinite(g.scale); ++step)
      g.scale = next_up16(g.scale, scale_dtype);
    if (!std::isfinite(g.bias) || !std::isfinite(g.scale) || g.bias + qmax * g.scale < hi)
      throw Error("", "", "group range [" + std::to_string(lo) + ", " + std::to_string(hi) +
                              "] is outside the range of the " + std::string(dtype_name(scale_dtype)) + " scale dtype");
  }
  return g;
}

}  // namespace mlx_detail

namespace {

// Rows are encoded in batches of whole rows of at most this many elements (at least one row):
// the codes of a batch are kept until its rows are packed.
constexpr std::int64_t kBatchElements = std::int64_t{1} << 16;

MlxQuantized quantize_groups(const float* w, std::int64_t rows, std::int64_t cols, int bits, int group,
                             DType scale_dtype, bool search) {
  if (!mlx_bits_supported(bits)) throw std::invalid_argument("mlx_quantize: unsupported bit width");
  if (!mlx_group_supported(group)) throw std::invalid_argument("mlx_quantize: unsupported group size");
  if (scale_dtype != DType::F16 && scale_dtype != DType::BF16)
    throw std::invalid_argument("mlx_quantize: scale dtype must be F16 or BF16");
  if (rows < 0 || cols < 0 || cols % group != 0)
    throw std::invalid_argument("mlx_quantize: columns must be a multiple of the group size");

  MlxQuantized r;
  r.rows = rows;
  r.cols = cols;
  r.bits = bits;
  r.group = group;
  r.scale_dtype = scale_dtype;
  const std::size_t ucols = static_cast<std::size_t>(cols);
  const std::size_t urows = static_cast<std::size_t>(rows);
  const std::size_t groups_per_row = ucols / static_cast<std::size_t>(group);
  const std::size_t words_per_row = ucols * static_cast<std::size_t>(bits) / 32;
  r.packed.assign(urows * words_per_row, 0);
  r.scales.assign(urows * groups_per_row, 0.0f);
  r.biases.assign(urows * groups_per_row, 0.0f);
  if (rows == 0 || cols == 0) return r;

  const int qmax = (1 << bits) - 1;
  const simd::Kernels& kernels = simd::kernels();
  const std::int64_t batch_rows = std::max<std::int64_t>(1, kBatchElements / cols);
  std::vector<std::uint8_t> q(static_cast<std::size_t>(std::min(batch_rows, rows)) * ucols);
  for (std::int64_t row0 = 0; row0 < rows; row0 += batch_rows) {
    const std::int64_t nr = std::min(batch_rows, rows - row0);
    const std::size_t g0 = static_cast<std::size_t>(row0) * groups_per_row;
    const float* x = w + static_cast<std::size_t>(row0) * ucols;
    const std::int64_t bad = kernels.mlx_groups(x, nr * static_cast<std::int64_t>(groups_per_row), group, qmax,
                                                scale_dtype, search, r.scales.data() + g0, r.biases.data() + g0,
                                                q.data());
    if (bad >= 0) {  // the scalar min/max grid throws the error naming the problem
      mlx_detail::minmax_grid(x + bad * group, group, qmax, scale_dtype);
      throw Error("", "", "cannot quantize group " + std::to_string(g0 + static_cast<std::size_t>(bad)));
    }
    for (std::int64_t rr = 0; rr < nr; ++rr) {
      pack_codes(q.data() + static_cast<std::size_t>(rr) * ucols, ucols, bits,
                 r.packed.data() + static_cast<std::size_t>(row0 + rr) * words_per_row);
    }
  }
  return r;
}

}  // namespace

MlxQuantized mlx_quantize(const float* w, std::int64_t rows, std::int64_t cols, int bits, int group,
                          DType scale_dtype) {
  return quantize_groups(w, rows, cols, bits, group, scale_dtype, true);
}

MlxQuantized mlx_quantize_minmax(const float* w, std::int64_t rows, std::int64_t cols, int bits, int group,
                                 DType scale_dtype) {
  return quantize_groups(w, rows, cols, bits, group, scale_dtype, false);
}

MlxQuantized mlx_quantize(const float* w, std::int64_t rows, std::int64_t cols, int bits, int group,
                          DType scale_dtype, MlxEncoder encoder) {
  return encoder == MlxEncoder::MinMax ? mlx_quantize_minmax(w, rows, cols, bits, group, scale_dtype)
                                       : mlx_quantize(w, rows, cols, bits, group, scale_dtype);
}

std::string_view mlx_encoder_name(MlxEncoder e) { return e == MlxEncoder::MinMax ? "minmax" : "search"; }

std::optional<MlxEncoder> parse_mlx_encoder(std::string_view name) {
  if (name == "search") return MlxEncoder::Search;
  if (name == "minmax") return MlxEncoder::MinMax;
  return std::nullopt;
}

std::vector<float> mlx_dequantize(const MlxQuantized& q) {
  const std::size_t ucols = static_cast<std::size_t>(q.cols);
  const std::size_t urows = static_cast<std::size_t>(q.rows);
  const std::size_t ugroup = static_cast<std::size_t>(q.group);
  const std::size_t groups_per_row = ucols / ugroup;
  const std::size_t words_per_row = ucols * static_cast<std::size_t>(q.bits) / 32;
  if (q.packed.size() != urows * words_per_row || q.scales.size() != urows * groups_per_row ||
      q.biases.size() != urows * groups_per_row)
    throw std::invalid_argument("mlx_dequantize: inconsistent sizes");
  std::vector<float> out(urows * ucols);
  std::vector<std::uint8_t> v(ucols);
  for (std::size_t row = 0; row < urows; ++row) {
    mlx_unpack(std::span<const std::uint32_t>(q.packed.data() + row * words_per_row, words_per_row), q.bits, v);
    for (std::size_t c = 0; c < ucols; ++c) {
      const std::size_t gi = row * groups_per_row + c / ugroup;
      out[row * ucols + c] = q.scales[gi] * static_cast<float>(v[c]) + q.biases[gi];
    }
  }
  return out;
}

}  // namespace ramq
