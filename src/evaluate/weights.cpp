// Weight sources for evaluation: Hugging Face safetensors directories and MLX output directories
// (dequantized with the MLX affine rule of include/ramq/mlx_affine.h), read from the mapped
// files a row range at a time.
#include "evaluate/weights.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <utility>

#include "ramq/error.h"
#include "ramq/mlx_affine.h"
#include "ramq/model_family.h"

namespace fs = std::filesystem;

namespace ramq::eval {

namespace {

using json = nlohmann::json;

struct QuantParams {
  int bits = 0, group = 0;
};

// Float32 data that can be used where it lies: little-endian host and 4-byte aligned.
bool usable_in_place(DType dtype, std::span<const std::byte> bytes) {
  return std::endian::native == std::endian::little && dtype == DType::F32 &&
         reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(float) == 0;
}

// An F32/F16/BF16 tensor: F32 read in place from the mapping when aligned, else converted.
class FloatTensor final : public WeightTensor {
 public:
  FloatTensor(std::int64_t rows, std::int64_t cols, DType dtype, std::span<const std::byte> bytes)
      : WeightTensor(rows, cols), dtype_(dtype), bytes_(bytes), in_place_(usable_in_place(dtype, bytes)) {}

 protected:
  const float* decode(std::int64_t first, std::int64_t count, std::vector<float>& scratch) const override {
    const std::size_t esize = dtype_size(dtype_), n = static_cast<std::size_t>(count * cols());
    const std::size_t at = static_cast<std::size_t>(first * cols()) * esize;
    if (in_place_) return reinterpret_cast<const float*>(bytes_.data() + at);
    float* out = room(scratch, count);
    convert_to_f32(dtype_, bytes_.subspan(at, n * esize), std::span<float>(out, n));
    return out;
  }

 private:
  DType dtype_;
  std::span<const std::byte> bytes_;
  bool in_place_;
};

// A block-scaled source tensor (F8_E4M3 + scales, MXFP4), decoded by the reader a row range at a time.
class DecodedTensor final : public WeightTensor {
 public:
  DecodedTensor(std::int64_t rows, std::int64_t cols, const ModelReader& reader, const TensorInfo& t)
      : WeightTensor(rows, cols), reader_(reader), t_(t) {}

 protected:
  const float* decode(std::int64_t first, std::int64_t count, std::vector<float>& scratch) const override {
    float* out = room(scratch, count);
    const auto n = static_cast<std::size_t>(count * cols());
    reader_.load_range_f32(t_, static_cast<std::size_t>(first * cols()), std::span<float>(out, n));
    return out;
  }

 private:
  const ModelReader& reader_;
  const TensorInfo& t_;
};

struct Scaled {  // scales or biases: one value per group, in a float dtype
  DType dtype;
  std::span<const std::byte> bytes;
};

// An MLX affine-quantized matrix, dequantized for the rows asked for: mlx_unpack, then
// w = scale * q + bias in float32, the arithmetic of mlx_dequantize (tests compare the two).
class MlxTensor final : public WeightTensor {
 public:
  MlxTensor(std::int64_t rows, std::int64_t cols, int bits, int group, std::span<const std::byte> packed,
            Scaled scales, Scaled biases)
      : WeightTensor(rows, cols), bits_(bits), group_(group), packed_(packed), scales_(scales), biases_(biases) {}

