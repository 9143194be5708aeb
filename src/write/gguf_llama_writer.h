// write, GGUF: a Hugging Face checkpoint of a model family ramq knows (src/arch/) as one GGUF file
// for llama.cpp: the streamed, parallel writer, its size without writing, the remote-encoding
// side of a distributed run, and general.file_type. Tensor names, q/k permutation and metadata
// come from the family (arch/gguf_names.h, arch/qk_permute.h, arch/gguf_metadata.h), the
// tokenizer from write/gguf_vocab.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ramq/atomic_output.h"
#include "ramq/ggml_types.h"
#include "ramq/progress.h"
#include "ramq/safetensors.h"

namespace ramq {

// llama_ftype for a file from the parameter count per ggml type of its 2-D tensors: the most
// common quantized type (Q4_K -> 15 MOSTLY_Q4_K_M, Q8_0 -> 7, ...), else the most common float
// type (F32 0, F16 1, BF16 32). Ties go to the type listed first in ggml_types().
std::uint32_t llama_file_type(const std::map<GgmlType, std::int64_t>& params_by_type);
// The llama_ftype llama.cpp's llama_model_quantize writes for one of its mixes (llama.h's enum
// llama_ftype: Q3_K_M 12, Q4_K_M 15, Q5_K_M 17, Q6_K 18, Q8_0 7), whatever block fallbacks the
// tensors got; nullopt for other names.
std::optional<std::uint32_t> llama_mix_file_type(const std::string& mix);

struct GgufWriteSummary;

struct GgufWriteOptions {
  unsigned threads = 0;                     // 0 = all cores; output does not depend on it
  std::string model_name;                   // general.name; "" = as llama.cpp's converter names it (write/gguf_naming.h)
  std::string pre_tokenizer;                // tokenizer.ggml.pre of a tokenizer.json; "" = identified (gguf_pre_tokenizer.h)
  std::uint64_t batch_bytes = 512ull << 20;  // float32 bytes held per parallel batch (one tensor always fits)
  // Called with the complete temporary file and what was written, just before it is renamed
  // into place; returns an output to commit together with it, under the same lock (the pipeline
  // writes the audit manifest there), or null.
  std::function<std::unique_ptr<AtomicOutput>(const std::filesystem::path&, const GgufWriteSummary&)> before_commit;
  Progress* progress = nullptr;             // not owned; never changes the file
  // general.file_type; nullopt = llama_file_type() of the tensor types. The pipeline sets
  // llama_mix_file_type() for a --policy llama-mix plan, as llama.cpp's quantizer would.
  std::optional<std::uint32_t> file_type;
  // Several processes (MPI, include/ramq/ramq.h's Cluster): the tensors for which `remote` (given
  // the Hugging Face name) is true are encoded by another process with encode_llama_gguf_tensors;
  // this one does not read them and calls `receive` (name, expected byte count) for their bytes,
  // one at a time, in file order, when their turn to be written comes. Empty: all are local.
  std::function<bool(const std::string&)> remote;
  std::function<std::vector<std::byte>(const std::string&, std::uint64_t)> receive;
};

struct GgufWriteSummary {
  std::filesystem::path output;
  std::uint64_t file_bytes = 0;    // size of the GGUF file
  std::uint64_t tensor_bytes = 0;  // tensor data without alignment padding
  std::int64_t params = 0;         // elements of all tensors written
  double average_bits = 0;         // 8 * tensor_bytes / params
  std::size_t tensors = 0;
  std::string architecture;        // "llama", ...
  std::uint32_t file_type = 0;     // general.file_type
  std::string tokenizer;           // e.g. "llama from tok512.bin (512 tokens)" or "none (...)"
  std::string metadata_note;       // naming values left out (a malformed model card ...); "" = none
  // The ggml type each source tensor was written as, by Hugging Face name (1-D tensors are F32
  // whatever the plan says): what the manifest records.
  std::map<std::string, GgmlType> written_types;
};

// Writes the model as a GGUF file through AtomicOutput (temporary name, renamed at the end).
// `types` gives the ggml type of every 2-D tensor, keyed by Hugging Face name (missing -> Error);
// 1-D tensors (norms, biases) are always F32. Tensor order: token_embd, rope_freqs, blocks in
// order, output_norm, output. Throws ramq::Error on bad input or I/O failure.
GgufWriteSummary write_llama_gguf(const ModelReader& model, const std::map<std::string, GgmlType>& types,
                                  const std::filesystem::path& output, const GgufWriteOptions& opt = {});
// The other side of GgufWriteOptions::remote: lays the file out as write_llama_gguf does (same
// validation), encodes only the tensors `mine` selects (by Hugging Face name), in file order, in
// the same parallel batches, and hands each to `send` (name, bytes) in file order. Writes nothing.
void encode_llama_gguf_tensors(const ModelReader& model, const std::map<std::string, GgmlType>& types,
                               const GgufWriteOptions& opt, const std::function<bool(const std::string&)>& mine,
                               const std::function<void(const std::string&, std::vector<std::byte>&&)>& send);
// The size write_llama_gguf's file would have (header, metadata, tokenizer, tensor infos, data
// with padding), computed without encoding anything; validates like write_llama_gguf.
std::uint64_t llama_gguf_file_bytes(const ModelReader& model, const std::map<std::string, GgmlType>& types,
                                    const GgufWriteOptions& opt = {});

}  // namespace ramq
