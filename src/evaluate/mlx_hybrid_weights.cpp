// A hybrid family's MLX output in its Hugging Face form (evaluate/mlx_hybrid_weights.h).
#include "evaluate/mlx_hybrid_weights.h"

#include <string>
#include <utility>
#include <vector>

namespace ramq::eval {

namespace {

bool is_zero_centred_norm(const ModelFamily& family, const std::string& hf_name) {
  for (const char* n : {".input_layernorm.weight", ".post_attention_layernorm.weight", ".self_attn.q_norm.weight",
                        ".self_attn.k_norm.weight"})
    if (hf_name.ends_with(n)) return true;
  return hf_name == family.names->global[1].hf;  // the final norm
}

bool is_conv1d(const std::string& hf_name) { return hf_name.ends_with(".linear_attn.conv1d.weight"); }

// [C, K, 1] -> [C, 1, K]: the same values, rows of K.
std::vector<std::int64_t> hf_conv_shape(std::vector<std::int64_t> s) {
  if (s.size() == 3 && s[2] == 1) return {s[0], 1, s[1]};
  return s;
}

// A stored tensor of rows() x cols() values seen as rows x (cols() * group) (conv1d: C*K rows of
// one value -> C rows of K), or with 1 subtracted from every value (norms).
class ReadBack final : public WeightTensor {
 public:
  ReadBack(std::unique_ptr<WeightTensor> stored, std::int64_t group, bool minus_one)
      : WeightTensor(stored->rows() / group, stored->cols() * group), stored_(std::move(stored)), group_(group),
        minus_one_(minus_one) {}

 protected:
  const float* decode(std::int64_t first, std::int64_t count, std::vector<float>& scratch) const override {
    std::vector<float> tmp;
    const float* p = stored_->read_rows(first * group_, count * group_, tmp);
    float* out = room(scratch, count);
    const std::size_t n = static_cast<std::size_t>(count * cols());
    for (std::size_t i = 0; i < n; ++i) out[i] = minus_one_ ? p[i] - 1.0f : p[i];
    return out;
  }

 private:
  std::unique_ptr<WeightTensor> stored_;
  std::int64_t group_;
  bool minus_one_;
};

class MlxHybridWeights final : public WeightSource {
 public:
  MlxHybridWeights(std::unique_ptr<WeightSource> mlx, const ModelFamily& family)
      : mlx_(std::move(mlx)), family_(family) {}

  const ModelConfig& config() const override { return mlx_->config(); }
  std::string config_file() const override { return mlx_->config_file(); }
  bool has(const std::string& hf_name) const override { return mlx_->has(stored(hf_name)); }

  std::vector<std::int64_t> shape(const std::string& hf_name) const override {
    const auto s = mlx_->shape(stored(hf_name));
    return is_conv1d(hf_name) ? hf_conv_shape(s) : s;
  }

  std::unique_ptr<WeightTensor> tensor(const std::string& hf_name) const override {
    auto t = mlx_->tensor(stored(hf_name));
    const auto s = mlx_->shape(stored(hf_name));
    if (is_conv1d(hf_name) && s.size() == 3 && s[2] == 1) return std::make_unique<ReadBack>(std::move(t), s[1], false);
    if (is_zero_centred_norm(family_, hf_name)) return std::make_unique<ReadBack>(std::move(t), 1, true);
    return t;
  }

  std::string description() const override { return mlx_->description(); }

  // The stacks are found by the MLX source itself (the family's mlx_path of the stack key).
  std::vector<std::unique_ptr<WeightTensor>> experts(const std::string& stack_key, std::int64_t count,
                                                     std::int64_t out, std::int64_t in) const override {
    return mlx_->experts(stack_key, count, out, in);
  }

 private:
  std::string stored(const std::string& hf_name) const {
    const std::string path = family_.mlx_path != nullptr ? family_.mlx_path(hf_name) : hf_name;
    return path.empty() ? hf_name : path;
  }

  std::unique_ptr<WeightSource> mlx_;
  const ModelFamily& family_;
};

}  // namespace

bool is_mlx_hybrid_layout(const WeightSource& weights, const ModelFamily& family) {
  const std::string embed(family.names->global[0].hf);
  if (family.mlx_path != nullptr && !weights.has(embed) && weights.has(family.mlx_path(embed))) return true;
  const std::string prefix(family.names->hf_layer_prefix);
  for (std::int64_t i = 0; i < weights.config().num_hidden_layers; ++i) {
    const std::string conv = prefix + std::to_string(i) + ".linear_attn.conv1d.weight";
    if (!weights.has(conv)) continue;
    const auto s = weights.shape(conv);
    return s.size() == 3 && s[2] == 1 && s[1] != 1;
  }
  return false;
}

std::unique_ptr<WeightSource> mlx_hybrid_weights(std::unique_ptr<WeightSource> mlx, const ModelFamily& family) {
  return std::make_unique<MlxHybridWeights>(std::move(mlx), family);
}

}  // namespace ramq::eval