 protected:
  const float* decode(std::int64_t first, std::int64_t count, std::vector<float>& scratch) const override {
    const std::size_t ucols = static_cast<std::size_t>(cols()), ugroup = static_cast<std::size_t>(group_);
    const std::size_t words = ucols * static_cast<std::size_t>(bits_) / 32, groups = ucols / ugroup;
    std::vector<std::uint32_t> w(words);
    std::vector<std::uint8_t> codes(ucols);
    std::vector<float> sc(groups), bi(groups);
    float* out = room(scratch, count);
    for (std::size_t k = 0; k < static_cast<std::size_t>(count); ++k) {
      const std::size_t row = static_cast<std::size_t>(first) + k;
      const std::byte* src = packed_.data() + row * words * 4;
      if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(w.data(), src, words * 4);
      } else {
        for (std::size_t i = 0; i < words; ++i) {
          std::uint32_t v = 0;
          for (std::size_t b = 0; b < 4; ++b) v |= static_cast<std::uint32_t>(src[4 * i + b]) << (8 * b);
          w[i] = v;
        }
      }
      if (32 % bits_ == 0)  // 2, 4, 8 bits: no code straddles a word
        unpack_aligned(w.data(), codes.data(), ucols);
      else
        mlx_unpack(w, bits_, codes);
      for (auto [part, vals] : {std::pair{&scales_, &sc}, std::pair{&biases_, &bi}}) {
        const std::size_t esize = dtype_size(part->dtype);
        convert_to_f32(part->dtype, part->bytes.subspan(row * groups * esize, groups * esize), *vals);
      }
      float* dst = out + k * ucols;
      for (std::size_t g = 0; g < groups; ++g) {
        const float s = sc[g], b = bi[g];
        for (std::size_t c = g * ugroup; c < (g + 1) * ugroup; ++c) dst[c] = s * static_cast<float>(codes[c]) + b;
      }
    }
    return out;
  }

 private:
  // mlx_unpack for bit widths that divide 32: code c is bits [c*bits, (c+1)*bits) of the
  // row's little-endian bit stream, i.e. of word c / per_word.
  void unpack_aligned(const std::uint32_t* w, std::uint8_t* codes, std::size_t n) const {
    const std::size_t per_word = static_cast<std::size_t>(32 / bits_);
    const std::uint32_t mask = (std::uint32_t{1} << bits_) - 1;
    for (std::size_t i = 0; i < n / per_word; ++i)
      for (std::size_t j = 0; j < per_word; ++j)
        codes[i * per_word + j] = static_cast<std::uint8_t>((w[i] >> (j * static_cast<std::size_t>(bits_))) & mask);
  }

  int bits_, group_;
  std::span<const std::byte> packed_;
  Scaled scales_, biases_;
};

class SafetensorsWeights final : public WeightSource {
 public:
  explicit SafetensorsWeights(const fs::path& dir) : reader_(dir), config_file_((dir / "config.json").string()) {
    const json& raw = reader_.config().raw;
    const json* q = nullptr;
    for (const char* key : {"quantization", "quantization_config"}) {
      const auto it = raw.find(key);
      if (it != raw.end() && !it->is_null()) {
        q = &*it;
        quant_key_ = key;
        break;
      }
    }
    if (q != nullptr) parse_quantization(*q);
  }

  const ModelConfig& config() const override { return reader_.config(); }
  std::string config_file() const override { return config_file_; }
  bool has(const std::string& name) const override { return reader_.find(name) != nullptr; }

  std::vector<std::int64_t> shape(const std::string& name) const override {
    const TensorInfo& t = info(name);
    if (!is_quantized(name)) return t.shape;
    const QuantParams p = params_for(name, t);
    std::vector<std::int64_t> s = t.shape;
    if (s.empty()) throw Error(t.file, name, "a quantized weight must have at least one dimension");
    s.back() = s.back() * 32 / p.bits;
    return s;
  }

  std::unique_ptr<WeightTensor> tensor(const std::string& name) const override {
    const TensorInfo& t = info(name);
    if (is_quantized(name)) return quantized_tensor(name, t);
    return float_tensor(t);
  }

  // mlx_lm's layout (models/<family>.py sanitize): the experts of one projection stacked under
  // the family's mlx_path of any one of them ("...experts.0.w3.weight" ->
  // "...switch_mlp.up_proj.weight"), [count, out, in]; else the base class's forms.
  std::vector<std::unique_ptr<WeightTensor>> experts(const std::string& stack_key, std::int64_t count,
                                                     std::int64_t out, std::int64_t in) const override {
    const std::string stacked = mlx_stacked_name(stack_key);
    if (stacked.empty() || has(stack_key) || !has(stacked)) return WeightSource::experts(stack_key, count, out, in);
    const std::vector<std::int64_t> want{count, out, in};
    if (shape(stacked) != want)
      throw Error(info(stacked).file, stacked,
                  "has shape " + shape_text(shape(stacked)) + " but the configuration implies " + shape_text(want) +
                      " for " + stack_key);
    std::shared_ptr<const WeightTensor> whole = tensor(stacked);
    std::vector<std::unique_ptr<WeightTensor>> v;
    for (std::int64_t e = 0; e < count; ++e) v.push_back(row_slice(whole, e * out, out));
    return v;
  }

