// Block-scaled input encodings (FP8 with block scales, MXFP4): pairing the stored tensors into
// one logical float tensor, and decoding its elements (see TensorInfo::encoding), those of
// transposed experts (read/stacked_experts.h) included.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "ramq/safetensors.h"

namespace ramq::detail {

// Replaces every block-scaled pair in `all` by one logical tensor and removes the scale tensors:
//  * an F8_E4M3 tensor X with X_scale_inv (or X_scales_inv, transformers' name for non-".weight"
//    parameters), F32/BF16/F16 of shape [..., ceil(rows/br), ceil(cols/bc)], where [br, bc] is
//    config.json quantization_config.weight_block_size (default [128, 128]);
//  * a U8 tensor P_blocks [..., rows, cols/32, 16] with U8 P_scales [..., rows, cols/32]: the
//    tensor P of shape [..., rows, cols].
// Throws ramq::Error naming the file and tensor for a missing or misshapen scale tensor, a scale
// tensor without its codes, or a logical name that is already taken. Returns `all` sorted by name.
void pair_encoded_tensors(std::vector<TensorInfo>& all, const nlohmann::json& config, const std::string& config_file);

// An encoded tensor's codes and scales, ready to decode any range of its elements.
class EncodedView {
 public:
  // `check_scales`: throws ramq::Error naming the scale tensor if a scale is NaN or Inf. A
  // Transposed tensor has no scales (`scales` empty).
  EncodedView(const TensorInfo& t, std::span<const std::byte> codes, std::span<const std::byte> scales,
              bool check_scales);
  // out[i] = the value of element first + i (row-major over the logical shape).
  void decode(std::size_t first, std::span<float> out) const;

 private:
  void decode_f8(std::size_t first, std::span<float> out) const;
  void decode_mxfp4(std::size_t first, std::span<float> out) const;
  void decode_transposed(std::size_t first, std::span<float> out) const;

  const TensorInfo& t_;
  const unsigned char* codes_;
  const unsigned char* scale_bytes_;
  std::vector<float> f8_scales_;  // F8Block: every scale as float
  std::size_t rows_ = 0, cols_ = 0, scale_rows_ = 0, scale_cols_ = 0;
};

}  // namespace ramq::detail
