// write stage for MLX: quantized safetensors shards + index + config.json with a
// "quantization" block, loadable by mlx_lm.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramq/mlx_affine.h"
#include "ramq/progress.h"
#include "ramq/plan.h"
#include "ramq/safetensors.h"
#include "ramq/safetensors_writer.h"

namespace ramq {

// How the writers encode and lay out files (the plan says what: encodings and keep_dtype).
struct WriteOptions {
  unsigned threads = 0;  // 0 = all hardware threads; output bytes never depend on it
  MlxEncoder mlx_encoder = MlxEncoder::Search;  // MLX affine encoder
  std::uint64_t max_shard_bytes = 5'000'000'000ULL;  // largest safetensors shard (tensor bytes, MLX)
  std::string gguf_pre;  // GGUF tokenizer.ggml.pre of a tokenizer.json: "" = as llama.cpp's converter identifies it
  Progress* progress = nullptr;  // not owned; never changes the output
};

struct WriteSummary {
  std::filesystem::path output;
  std::uint64_t total_bytes = 0;   // bytes of all files written
  std::uint64_t tensor_bytes = 0;  // bytes of tensor data
  std::uint64_t model_bytes = 0;   // bytes of the model files: the GGUF file, or the safetensors shards
  std::int64_t params = 0;
  double average_bits = 0;         // 8 * tensor_bytes / params
  int shards = 0;
  std::string note;                // extra facts for the summary line (e.g. GGUF tokenizer)
};

// mlx_lm's parameter path of a Hugging Face tensor name (ModelFamily::mlx_path).
using MlxPathFn = std::string (*)(std::string_view hf_name);

// The "quantization" object of the output config.json (also written as "quantization_config"):
// {"group_size": G, "bits": B} with the most common (bits, group) among quantized tensors,
// weighted by parameter count (ties: smaller bits, then smaller group), plus an entry
// {"group_size", "bits"} for every quantized module whose (bits, group) differs, keyed by the
// mlx_lm module path: the tensor's mlx_path (the name itself when null) without ".weight" (mlx_lm
// utils.py load_model's class_predicate looks modules up by that path). The routed experts of one
// projection are one module ("model.layers.0.mlp.switch_mlp.gate_proj"); Error if they differ.
// Null when no tensor is quantized. Throws ramq::Error for a quantized tensor whose name does not
// end in ".weight".
nlohmann::json mlx_quantization_config(const Plan& plan, MlxPathFn mlx_path = nullptr);

// True for a file name (no directory) that is copied byte for byte from the model directory
// into an MLX output: tokenizer and generation files (tokenizer.json, tokenizer_config.json,
// tokenizer.model, special_tokens_map.json, generation_config.json, vocab.json, merges.txt,
// added_tokens.json, chat_template.jinja, chat_template.json, tekken.json, tok*.bin, *.tiktoken).
// Not copied: transformers' additional_chat_templates/ folder of named templates (an output
// directory holds plain files only; ramq verify refuses anything its manifest does not list).
bool is_mlx_passthrough_file(const std::string& file_name);

// Several processes (MPI, include/ramq/ramq.h's Cluster): the source tensors for which
// `is_remote` (given the tensor's name) is true are encoded by another process with
// encode_mlx_tensors; write_mlx_model does not read them and calls `receive` (name, the unit's
// output specs) for their outputs' bytes, in the order of those specs, one tensor at a time, when
// the first of its outputs is to be written.
struct MlxRemote {
  std::function<bool(const std::string&)> is_remote;
  std::function<std::vector<std::vector<std::byte>>(const std::string&, const std::vector<OutTensorSpec>&)> receive;
};

// The layout is mlx_lm's (what mlx_lm.convert saves after its model's sanitize()): tensors under
// the family's mlx_path; for mixture-of-experts families the routed experts of one projection in
// one layer stacked into one [experts, out, in] tensor ("<mlp>.switch_mlp.<proj>.weight", with
// stacked ".scales"/".biases" when quantized), which is the per-expert encodings concatenated in
// expert order; per-layer buffers of no use (rotary_emb.inv_freq), which their sanitize() keeps
// and their strict load refuses, are left out. Dense families: every tensor under its own name.
// Writes the MLX model into out_dir atomically (the directory appears only when complete; an
// existing output directory is replaced). Output bytes do not depend on opt.threads. F32
// tensors kept in float stay F32 with plan.keep_dtype, else become F16.
// before_commit, if set, is called with the temporary directory once every file is in it, just
// before it is renamed into place (the pipeline writes ramq-manifest.json there).
WriteSummary write_mlx_model(const ModelReader& model, const Plan& plan, const WriteOptions& opt,
                             const std::filesystem::path& out_dir,
                             const std::function<void(const std::filesystem::path&)>& before_commit = {},
                             const MlxRemote* remote = nullptr);
// The other side of MlxRemote: lays the output out as write_mlx_model does (same validation),
// encodes only the source tensors `mine` selects (by name), in the order write_mlx_model needs
// them, in the same parallel batches, and hands each to `send` (name, its outputs' bytes in the
// order of its output specs) in that order. Writes nothing.
void encode_mlx_tensors(const ModelReader& model, const Plan& plan, const WriteOptions& opt,
                        const std::function<bool(const std::string&)>& mine,
                        const std::function<void(const std::string&, std::vector<std::vector<std::byte>>&&)>& send);
// Bytes of the safetensors files write_mlx_model would write for this plan (tensor data plus
// each shard's header; config, index and tokenizer files not included), without encoding.
std::uint64_t mlx_weight_files_bytes(const ModelReader& model, const Plan& plan, const WriteOptions& opt);

}  // namespace ramq