  std::string description() const override {
    std::string d = reader_.dir().string();
    if (has_default_) {
      d += " (MLX " + std::to_string(default_.bits) + "-bit g" + std::to_string(default_.group);
      if (!overrides_.empty()) d += ", " + std::to_string(overrides_.size()) + " per-module overrides";
      d += ")";
    }
    return d;
  }

 private:
  const TensorInfo& info(const std::string& name) const {
    const TensorInfo* t = reader_.find(name);
    if (t == nullptr) throw Error(reader_.dir().string(), name, "tensor not found in the model");
    return *t;
  }

  // The mlx_lm name of the stacked experts of a stack key ("" when the family stacks nothing).
  std::string mlx_stacked_name(const std::string& stack_key) const {
    const ModelFamily* f = find_family(reader_.config().model_type);
    const std::size_t star = stack_key.find('*');
    if (f == nullptr || f->mlx_path == nullptr || star == std::string::npos) return "";
    const std::string stacked = f->mlx_path(stack_key.substr(0, star) + "0" + stack_key.substr(star + 1));
    return stacked.find(".experts.") == std::string::npos ? stacked : "";
  }

  // "<module>.weight" with a "<module>.scales" companion.
  bool is_quantized(const std::string& name) const {
    return name.ends_with(".weight") && reader_.find(name.substr(0, name.size() - 7) + ".scales") != nullptr;
  }

  [[noreturn]] void bad_quant(const std::string& key, const std::string& problem) const {
    throw Error(config_file_, "", "field '" + quant_key_ + (key.empty() ? "" : "." + key) + "' " + problem);
  }

  QuantParams parse_params(const json& j, const std::string& key) const {
    QuantParams p;
    const auto b = j.find("bits");
    const auto g = j.find("group_size");
    if (b == j.end() || !b->is_number_integer()) bad_quant(key, "needs an integer 'bits'");
    if (g == j.end() || !g->is_number_integer()) bad_quant(key, "needs an integer 'group_size'");
    const auto bits = b->get<std::int64_t>();
    const auto group = g->get<std::int64_t>();
    if (bits < 1 || bits > 8 || !mlx_bits_supported(static_cast<int>(bits)))
      bad_quant(key, "has unsupported bits " + std::to_string(bits) + " (MLX: 2, 3, 4, 5, 6, 8)");
    if (group < 1 || group > 4096 || !mlx_group_supported(static_cast<int>(group)))
      bad_quant(key, "has unsupported group_size " + std::to_string(group) + " (MLX: 32, 64, 128)");
    p.bits = static_cast<int>(bits);
    p.group = static_cast<int>(group);
    return p;
  }

  void parse_quantization(const json& q) {
    if (!q.is_object()) bad_quant("", "must be a JSON object");
    if (q.contains("bits") || q.contains("group_size")) {
      default_ = parse_params(q, "");
      has_default_ = true;
    }
    for (auto it = q.begin(); it != q.end(); ++it) {
      if (!it->is_object()) continue;  // bits, group_size, mode, false entries, ...
      overrides_[it.key()] = parse_params(*it, it.key());
    }
  }

  QuantParams params_for(const std::string& name, const TensorInfo& t) const {
    const std::string module = name.substr(0, name.size() - 7);
    if (const auto it = overrides_.find(module); it != overrides_.end()) return it->second;
    if (has_default_) return default_;
    throw Error(t.file, name,
                "is quantized (has '" + module + ".scales') but " + config_file_ +
                    " has no 'quantization' block giving its bits and group_size");
  }

