// The q/k row permutation (arch/qk_permute.h).
#include "ramq/qk_permute.h"

#include <algorithm>
#include <stdexcept>

namespace ramq {

namespace {

void check_permute_args(std::int64_t rows, std::int64_t cols, std::int64_t n_head) {
  if (n_head <= 0 || rows <= 0 || cols < 0 || rows % (2 * n_head) != 0)
    throw std::invalid_argument("q/k permutation: " + std::to_string(rows) + " rows cannot be split into " +
                                std::to_string(n_head) + " heads of an even size");
}

// out row dst_row(r) = in row src_row(r) for the forward permutation.
template <bool kInverse>
void permute_rows(const float* src, float* dst, std::int64_t rows, std::int64_t cols, std::int64_t n_head) {
  check_permute_args(rows, cols, n_head);
  const std::int64_t hd = rows / n_head, half = hd / 2;
  for (std::int64_t h = 0; h < n_head; ++h)
    for (std::int64_t i = 0; i < half; ++i)
      for (std::int64_t j = 0; j < 2; ++j) {
        const std::int64_t interleaved = h * hd + 2 * i + j, split = h * hd + j * half + i;
        const std::int64_t to = kInverse ? split : interleaved, from = kInverse ? interleaved : split;
        std::copy(src + from * cols, src + (from + 1) * cols, dst + to * cols);
      }
}

}  // namespace

void llama_permute_qk(const float* src, float* dst, std::int64_t rows, std::int64_t cols, std::int64_t n_head) {
  permute_rows<false>(src, dst, rows, cols, n_head);
}
void llama_unpermute_qk(const float* src, float* dst, std::int64_t rows, std::int64_t cols, std::int64_t n_head) {
  permute_rows<true>(src, dst, rows, cols, n_head);
}

std::int64_t qk_permute_heads(const ModelFamily& family, const ModelConfig& cfg, const std::string& hf_name) {
  if (!family.permute_qk) return 0;
  switch (classify_tensor(hf_name).role) {
    case TensorRole::AttnQ: return cfg.num_attention_heads;
    case TensorRole::AttnK: return cfg.num_key_value_heads;
    default: return 0;
  }
}

}  // namespace ramq
