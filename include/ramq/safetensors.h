// Reading Hugging Face checkpoints: safetensors files (single or sharded) and config.json.
// Files are memory-mapped; every header field is validated before it is used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramq/dtype.h"

namespace ramq {

// How a tensor's values are stored. ModelReader presents a block-scaled pair of stored tensors
// as one logical float tensor (docs/formats.md, "Inputs"), decoded while it is read.
enum class SourceEncoding : std::uint8_t {
  Plain,     // elements of `dtype`
  F8Block,   // F8_E4M3 codes "X" times per-block scales "X_scale_inv" (DeepSeek-V3, Qwen3-FP8)
  Mxfp4,     // E2M1 codes "P_blocks" times E8M0 scales "P_scales", 32 per block (gpt-oss)
  // Elements of `dtype` stored column by column: element (r, c) is stored element
  // c * column_stride + r of the byte range (an expert of a stack stored [E, in, out]).
  Transposed,
};

struct TensorInfo {
  std::string name;
  // Plain and Transposed: the stored dtype. F8Block and Mxfp4: BF16, the float dtype the values
  // are presented as (what float copies and --keep-dtype write, as Hugging Face's own
  // dequantization does).
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;  // encoded: the logical [..., rows, cols]
  std::string file;          // path of the safetensors file that holds it (encoded: the codes)
  std::uint64_t offset = 0;  // absolute byte offset of the data in that file
  std::uint64_t nbytes = 0;  // encoded: the codes' bytes (the scales' are scales->nbytes)

  SourceEncoding encoding = SourceEncoding::Plain;
  std::string stored_name;                    // encoded: the codes' tensor ("X", "P_blocks")
  std::shared_ptr<const TensorInfo> scales;   // encoded: the stored scale tensor
  std::int64_t block_rows = 0, block_cols = 0;  // F8Block: elements per scale (weight_block_size)
  // F8Block: rows of the first block of scales that precede row 0 (an expert's half of a fused
  // gate_up stack that starts inside a block); the scales span ceil((phase + rows) / block_rows).
  std::int64_t block_row_phase = 0;
  std::int64_t column_stride = 0;  // Transposed: elements from one stored column to the next
  // A routed expert that the file stores inside a stack of all experts (read/stacked_experts.h):
  // "model.layers.0.mlp.experts.gate_up_proj [128, 1536, 2048], expert 3, rows 0-767"; "" for a
  // tensor stored on its own.
  std::string stored_as;

  std::int64_t numel() const;
  bool encoded() const { return encoding != SourceEncoding::Plain; }
  // The source's element type as the manifest and inspect show it: "F8_E4M3", "MXFP4", else dtype.
  std::string source_dtype() const;
};

// Parses and validates a safetensors header. `file_bytes` is the whole file (mapped);
// `file` is used in error messages only. Checks: header length vs file size, JSON shape,
// dtype names, shapes (non-negative, no overflow), shape x dtype size == byte span,
// offsets inside the data area, no overlap, duplicate names. Throws ramq::Error.
struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // in file order (by offset)
  std::map<std::string, std::string> metadata;
};
SafetensorsHeader parse_safetensors_header(std::span<const std::byte> file_bytes, const std::string& file);

// Architecture facts read from config.json.
struct ModelConfig {
  std::string model_type;    // "llama", "qwen2", ...
  std::string architecture;  // architectures[0], e.g. "LlamaForCausalLM"
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_hidden_layers = 0;
  std::int64_t num_attention_heads = 0;
  std::int64_t num_key_value_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t vocab_size = 0;
  std::int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  nlohmann::json raw;  // the whole file, for copying into outputs
};
ModelConfig parse_model_config(const std::string& text, const std::string& file);  // throws ramq::Error
// Upper limits on a configuration's sizes, far above any real model's (hidden_size and
// intermediate_size 2^20, layers, heads and head_dim 2^16, vocab_size 2^24), so that a hostile
// file cannot make later stages allocate or loop without bound; parse_model_config and
// model_config_from_gguf apply them. Throws ramq::Error naming the file and the field.
void check_model_config_limits(const ModelConfig& c, const std::string& file);

class MappedFile;
namespace detail {
class EncodedView;
}

// A model directory: config.json plus model.safetensors or model.safetensors.index.json + shards.
class ModelReader {
 public:
  explicit ModelReader(const std::filesystem::path& dir);
  ~ModelReader();
  ModelReader(const ModelReader&) = delete;
  ModelReader& operator=(const ModelReader&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  const ModelConfig& config() const { return config_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // sorted by name
  const TensorInfo* find(const std::string& name) const;
  // Every file the model was read from (config.json, index, shards), relative to dir, sorted.
  std::vector<std::string> input_files() const;

  // Raw bytes of a tensor (inside the mapping; valid while the reader lives).
  std::span<const std::byte> raw(const TensorInfo& t) const;
  // The tensor as float32; throws ramq::Error naming file and tensor if it holds NaN or Inf (the
  // first one). Converted on up to `threads` workers in fixed chunks (same result for any count).
  std::vector<float> load_f32(const TensorInfo& t, unsigned threads = 1) const;
  // The same into `out` (exactly numel floats), which the caller may reuse across tensors: no
  // allocation, no zero fill, and pages already touched by an earlier tensor fault no more.
  void load_f32_into(const TensorInfo& t, std::span<float> out, unsigned threads = 1) const;
  // Rows `rows` (ascending indices < numel / cols) of the tensor seen as a numel/cols x cols matrix,
  // as float32, one after another. Same checks and errors as load_f32, for those rows only.
  std::vector<float> load_rows_f32(const TensorInfo& t, std::span<const std::int64_t> rows, std::int64_t cols) const;
  // Throws what load_f32 throws for a NaN or Inf, without converting the tensor: a scan of its
  // bytes on up to `threads` workers.
  void check_finite(const TensorInfo& t, unsigned threads = 1) const;
  // Starts reading the tensor's bytes ahead (see MappedFile::prefetch).
  void prefetch(const TensorInfo& t) const;
  // Tells the kernel the tensor's pages may be dropped (after use).
  void release(const TensorInfo& t) const;
  // The tensor's values as little-endian elements of t.dtype: raw(t) copied for a plain tensor,
  // decoded and rounded to t.dtype for an encoded one (raw(t) is then the codes).
  std::vector<std::byte> dtype_bytes(const TensorInfo& t) const;
  // Elements [first, first + out.size()) of the tensor, decoded as load_f32 does, without the
  // finiteness check (evaluation reads encoded tensors a row range at a time).
  void load_range_f32(const TensorInfo& t, std::size_t first, std::span<float> out) const;
  // Throws ramq::Error naming the first tensor whose dtype is not F32, F16 or BF16 (the inputs
  // analyze and quantize accept, encoded tensors included; inspect shows any dtype).
  void require_float_weights() const;

 private:
  std::filesystem::path dir_;
  ModelConfig config_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::unique_ptr<MappedFile>> files_;  // by path string

  // Null for a plain tensor; `check_scales`: throw for a NaN or Inf scale.
  std::unique_ptr<detail::EncodedView> encoded_view(const TensorInfo& t, bool check_scales) const;
};

}  // namespace ramq
