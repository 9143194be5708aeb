// Weight sources for evaluation: Hugging Face safetensors directories and MLX output directories
// (dequantized with the MLX affine rule of include/ramq/mlx_affine.h).
#include "evaluate/weights.h"

#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>

#include "ramq/error.h"
#include "ramq/mlx_affine.h"

namespace fs = std::filesystem;

namespace ramq::eval {

namespace {

using json = nlohmann::json;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_str(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

struct QuantParams {
  int bits = 0, group = 0;
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

  std::vector<float> load(const std::string& name) const override {
    const TensorInfo& t = info(name);
    std::vector<float> out = is_quantized(name) ? dequantize(name, t) : reader_.load_f32(t);
    reader_.release(t);
    return out;
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

  // "<module>.weight" with a "<module>.scales" companion.
  bool is_quantized(const std::string& name) const {
    return ends_with(name, ".weight") && reader_.find(name.substr(0, name.size() - 7) + ".scales") != nullptr;
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

  std::vector<float> dequantize(const std::string& name, const TensorInfo& w) const {
    const std::string module = name.substr(0, name.size() - 7);
    const QuantParams p = params_for(name, w);
    const TensorInfo& s = info(module + ".scales");
    const TensorInfo* b = reader_.find(module + ".biases");
    if (b == nullptr) throw Error(w.file, name, "has '" + module + ".scales' but no '" + module + ".biases'");
    if (w.dtype != DType::U32)
      throw Error(w.file, name, "quantized weight must be U32, not " + std::string(dtype_name(w.dtype)));
    if (w.shape.empty() || w.shape.back() <= 0)
      throw Error(w.file, name, "quantized weight has an invalid shape " + shape_str(w.shape));
    const std::int64_t cols = w.shape.back() * 32 / p.bits;
    if (cols * p.bits != w.shape.back() * 32 || cols % p.group != 0)
      throw Error(w.file, name,
                  "packed shape " + shape_str(w.shape) + " does not fit " + std::to_string(p.bits) + "-bit group " +
                      std::to_string(p.group));
    std::vector<std::int64_t> sshape = w.shape;
    sshape.back() = cols / p.group;
    for (const TensorInfo* t : {&s, b})
      if (t->shape != sshape)
        throw Error(t->file, t->name,
                    "shape " + shape_str(t->shape) + " does not match the packed weight (expected " +
                        shape_str(sshape) + " for " + std::to_string(p.bits) + "-bit group " +
                        std::to_string(p.group) + ")");
    MlxQuantized q;
    q.cols = cols;
    q.rows = w.numel() / w.shape.back();
    q.bits = p.bits;
    q.group = p.group;
    q.scale_dtype = s.dtype;
    const auto bytes = reader_.raw(w);
    q.packed.resize(static_cast<std::size_t>(w.numel()));
    if (bytes.size() != q.packed.size() * 4) throw Error(w.file, name, "byte size does not match the shape");
    for (std::size_t i = 0; i < q.packed.size(); ++i) {
      std::uint32_t v = 0;
      for (std::size_t k = 0; k < 4; ++k) v |= static_cast<std::uint32_t>(bytes[4 * i + k]) << (8 * k);
      q.packed[i] = v;
    }
    q.scales = reader_.load_f32(s);
    q.biases = reader_.load_f32(*b);
    reader_.release(s);
    reader_.release(*b);
    try {
      return mlx_dequantize(q);
    } catch (const std::invalid_argument& e) {
      throw Error(w.file, name, std::string("cannot dequantize: ") + e.what());
    }
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
