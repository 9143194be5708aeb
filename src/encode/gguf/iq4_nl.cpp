// IQ4_NL: blocks of 32, { fp16 d; u8 qs[16] } (18 bytes), x = d * kvalues_iq4nl[nibble], with the
// Q4_0 nibble order (element j < 16 low nibble of qs[j], element j + 16 high nibble).
// kvalues_iq4nl is ggml's non-linear 4-bit codebook (ggml-common.h).
//
// Encoder: for both signs of d, the largest-magnitude element is mapped near the codebook end
// (-127 or +113, offsets -7..+7 like ggml's search), every element takes the nearest codebook
// value, and d is refit by least squares and scored by <x,v>^2/<v,v>; the best gets up to three
// Lloyd steps. Finally ggml's reference d = max/-127, the fit and its fp16 neighbours compete by
// exact error after fp16 rounding.
#include "encode/gguf/codec_common.h"

namespace ramq::gguf {
namespace {

constexpr int kBlock = 32;
constexpr int kBytes = 18;
constexpr std::array<int, 16> kValues = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
constexpr int kZeroIndex = 8;  // a zero scale decodes every index to 0; use the value nearest 0

// Index of the codebook value nearest v (ties to the lower index).
int nearest_index(float v) {
  int lo = 0, hi = 15;  // binary search on the midpoints of the sorted codebook
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (2.0f * v > static_cast<float>(kValues[mid] + kValues[mid + 1])) lo = mid + 1; else hi = mid;
  }
  return lo;
}

int code_of(float x, float inv_d) { return inv_d != 0.0f ? nearest_index(x * inv_d) : kZeroIndex; }

float inverse(float d) { return d != 0.0f ? 1.0f / d : 0.0f; }

double block_error(const float* x, float d) {
  const float inv = inverse(d);
  double e = 0.0;
  for (int i = 0; i < kBlock; ++i) {
    const double diff = static_cast<double>(d * static_cast<float>(kValues[code_of(x[i], inv)])) - x[i];
    e += diff * diff;
  }
  return e;
}

// Least-squares d for the codes chosen with scale d, and its score <x,v>^2/<v,v>.
float refit(const float* x, float d, double& score) {
  const float inv = inverse(d);
  double sxv = 0.0, svv = 0.0;
  for (int i = 0; i < kBlock; ++i) {
    const double v = kValues[code_of(x[i], inv)];
    sxv += v * x[i];
    svv += v * v;
  }
  score = svv > 0.0 ? sxv * sxv / svv : 0.0;
  return svv > 0.0 ? static_cast<float>(sxv / svv) : d;
}

void encode_block(const float* x, std::uint8_t* out) {
  float amax = 0.0f, vmax = 0.0f;
  for (int i = 0; i < kBlock; ++i) {
    if (std::fabs(x[i]) > amax) { amax = std::fabs(x[i]); vmax = x[i]; }
  }
  std::uint16_t best = 0;
  if (amax > kTiny && std::isfinite(amax)) {
    float fit = 0.0f;  // best refit scale by score
    double best_score = -1.0, score = 0.0;
    for (const int end : {kValues[0], kValues[15]}) {
      for (int t = -7; t <= 7; ++t) {
        const float d = refit(x, vmax / static_cast<float>(end + t), score);
        if (score > best_score) { best_score = score; fit = d; }
      }
    }
    for (int it = 0; it < 3; ++it) {
      const float d = refit(x, fit, score);
      if (!(score > best_score)) break;
      best_score = score;
      fit = d;
    }
    // exact error after fp16 rounding: ggml's reference d = max/-127, the fit and its neighbours
    const std::uint16_t f16 = to_fp16(fit);
    double best_err = std::numeric_limits<double>::infinity();
    for (const std::uint16_t d16 : {to_fp16(vmax / static_cast<float>(kValues[0])), f16, fp16_neighbour(f16, -1),
                                    fp16_neighbour(f16, 1)}) {
      const double e = block_error(x, from_fp16(d16));
      if (e < best_err) { best_err = e; best = d16; }
    }
  }
  put_u16(out, best);
  const float inv = inverse(from_fp16(best));
  for (int j = 0; j < 16; ++j) {
    out[2 + j] = static_cast<std::uint8_t>(code_of(x[j], inv) | (code_of(x[j + 16], inv) << 4));
  }
}

}  // namespace

void encode_iq4_nl(const float* x, std::int64_t n, std::uint8_t* out) {
  for (std::int64_t b = 0; b < n / kBlock; ++b) encode_block(x + b * kBlock, out + b * kBytes);
}

// ggml dequantize_row_iq4_nl: y[j] = d * kvalues_iq4nl[qs[j] & 0xf], y[j+16] = d * kvalues[qs[j] >> 4]
void decode_iq4_nl(const std::uint8_t* in, std::int64_t n, float* y) {
  for (std::int64_t b = 0; b < n / kBlock; ++b, in += kBytes, y += kBlock) {
    const float d = from_fp16(get_u16(in));
    for (int j = 0; j < 16; ++j) {
      y[j] = d * static_cast<float>(kValues[in[2 + j] & 0xF]);
      y[j + 16] = d * static_cast<float>(kValues[in[2 + j] >> 4]);
    }
  }
}

}  // namespace ramq::gguf
