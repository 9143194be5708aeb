// write stage: one interface over the output formats. Each format lays out its files from a plan,
// encodes tensors (all of them, or one process's share under MPI), and writes the output with
// its audit manifest, receiving the tensors other processes encoded in the order it writes them.
// The pipeline holds an OutputWriter and never asks which format it is. Adding a format means one
// codec, one writer and one row in output_writer_for.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "ramq/encoding.h"
#include "ramq/manifest.h"
#include "ramq/mlx_writer.h"
#include "ramq/plan.h"
#include "ramq/safetensors.h"

namespace ramq {

// What writing needs from the pipeline beyond the plan.
struct OutputHooks {
  // Tensors (by Hugging Face name) another process encodes, and how to receive their parts (the
  // count the format stores them in) when their turn comes. Empty: all are encoded here.
  std::function<bool(const std::string&)> is_remote;
  std::function<EncodedParts(const std::string&, std::size_t)> receive;
  // Called once every tensor is in the temporary output, just before the manifest is written and
  // the output committed (the last moment another process can fail the run).
  std::function<void()> before_manifest;
  // The audit manifest's facts; the format adds the encodings it wrote and puts the manifest
  // where its readers look for it (inside an MLX directory, beside a GGUF file).
  std::function<ManifestContext()> manifest_context;
};

class OutputWriter {
 public:
  virtual ~OutputWriter() = default;
  virtual OutputFormat format() const = 0;
  // Bytes of the model files this plan gives (GGUF: the whole file; MLX: the safetensors shards),
  // computed without encoding.
  virtual std::uint64_t model_file_bytes(const ModelReader& model, const Plan& plan) const = 0;
  // Encodes the tensors `mine` selects, in the order write() needs them, and hands each to `send`.
  virtual void encode_tensors(const ModelReader& model, const Plan& plan,
                              const std::function<bool(const std::string&)>& mine,
                              const std::function<void(const std::string&, EncodedParts&&)>& send) const = 0;
  // Writes the output atomically with its manifest.
  virtual WriteSummary write(const ModelReader& model, const Plan& plan, const std::filesystem::path& output,
                             const OutputHooks& hooks) const = 0;
};

// The writer of a format (keep_dtype comes from the plan).
std::unique_ptr<OutputWriter> output_writer_for(OutputFormat format, const WriteOptions& opt);

}  // namespace ramq
