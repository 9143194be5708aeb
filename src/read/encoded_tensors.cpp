// Block-scaled input encodings, read as the float weights they encode.
//
// The conventions, checked against public code (read for facts only, nothing copied):
//  * FP8 with block scales: DeepSeek-V3's inference/kernel.py `weight_dequant` (as copied, with
//    attribution, in e.g. InternLM/xtuner xtuner/v1/float8/triton_kernels/per_block_dequant_gemm.py)
//    computes y = x * s with x the F8_E4M3 weight and s = weight_scale_inv[row / 128][col / 128],
//    scale grid ceil(M / 128) x ceil(N / 128) (edge blocks masked); transformers'
//    integrations/finegrained_fp8.py `Fp8Dequantize` multiplies by the scales the same way (with
//    leading dimensions for expert stacks) and takes exactly two tensors: FP8 weights are never
//    read without their scales there, so ramq rejects an F8_E4M3 tensor without one.
//  * MXFP4: transformers' integrations/mxfp4.py `convert_moe_packed_tensors` (from gpt-oss): the
//    blocks [..., G, 16] and scales [..., G] agree on all but the last dimension; byte b of a block
//    holds element 2b in its low nibble and 2b + 1 in its high nibble, the nibble indexes
//    [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, ..., -6], and the result is ldexp(value, scale - 127).
//    (transformers then transposes the last two dimensions into its GptOss parameter layout; ramq
//    keeps the stored [..., rows, cols] order, that of a Linear weight.)
#include "read/encoded_tensors.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>

#include "ramq/error.h"

