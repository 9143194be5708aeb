// GGUF weight source for the evaluator: a ramq (or llama.cpp) GGUF file read back with
// Hugging Face names and shapes, q/k rows of "llama" files un-permuted, decoded block by block
// from the mapped file for the rows asked for (F32 tensors are used in place).
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "ramq/gguf_metadata.h"
#include "ramq/gguf_names.h"
#include "ramq/model_family.h"
#include "ramq/qk_permute.h"
#include "evaluate/gguf_hybrid_tensors.h"
#include "evaluate/weights.h"
#include "ramq/error.h"
#include "ramq/gguf.h"

namespace ramq::eval {

namespace {

// A GGUF tensor as a Hugging Face [rows, cols] matrix. `perm` (empty = identity) maps each
// Hugging Face row to the stored row it comes from (the inverse q/k permutation); a permuted
// 1-D tensor (a q/k bias) is un-permuted element-wise as a [n, 1] column.
// A hybrid family's tensor may also have its columns permuted (`view.col_perm`, the same map as
// perm) and its stored values mapped back (`view.values`, gguf_hybrid_tensors.h).
class GgufTensor final : public WeightTensor {
 public:
  GgufTensor(std::int64_t rows, std::int64_t cols, GgmlType type, std::span<const std::byte> data,
             std::vector<std::int64_t> perm, std::int64_t bias_heads, HybridTensorView view = {})
      : WeightTensor(rows, cols), type_(type), data_(data), row_bytes_(ggml_row_bytes(type, cols)),
        perm_(std::move(perm)), bias_heads_(bias_heads), col_perm_(std::move(view.col_perm)), values_(view.values),
        in_place_(std::endian::native == std::endian::little && type == GgmlType::F32 && perm_.empty() &&
                  bias_heads == 0 && col_perm_.empty() && values_ == StoredValues::Same &&
                  reinterpret_cast<std::uintptr_t>(data.data()) % alignof(float) == 0) {}

 protected:
  const float* decode(std::int64_t first, std::int64_t count, std::vector<float>& scratch) const override {
    const std::size_t r0 = static_cast<std::size_t>(first), ucols = static_cast<std::size_t>(cols());
    if (in_place_) return reinterpret_cast<const float*>(data_.data() + r0 * row_bytes_);
    float* out = room(scratch, count);
    if (bias_heads_ > 0) {  // rows() == 1
      std::vector<float> stored(ucols);
      gguf_decode_rows(type_, data_.data(), 1, cols(), stored.data());
      llama_unpermute_qk(stored.data(), out, cols(), 1, bias_heads_);
    } else if (perm_.empty()) {
      gguf_decode_rows(type_, data_.data() + r0 * row_bytes_, count, cols(), out);
    } else {
      for (std::size_t k = 0; k < static_cast<std::size_t>(count); ++k)
        gguf_decode_rows(type_, data_.data() + static_cast<std::size_t>(perm_[r0 + k]) * row_bytes_, 1, cols(),
                         out + k * ucols);
    }
    finish(out, static_cast<std::size_t>(count));
    return out;
  }

 private:
  GgmlType type_;
  std::span<const std::byte> data_;
  std::size_t row_bytes_;
  // Columns reordered and values mapped back, row by row.
  void finish(float* out, std::size_t rows) const {
    const std::size_t ucols = static_cast<std::size_t>(cols());
    std::vector<float> row;
    for (std::size_t r = 0; r < rows && (!col_perm_.empty() || values_ != StoredValues::Same); ++r) {
      float* o = out + r * ucols;
      if (!col_perm_.empty()) {
        row.assign(o, o + ucols);
        for (std::size_t c = 0; c < ucols; ++c) o[c] = row[static_cast<std::size_t>(col_perm_[c])];
      }
      for (std::size_t c = 0; c < ucols; ++c)
        o[c] = values_ == StoredValues::PlusOne      ? o[c] - 1.0f
               : values_ == StoredValues::NegatedExp ? std::log(-o[c])
                                                     : o[c];
    }
  }

  std::vector<std::int64_t> perm_;
  std::int64_t bias_heads_;
  std::vector<std::int64_t> col_perm_;
  StoredValues values_;
  bool in_place_;
};

class GgufWeights final : public WeightSource {
 public:
  explicit GgufWeights(const std::filesystem::path& file)
      : file_(file.string()), reader_(file), config_(model_config_from_gguf(reader_, file_)),
        family_(family_for(config_, file_, "evaluation")) {
    for (const auto& t : reader_.tensors()) {
      auto hf = gguf_to_hf_tensor_name(family_, t.name);
      if (!hf && family_.hybrid_attention) hf = hybrid_gguf_alias(family_, t.name);
      if (hf) by_hf_[*hf] = &t;
    }
  }

  const ModelConfig& config() const override { return config_; }
  std::string config_file() const override { return file_; }
  bool has(const std::string& hf_name) const override { return by_hf_.count(hf_name) > 0; }

  std::vector<std::int64_t> shape(const std::string& hf_name) const override {
    const GgufTensorInfo& t = info(hf_name);
    if (family_.hybrid_attention && hf_name.ends_with("linear_attn.conv1d.weight") && t.ne.size() == 2)
      return {t.ne[1], 1, t.ne[0]};  // {K, C} -> [C, 1, K]
    return shape_from_gguf_ne(t.ne);
  }

