// The GGUF layout of the hybrid linear-attention families (write/gguf_hybrid.h).
#include "write/gguf_hybrid.h"

#include <cmath>

#include "ramq/family_config.h"

namespace ramq {

namespace {

bool is_zero_centred_norm(const std::string& local) {
  for (const char* n : {"attn_norm.weight", "post_attention_norm.weight", "output_norm.weight", "attn_q_norm.weight",
                        "attn_k_norm.weight"})
    if (local == n) return true;
  return false;
}

// rows [0, first) as they are, then rows [first, first + perm.size()) permuted.
std::vector<std::int64_t> identity_then(std::int64_t first, const std::vector<std::int64_t>& perm) {
  std::vector<std::int64_t> rows(static_cast<std::size_t>(first));
  for (std::int64_t i = 0; i < first; ++i) rows[static_cast<std::size_t>(i)] = i;
  for (const auto p : perm) rows.push_back(first + p);
  return rows;
}

}  // namespace

std::vector<std::int64_t> tiled_value_heads(std::int64_t key_heads, std::int64_t heads, std::int64_t head_dim) {
  const std::int64_t r = heads / key_heads;
  std::vector<std::int64_t> from(static_cast<std::size_t>(heads * head_dim));
  for (std::int64_t g = 0; g < key_heads; ++g)
    for (std::int64_t j = 0; j < r; ++j)
      for (std::int64_t x = 0; x < head_dim; ++x)
        from[static_cast<std::size_t>((j * key_heads + g) * head_dim + x)] = (g * r + j) * head_dim + x;
  return from;
}

GgufSourceLayout gguf_hybrid_layout(const ModelFamily& family, const LinearAttentionFields& la, const TensorInfo& t,
                                    const std::string& gguf_local) {
  GgufSourceLayout out;
  if (is_zero_centred_norm(gguf_local)) out.values = GgufSourceLayout::Values::PlusOne;
  if (gguf_local == "ssm_a") out.values = GgufSourceLayout::Values::NegExp;
  if (gguf_local == "ssm_conv1d.weight") {  // [C, 1, K] -> ne {K, C}, float rows for ggml_ssm_conv
    out.force_f32 = true;
    out.ne = {t.shape.back(), t.shape.front()};
  }
  if (family.gguf_architecture == "qwen3next") return out;  // grouped value heads, as Hugging Face's

  if (la.key_heads == la.value_heads) return out;
  const auto heads = [&](std::int64_t head_dim) { return tiled_value_heads(la.key_heads, la.value_heads, head_dim); };
  if (gguf_local == "attn_qkv.weight") out.row_from = identity_then(2 * la.key_dim(), heads(la.value_head_dim));
  if (gguf_local == "ssm_conv1d.weight") out.row_from = identity_then(2 * la.key_dim(), heads(la.value_head_dim));
  if (gguf_local == "attn_gate.weight") out.row_from = heads(la.value_head_dim);
  if (gguf_local == "ssm_beta.weight" || gguf_local == "ssm_alpha.weight") out.row_from = heads(1);
  if (gguf_local == "ssm_a" || gguf_local == "ssm_dt.bias") out.col_from = heads(1);  // 1-D: one row
  if (gguf_local == "ssm_out.weight") out.col_from = heads(la.value_head_dim);
  return out;
}

void apply_gguf_layout(const GgufSourceLayout& layout, std::vector<float>& values, std::int64_t cols) {
  if (!layout.row_from.empty() || !layout.col_from.empty()) {
    const auto c = static_cast<std::size_t>(cols);
    const std::size_t rows = values.size() / c;
    std::vector<float> moved(values.size());
    for (std::size_t r = 0; r < rows; ++r) {
      const std::size_t src_row = layout.row_from.empty() ? r : static_cast<std::size_t>(layout.row_from[r]);
      const float* in = values.data() + src_row * c;
      float* o = moved.data() + r * c;
      if (layout.col_from.empty()) {
        std::copy(in, in + c, o);
      } else {
        for (std::size_t k = 0; k < c; ++k) o[k] = in[layout.col_from[k]];
      }
    }
    values.swap(moved);
  }
  if (layout.values == GgufSourceLayout::Values::PlusOne)
    for (float& v : values) v += 1.0f;
  if (layout.values == GgufSourceLayout::Values::NegExp)
    for (float& v : values) v = -std::exp(v);
}

}  // namespace ramq