  // Checks that t is F32/F16/BF16 with a byte size matching its shape (ModelReader::load_f32's
  // messages) and that every value is finite, a chunk at a time.
  std::span<const std::byte> checked_float_bytes(const TensorInfo& t) const {
    if (!is_float_weight_dtype(t.dtype))
      throw Error(t.file, t.name,
                  "has dtype " + std::string(dtype_name(t.dtype)) +
                      ", which cannot be loaded as float weights (ramq reads F32, F16 and BF16)");
    const auto bytes = reader_.raw(t);
    const std::size_t esize = dtype_size(t.dtype), n = bytes.size() / esize;
    if (n * esize != bytes.size() || static_cast<std::int64_t>(n) != t.numel())
      throw Error(t.file, t.name, "byte size does not match the shape");
    std::vector<float> chunk;
    for (std::size_t i = 0; i < n; i += static_cast<std::size_t>(kValidateChunkElements)) {
      const std::size_t m = std::min(n - i, static_cast<std::size_t>(kValidateChunkElements));
      chunk.resize(m);
      convert_to_f32(t.dtype, bytes.subspan(i * esize, m * esize), chunk);
      require_finite(chunk.data(), m, i, t.file, t.name);
    }
    return bytes;
  }

  std::unique_ptr<WeightTensor> float_tensor(const TensorInfo& t) const {
    const std::int64_t cols = t.shape.empty() ? 1 : t.shape.back();
    std::int64_t rows = 1;
    for (std::size_t i = 0; i + 1 < t.shape.size(); ++i) rows *= t.shape[i];
    if (t.encoded()) {
      reader_.check_finite(t);
      return std::make_unique<DecodedTensor>(rows, cols, reader_, t);
    }
    const auto bytes = checked_float_bytes(t);
    return std::make_unique<FloatTensor>(rows, cols, t.dtype, bytes);
  }

  std::unique_ptr<WeightTensor> quantized_tensor(const std::string& name, const TensorInfo& w) const {
    const std::string module = name.substr(0, name.size() - 7);
    const QuantParams p = params_for(name, w);
    const TensorInfo& s = info(module + ".scales");
    const TensorInfo* b = reader_.find(module + ".biases");
    if (b == nullptr) throw Error(w.file, name, "has '" + module + ".scales' but no '" + module + ".biases'");
    if (w.dtype != DType::U32)
      throw Error(w.file, name, "quantized weight must be U32, not " + std::string(dtype_name(w.dtype)));
    if (w.shape.empty() || w.shape.back() <= 0)
      throw Error(w.file, name, "quantized weight has an invalid shape " + shape_text(w.shape));
    const std::int64_t cols = w.shape.back() * 32 / p.bits;
    if (cols * p.bits != w.shape.back() * 32 || cols % p.group != 0)
      throw Error(w.file, name,
                  "packed shape " + shape_text(w.shape) + " does not fit " + std::to_string(p.bits) + "-bit group " +
                      std::to_string(p.group));
    std::vector<std::int64_t> sshape = w.shape;
    sshape.back() = cols / p.group;
    for (const TensorInfo* t : {&s, b})
      if (t->shape != sshape)
        throw Error(t->file, t->name,
                    "shape " + shape_text(t->shape) + " does not match the packed weight (expected " +
                        shape_text(sshape) + " for " + std::to_string(p.bits) + "-bit group " +
                        std::to_string(p.group) + ")");
    const auto packed = reader_.raw(w);
    if (packed.size() != static_cast<std::size_t>(w.numel()) * 4)
      throw Error(w.file, name, "byte size does not match the shape");
    const auto scales = checked_float_bytes(s);
    const auto biases = checked_float_bytes(*b);
    return std::make_unique<MlxTensor>(w.numel() / w.shape.back(), cols, p.bits, p.group, packed,
                                       Scaled{s.dtype, scales}, Scaled{b->dtype, biases});
  }

  ModelReader reader_;
  std::string config_file_;
  std::string quant_key_ = "quantization";
  bool has_default_ = false;
  QuantParams default_;
  std::map<std::string, QuantParams> overrides_;  // module path -> params
};

}  // namespace

std::unique_ptr<WeightSource> open_safetensors_weights(const fs::path& dir) {
  return std::make_unique<SafetensorsWeights>(dir);
}

}  // namespace ramq::eval
