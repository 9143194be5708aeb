// GGUF weight source for the evaluator: a ramq (or llama.cpp) GGUF file read back with
// Hugging Face names and shapes, q/k rows of "llama" files un-permuted, dequantized to float32.
#include <cmath>
#include <map>

#include "evaluate/weights.h"
#include "ramq/error.h"
#include "ramq/gguf.h"
#include "ramq/gguf_llama.h"

namespace ramq::eval {

namespace {

class GgufWeights final : public WeightSource {
 public:
  explicit GgufWeights(const std::filesystem::path& file)
      : file_(file.string()), reader_(file), config_(model_config_from_gguf(reader_, file_)),
        arch_(gguf_arch_for(config_, file_)) {
    for (const auto& t : reader_.tensors()) {
      if (auto hf = gguf_to_hf_tensor_name(t.name)) by_hf_[*hf] = &t;
    }
  }

  const ModelConfig& config() const override { return config_; }
  std::string config_file() const override { return file_; }
  bool has(const std::string& hf_name) const override { return by_hf_.count(hf_name) > 0; }

  std::vector<std::int64_t> shape(const std::string& hf_name) const override {
    return shape_from_gguf_ne(info(hf_name).ne);
  }

  std::vector<float> load(const std::string& hf_name) const override {
    const GgufTensorInfo& t = info(hf_name);
    std::vector<float> w = reader_.load_f32(t);
    for (std::size_t i = 0; i < w.size(); ++i)
      if (!std::isfinite(w[i]))
        throw Error(file_, t.name, std::string(std::isnan(w[i]) ? "contains NaN" : "contains Inf") + " at element " +
                                       std::to_string(i));
    const std::int64_t heads = qk_permute_heads(arch_, config_, hf_name);
    if (heads > 0) {
      const auto shp = shape_from_gguf_ne(t.ne);
      const std::int64_t rows = shp[0], cols = shp.size() > 1 ? shp[1] : 1;
      std::vector<float> out(w.size());
      llama_unpermute_qk(w.data(), out.data(), rows, cols, heads);
      return out;
    }
    return w;
  }

  std::string description() const override {
    return "GGUF " + arch_.name + " (" + std::to_string(reader_.tensors().size()) + " tensors) " + file_;
  }

 private:
  const GgufTensorInfo& info(const std::string& hf_name) const {
    const auto it = by_hf_.find(hf_name);
    if (it == by_hf_.end()) throw Error(file_, hf_name, "tensor not in the GGUF file");
    return *it->second;
  }

  std::string file_;
  GgufReader reader_;
  ModelConfig config_;
  GgufArch arch_;
  std::map<std::string, const GgufTensorInfo*> by_hf_;
};

}  // namespace

std::unique_ptr<WeightSource> open_gguf_weights(const std::filesystem::path& gguf_file) {
  return std::make_unique<GgufWeights>(gguf_file);
}

}  // namespace ramq::eval