  std::unique_ptr<WeightTensor> tensor(const std::string& hf_name) const override {
    const GgufTensorInfo& t = info(hf_name);
    const auto bytes = reader_.data(t);
    std::int64_t rows = 1;
    for (std::size_t i = 1; i < t.ne.size(); ++i) rows *= t.ne[i];
    const std::int64_t cols = t.ne.empty() ? 0 : t.ne[0];
    if (static_cast<std::uint64_t>(ggml_row_bytes(t.type, cols)) * static_cast<std::uint64_t>(rows) != bytes.size())
      throw Error(file_, t.name, "byte size does not match the shape");
    // Every value once, in stored order (element indices as in the file).
    const std::int64_t chunk_rows = std::max<std::int64_t>(1, kValidateChunkElements / std::max<std::int64_t>(cols, 1));
    std::vector<float> chunk;
    for (std::int64_t r = 0; r < rows && cols > 0; r += chunk_rows) {
      const std::int64_t m = std::min(chunk_rows, rows - r);
      chunk.resize(static_cast<std::size_t>(m * cols));
      gguf_decode_rows(t.type, bytes.data() + static_cast<std::size_t>(r) * ggml_row_bytes(t.type, cols), m, cols,
                       chunk.data());
      require_finite(chunk.data(), chunk.size(), static_cast<std::uint64_t>(r * cols), file_, t.name);
    }
    if (family_.hybrid_attention) {
      HybridTensorView view = hybrid_tensor_view(family_, config_, hf_name, rows, cols);
      if (view.values == StoredValues::NegatedExp) require_negative(t, bytes, rows * cols);
      std::vector<std::int64_t> perm = std::move(view.row_perm);
      return std::make_unique<GgufTensor>(rows, cols, t.type, bytes, std::move(perm), 0, std::move(view));
    }
    // Gemma 3's norms, stored as 1 + w (llama.cpp's converter), are read back as w.
    if (family_.gemma && hf_name.ends_with("norm.weight")) {
      HybridTensorView view;
      view.values = StoredValues::PlusOne;
      return std::make_unique<GgufTensor>(rows, cols, t.type, bytes, std::vector<std::int64_t>{}, 0, std::move(view));
    }
    const std::int64_t heads = qk_permute_heads(family_, config_, hf_name);
    std::vector<std::int64_t> perm;
    if (heads > 0) {
      if (t.ne.size() == 1)
        return std::make_unique<GgufTensor>(1, cols, t.type, bytes, perm, checked_heads(t, cols, heads));
      perm = row_permutation(t, rows, heads);
    }
    return std::make_unique<GgufTensor>(rows, cols, t.type, bytes, std::move(perm), 0);
  }

  std::string description() const override {
    return "GGUF " + std::string(family_.gguf_architecture) + " (" + std::to_string(reader_.tensors().size()) +
           " tensors) " + file_;
  }

 private:
  const GgufTensorInfo& info(const std::string& hf_name) const {
    const auto it = by_hf_.find(hf_name);
    if (it == by_hf_.end()) throw Error(file_, hf_name, "tensor not in the GGUF file");
    return *it->second;
  }

  // ssm_a holds -exp(A_log): every value below zero.
  void require_negative(const GgufTensorInfo& t, std::span<const std::byte> bytes, std::int64_t n) const {
    std::vector<float> v(static_cast<std::size_t>(n));
    gguf_decode_rows(t.type, bytes.data(), 1, n, v.data());
    for (std::size_t i = 0; i < v.size(); ++i)
      if (!(v[i] < 0.0f))
        throw Error(file_, t.name, "element " + std::to_string(i) + " is " + std::to_string(v[i]) +
                                       ", not negative (ssm_a holds -exp(A_log))");
  }

  std::int64_t checked_heads(const GgufTensorInfo& t, std::int64_t rows, std::int64_t heads) const {
    if (rows % (2 * heads) != 0)
      throw Error(file_, t.name,
                  "has " + std::to_string(rows) + " rows, which cannot be split into " + std::to_string(heads) +
                      " heads of rotary pairs (the q/k permutation of the llama architecture)");
    return heads;
  }

  // perm[r] = the stored row that Hugging Face row r comes from: llama_unpermute_qk applied to
  // the column of row numbers (exact in float32 below 2^24).
  std::vector<std::int64_t> row_permutation(const GgufTensorInfo& t, std::int64_t rows, std::int64_t heads) const {
    checked_heads(t, rows, heads);
    if (rows >= (std::int64_t{1} << 24)) throw Error(file_, t.name, "has too many rows for the q/k permutation");
    std::vector<float> index(static_cast<std::size_t>(rows)), from(index.size());
    for (std::size_t i = 0; i < index.size(); ++i) index[i] = static_cast<float>(i);
    llama_unpermute_qk(index.data(), from.data(), rows, 1, heads);
    std::vector<std::int64_t> perm(from.size());
    for (std::size_t i = 0; i < from.size(); ++i) perm[i] = static_cast<std::int64_t>(from[i]);
    return perm;
  }

  std::string file_;
  GgufReader reader_;
  ModelConfig config_;
  const ModelFamily& family_;
  std::map<std::string, const GgufTensorInfo*> by_hf_;
};

}  // namespace

std::unique_ptr<WeightSource> open_gguf_weights(const std::filesystem::path& gguf_file) {
  return std::make_unique<GgufWeights>(gguf_file);
}

}  // namespace ramq::eval