namespace ramq::detail {

namespace {

using json = nlohmann::json;

constexpr std::int64_t kMaxBlock = std::int64_t{1} << 20;

std::string in_quotes(const std::string& s) { return "'" + s + "'"; }

// quantization_config.weight_block_size: [rows, cols] per scale, default [128, 128].
std::array<std::int64_t, 2> f8_block_size(const json& config, const std::string& config_file) {
  const auto q = config.find("quantization_config");
  if (q == config.end() || !q->is_object()) return {128, 128};
  const auto b = q->find("weight_block_size");
  if (b == q->end() || b->is_null()) return {128, 128};
  const auto ok = [](const json& v) { return v.is_number_integer() && v.get<std::int64_t>() > 0 && v.get<std::int64_t>() <= kMaxBlock; };
  if (!b->is_array() || b->size() != 2 || !ok((*b)[0]) || !ok((*b)[1]))
    throw Error(config_file, "", "quantization_config.weight_block_size must be two positive integers, not " + b->dump());
  return {(*b)[0].get<std::int64_t>(), (*b)[1].get<std::int64_t>()};
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

class Pairing {
 public:
  Pairing(std::vector<TensorInfo>& all, const json& config, const std::string& config_file)
      : all_(all), config_(config), config_file_(config_file) {
    for (std::size_t i = 0; i < all_.size(); ++i) index_[all_[i].name] = i;
  }

  void run() {
    for (auto& t : all_) {
      if (t.dtype == DType::F8_E4M3) pair_f8(t);
      else if (t.dtype == DType::U8 && t.name.ends_with("_blocks")) pair_mxfp4(t);
    }
    for (std::size_t i = 0; i < all_.size(); ++i)
      if (!used_.count(i)) check_not_orphan(all_[i]);
    std::vector<TensorInfo> kept;
    for (std::size_t i = 0; i < all_.size(); ++i)
      if (!used_.count(i)) kept.push_back(std::move(all_[i]));
    all_ = std::move(kept);
    std::sort(all_.begin(), all_.end(), [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
    for (std::size_t i = 1; i < all_.size(); ++i)
      if (all_[i].name == all_[i - 1].name)
        throw Error(all_[i].file, all_[i].name, "is both a tensor and the MXFP4 tensor its _blocks/_scales encode");
  }

 private:
  const TensorInfo* find(const std::string& name) const {
    const auto it = index_.find(name);
    return it == index_.end() ? nullptr : &all_[it->second];
  }

  void pair_f8(TensorInfo& t) {
    const TensorInfo* s = find(t.name + "_scale_inv");
    if (s == nullptr) s = find(t.name + "_scales_inv");
    if (s == nullptr)
      throw Error(t.file, t.name,
                  "is F8_E4M3 but the model has no " + in_quotes(t.name + "_scale_inv") +
                      " tensor: ramq reads FP8 weights only with their block scales");
    if (!is_float_weight_dtype(s->dtype))
      throw Error(s->file, s->name, "block-scale tensor has dtype " + std::string(dtype_name(s->dtype)) +
                                        " (F32, BF16 or F16 expected)");
    if (t.shape.size() < 2)
      throw Error(t.file, t.name, "F8_E4M3 tensor of shape " + shape_text(t.shape) + ": block scales need a matrix");
    if (block_[0] == 0) block_ = f8_block_size(config_, config_file_);
    std::vector<std::int64_t> want = t.shape;
    want[want.size() - 2] = ceil_div(want[want.size() - 2], block_[0]);
    want.back() = ceil_div(want.back(), block_[1]);
    if (s->shape != want)
      throw Error(s->file, s->name,
                  "has shape " + shape_text(s->shape) + " but weight " + in_quotes(t.name) + " of shape " +
                      shape_text(t.shape) + " in blocks of " + shape_text(block_) + " needs " + shape_text(want));
    t.block_rows = block_[0];
    t.block_cols = block_[1];
    become_encoded(t, SourceEncoding::F8Block, t.name, t.shape, *s);
  }

  void pair_mxfp4(TensorInfo& t) {
    const std::string base = t.name.substr(0, t.name.size() - 7);
    const TensorInfo* s = find(base + "_scales");
    if (s == nullptr)
      throw Error(t.file, t.name, "is MXFP4 blocks but the model has no " + in_quotes(base + "_scales") + " tensor");
    const auto& sh = t.shape;
    if (sh.size() < 3 || sh.back() != 16)
      throw Error(t.file, t.name, "MXFP4 blocks of shape " + shape_text(sh) + ": [..., rows, cols / 32, 16] expected");
    const std::vector<std::int64_t> want(sh.begin(), sh.end() - 1);
    if (s->dtype != DType::U8 || s->shape != want)
      throw Error(s->file, s->name,
                  "MXFP4 scales are " + std::string(dtype_name(s->dtype)) + " " + shape_text(s->shape) + " but blocks " +
                      in_quotes(t.name) + " " + shape_text(sh) + " need U8 " + shape_text(want));
    std::vector<std::int64_t> logical = want;
    logical.back() *= 32;
    become_encoded(t, SourceEncoding::Mxfp4, base, logical, *s);
  }

  void become_encoded(TensorInfo& t, SourceEncoding e, const std::string& name, std::vector<std::int64_t> shape,
                      const TensorInfo& scales) {
    used_.insert(static_cast<std::size_t>(&scales - all_.data()));
    t.scales = std::make_shared<const TensorInfo>(scales);
    t.stored_name = t.name;
    t.name = name;
    t.shape = std::move(shape);
    t.encoding = e;
    t.dtype = DType::BF16;
  }

  // A scale tensor whose codes are not in the model.
  void check_not_orphan(const TensorInfo& t) const {
    if (t.encoded()) return;
    for (const char* suffix : {"_scale_inv", "_scales_inv"})
      if (t.name.ends_with(suffix)) {
        const std::string w = t.name.substr(0, t.name.size() - std::string(suffix).size());
        throw Error(t.file, t.name, "is a block-scale tensor without its F8_E4M3 weight " + in_quotes(w));
      }
    if (t.dtype == DType::U8 && t.name.ends_with("_scales")) {
      const std::string b = t.name.substr(0, t.name.size() - 7) + "_blocks";
      throw Error(t.file, t.name, "is an MXFP4 scale tensor without its blocks " + in_quotes(b));
    }
  }

  std::vector<TensorInfo>& all_;
  const json& config_;
  const std::string& config_file_;
  std::map<std::string, std::size_t> index_;
  std::set<std::size_t> used_;  // indices of the scale tensors paired
  std::array<std::int64_t, 2> block_{0, 0};
};

struct Tables {
  std::array<float, 256> e4m3{}, e8m0{};
  std::array<float, 16> e2m1{};
  Tables() {
    for (int i = 0; i < 256; ++i) {
      e4m3[static_cast<std::size_t>(i)] = e4m3_to_f32(static_cast<std::uint8_t>(i));
      e8m0[static_cast<std::size_t>(i)] = e8m0_to_f32(static_cast<std::uint8_t>(i));
    }
    for (int i = 0; i < 16; ++i) e2m1[static_cast<std::size_t>(i)] = e2m1_to_f32(static_cast<std::uint8_t>(i));
  }
};
const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

void pair_encoded_tensors(std::vector<TensorInfo>& all, const json& config, const std::string& config_file) {
  Pairing(all, config, config_file).run();
}

EncodedView::EncodedView(const TensorInfo& t, std::span<const std::byte> codes, std::span<const std::byte> scales,
                         bool check_scales)
    : t_(t),
      codes_(reinterpret_cast<const unsigned char*>(codes.data())),
      scale_bytes_(reinterpret_cast<const unsigned char*>(scales.data())) {
  cols_ = static_cast<std::size_t>(t.shape.back());
  rows_ = static_cast<std::size_t>(t.shape[t.shape.size() - 2]);
  if (t.encoding == SourceEncoding::Transposed) return;
  const auto& s = *t.scales;
  if (t.encoding == SourceEncoding::F8Block) {
    f8_scales_.resize(static_cast<std::size_t>(s.numel()));
    convert_to_f32(s.dtype, scales, f8_scales_);
    scale_rows_ = static_cast<std::size_t>(s.shape[s.shape.size() - 2]);
    scale_cols_ = static_cast<std::size_t>(s.shape.back());
  }
  if (!check_scales) return;
  const std::size_t n = static_cast<std::size_t>(s.numel());
  for (std::size_t i = 0; i < n; ++i) {
    const float v = t.encoding == SourceEncoding::F8Block ? f8_scales_[i] : tables().e8m0[scale_bytes_[i]];
    if (std::isfinite(v)) continue;
    const char* what = t.encoding == SourceEncoding::Mxfp4 ? "the E8M0 NaN code 255" : std::isnan(v) ? "NaN" : "Inf";
    throw Error(s.file, s.name, std::string("block scale ") + std::to_string(i) + " is " + what);
  }
}

void EncodedView::decode(std::size_t first, std::span<float> out) const {
  switch (t_.encoding) {
    case SourceEncoding::F8Block: return decode_f8(first, out);
    case SourceEncoding::Mxfp4: return decode_mxfp4(first, out);
    case SourceEncoding::Transposed: return decode_transposed(first, out);
    case SourceEncoding::Plain: break;
  }
  throw std::logic_error("EncodedView: a plain tensor has nothing to decode");
}

// Row by row: within a row the scale row is fixed and the column block is c / block_cols.
void EncodedView::decode_f8(std::size_t first, std::span<float> out) const {
  const auto& lut = tables().e4m3;
  const auto br = static_cast<std::size_t>(t_.block_rows), bc = static_cast<std::size_t>(t_.block_cols);
  const auto phase = static_cast<std::size_t>(t_.block_row_phase);
  const std::size_t end = first + out.size();
  for (std::size_t i = first; i < end;) {
    const std::size_t row = i / cols_, stop = std::min(end, (row + 1) * cols_);
    const float* srow = f8_scales_.data() + ((row / rows_) * scale_rows_ + (row % rows_ + phase) / br) * scale_cols_;
    for (std::size_t c = i - row * cols_; i < stop; ++i, ++c) out[i - first] = lut[codes_[i]] * srow[c / bc];
  }
}

// Element i: byte i / 2 of the codes (low nibble for even i), scale byte i / 32.
void EncodedView::decode_mxfp4(std::size_t first, std::span<float> out) const {
  const auto& tb = tables();
  for (std::size_t k = 0; k < out.size(); ++k) {
    const std::size_t i = first + k;
    const unsigned byte = codes_[i / 2];
    out[k] = tb.e2m1[(i & 1) ? byte >> 4 : byte & 0xfu] * tb.e8m0[scale_bytes_[i / 32]];
  }
}

// Rows are gathered kTransposeRows at a time: for each column, those rows are one contiguous run
// of the stored column, converted at once and spread over the output rows.
void EncodedView::decode_transposed(std::size_t first, std::span<float> out) const {
  constexpr std::size_t kTransposeRows = 64;
  const std::size_t esize = dtype_size(t_.dtype), ld = static_cast<std::size_t>(t_.column_stride);
  const std::size_t end = first + out.size(), row_end = (end + cols_ - 1) / cols_;
  const auto* bytes = reinterpret_cast<const std::byte*>(codes_);
  std::array<float, kTransposeRows> run{};
  for (std::size_t r0 = first / cols_; r0 < row_end; r0 += kTransposeRows) {
    const std::size_t n = std::min(kTransposeRows, row_end - r0);
    for (std::size_t c = 0; c < cols_; ++c) {
      convert_to_f32(t_.dtype, std::span(bytes + (c * ld + r0) * esize, n * esize), std::span(run.data(), n));
      for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = (r0 + k) * cols_ + c;
        if (i >= first && i < end) out[i - first] = run[k];
      }
    }
  }
}

}  // namespace ramq::detail
