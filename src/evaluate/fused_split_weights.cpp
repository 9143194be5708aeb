// Fused projections read as the separate ones the forward pass uses (evaluate/weights.h
// split_fused_weights): Phi-3's qkv_proj as q_proj, k_proj, v_proj and its gate_up_proj as
// gate_proj, up_proj, row slices of the one stored tensor (transformers modeling_phi3.py: q rows,
// k rows, v rows; gate rows, then up rows). GGUF files hold them as attn_qkv and ffn_up, read back
// under the same Hugging Face names.
#include <memory>
#include <optional>

#include "evaluate/weights.h"
#include "ramq/error.h"

namespace ramq::eval {

namespace {

struct Slice {
  std::string fused;  // the stored name
  std::int64_t first = 0, rows = 0;
};

class FusedSplitWeights final : public WeightSource {
 public:
  explicit FusedSplitWeights(std::unique_ptr<WeightSource> src) : src_(std::move(src)) {}

  const ModelConfig& config() const override { return src_->config(); }
  std::string config_file() const override { return src_->config_file(); }
  bool has(const std::string& name) const override {
    if (const auto s = slice_of(name)) return src_->has(s->fused);
    return src_->has(name);
  }
  std::vector<std::int64_t> shape(const std::string& name) const override {
    const auto s = slice_of(name);
    if (!s) return src_->shape(name);
    return {s->rows, fused_shape(*s).at(1)};
  }
  std::unique_ptr<WeightTensor> tensor(const std::string& name) const override {
    const auto s = slice_of(name);
    if (!s) return src_->tensor(name);
    fused_shape(*s);
    return row_slice(std::shared_ptr<const WeightTensor>(src_->tensor(s->fused)), s->first, s->rows);
  }
  std::string description() const override { return src_->description(); }
  std::vector<std::unique_ptr<WeightTensor>> experts(const std::string& key, std::int64_t count, std::int64_t out,
                                                     std::int64_t in) const override {
    return src_->experts(key, count, out, in);
  }

 private:
  // The fused tensor's [rows, cols], checked to hold exactly the slices config.json implies.
  std::vector<std::int64_t> fused_shape(const Slice& s) const {
    const ModelConfig& c = src_->config();
    const bool attn = s.fused.ends_with("qkv_proj.weight");
    const std::int64_t rows = attn ? (c.num_attention_heads + 2 * c.num_key_value_heads) * c.head_dim
                                   : 2 * c.intermediate_size;
    const auto shape = src_->shape(s.fused);
    if (shape.size() != 2 || shape[0] != rows)
      throw Error(config_file(), s.fused,
                  "must have " + std::to_string(rows) + " rows (" +
                      (attn ? "(num_attention_heads + 2 num_key_value_heads) x head_dim" : "2 x intermediate_size") +
                      ") to be split");
    return shape;
  }

  // The fused tensor and rows a split name stands for; nullopt for other names, or when the
  // source holds the split name itself.
  std::optional<Slice> slice_of(const std::string& name) const {
    const ModelConfig& c = src_->config();
    const std::int64_t q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim,
                       ff = c.intermediate_size;
    struct Part {
      const char *split, *fused;
      std::int64_t first, rows;
    };
    const Part parts[] = {
        {"self_attn.q_proj.weight", "self_attn.qkv_proj.weight", 0, q},
        {"self_attn.k_proj.weight", "self_attn.qkv_proj.weight", q, kv},
        {"self_attn.v_proj.weight", "self_attn.qkv_proj.weight", q + kv, kv},
        {"mlp.gate_proj.weight", "mlp.gate_up_proj.weight", 0, ff},
        {"mlp.up_proj.weight", "mlp.gate_up_proj.weight", ff, ff},
    };
    for (const Part& p : parts) {
      const std::string_view split(p.split);
      if (!name.ends_with(split)) continue;
      const std::string fused = name.substr(0, name.size() - split.size()) + p.fused;
      if (src_->has(name) || !src_->has(fused)) return std::nullopt;
      return Slice{fused, p.first, p.rows};
    }
    return std::nullopt;
  }

  std::unique_ptr<WeightSource> src_;
};

}  // namespace

std::unique_ptr<WeightSource> split_fused_weights(std::unique_ptr<WeightSource> weights) {
  return std::make_unique<FusedSplitWeights>(std::move(weights));
}

}  // namespace ramq::eval
