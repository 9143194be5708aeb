// Everything specific to writing (and reading back) Llama-family checkpoints as GGUF files for
// llama.cpp: architecture choice, tensor names, dimension order, the q/k row permutation,
// metadata keys, tokenizer conversion, and the streamed, parallel writer.
//
// Supported Hugging Face model_type values and the llama.cpp architecture they become:
//   llama, mistral -> "llama" (q_proj/k_proj rows permuted, see llama_permute_qk)
//   qwen2          -> "qwen2" (no permutation; q/k/v biases)
//   qwen3          -> "qwen3" (no permutation; q_norm/k_norm)
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
#include "ramq/gguf.h"
#include "ramq/progress.h"
#include "ramq/safetensors.h"

namespace ramq {

// ---- architecture -------------------------------------------------------------------------

struct GgufArch {
  std::string name;         // general.architecture: "llama", "qwen2", "qwen3"
  bool permute_qk = false;  // q_proj/k_proj rows are permuted (llama only)
};
// From config.model_type; throws Error(config_file, "", ...) for other model types.
GgufArch gguf_arch_for(const ModelConfig& cfg, const std::string& config_file);

// ---- tensor names and shapes --------------------------------------------------------------

// llama.cpp name of a Hugging Face tensor: "model.layers.3.self_attn.q_proj.weight" ->
// "blk.3.attn_q.weight". Returns "" for tensors llama.cpp does not use and that are skipped
// (rotary_emb.inv_freq buffers). Throws Error(file, hf_name, ...) for unknown names.
std::string hf_to_gguf_tensor_name(const std::string& hf_name, const std::string& file);
// Inverse map; nullopt for names with no Hugging Face counterpart (e.g. "rope_freqs.weight").
std::optional<std::string> gguf_to_hf_tensor_name(const std::string& gguf_name);

// ggml ne order is the reverse of the row-major shape: HF [out, in] -> ne [in, out]. The bytes of
// a row-major matrix are already in ggml order.
std::vector<std::int64_t> gguf_ne_from_shape(const std::vector<std::int64_t>& shape);
std::vector<std::int64_t> shape_from_gguf_ne(const std::vector<std::int64_t>& ne);

// ---- q/k permutation ----------------------------------------------------------------------

// convert_hf_to_gguf.py LlamaModel.permute: the rows of a [rows, cols] row-major matrix are
// viewed as (n_head, 2, head_dim/2) and the two inner axes swapped, turning Hugging Face's
// rotate_half layout (pairs i, i + head_dim/2) into llama.cpp's interleaved pairs (2i, 2i+1):
//   out row h*head_dim + 2*i + j = in row h*head_dim + j*head_dim/2 + i.
// q_proj uses num_attention_heads, k_proj num_key_value_heads; biases are [rows, 1].
// Requires rows % (2 * n_head) == 0 (throws std::invalid_argument otherwise); src != dst.
void llama_permute_qk(const float* src, float* dst, std::int64_t rows, std::int64_t cols, std::int64_t n_head);
// The inverse (GGUF -> Hugging Face), for the evaluator.
void llama_unpermute_qk(const float* src, float* dst, std::int64_t rows, std::int64_t cols, std::int64_t n_head);
// Heads to permute a Hugging Face tensor with for this architecture: num_attention_heads for
// q_proj weight/bias, num_key_value_heads for k_proj, 0 when the tensor is not permuted.
std::int64_t qk_permute_heads(const GgufArch& arch, const ModelConfig& cfg, const std::string& hf_name);

// ---- tokenizer ----------------------------------------------------------------------------

// llama.cpp token types (tokenizer.ggml.token_type).
enum class GgufTokenType : std::int32_t { NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6 };

struct GgufVocab {
  std::string model = "none";  // tokenizer.ggml.model: "llama" (SentencePiece), "gpt2" (byte-level BPE), "none"
  std::string pre;             // tokenizer.ggml.pre (gpt2 only): "llama-bpe", "qwen2", "smollm", "gpt-2", "default"
  std::vector<std::string> tokens;
  std::vector<float> scores;  // empty = not written
  std::vector<std::int32_t> token_types;
  std::vector<std::string> merges;  // "a b" (gpt2 only)
  std::optional<std::uint32_t> bos_id, eos_id, unk_id, pad_id;
  std::optional<bool> add_bos, add_eos, add_space_prefix;
  std::string source;  // the file it came from (file name), or "" for none
  std::string note;    // why a tokenizer file present was not used (empty if none)
};

// llama2.c tokenizer (tok512.bin): int32 max_token_length, then per token float32 score, int32
// length, bytes. Becomes a SentencePiece-style "llama" vocabulary: "<unk>" UNKNOWN, "\n<s>\n" ->
// "<s>" CONTROL, "\n</s>\n" -> "</s>" CONTROL, "<0xHH>" BYTE, other pieces NORMAL with ' ' ->
// U+2581. bos 1, eos 2, unk 0 when those pieces are there. Throws Error(file, "", ...).
GgufVocab vocab_from_llama2c(const std::filesystem::path& file);
// SentencePiece tokenizer.model (protobuf ModelProto, BPE model type): pieces, scores, types.
GgufVocab vocab_from_sentencepiece(const std::filesystem::path& file);
// Hugging Face tokenizer.json with a byte-level BPE model ("gpt2"). Returns nullopt (with the
// reason in *why) if the model is not byte-level BPE; throws Error for malformed files.
std::optional<GgufVocab> vocab_from_tokenizer_json(const std::filesystem::path& file, std::string* why);

// The vocabulary of a model directory, in this order of preference: tokenizer.model,
// tokenizer.json (byte-level BPE), tokenizer.bin / tok*.bin (llama2.c), else "none" (llama.cpp
// loads such a file as LLAMA_VOCAB_TYPE_NONE with [arch].vocab_size dummy tokens: it evaluates
// token ids, e.g. perplexity on pre-tokenized data, but cannot tokenize text). A file of an
// unsupported kind is skipped with a note; a malformed one is skipped too if a later file gives
// a vocabulary, else its Error is thrown. Special
// token ids and add_bos/add_eos come from tokenizer_config.json and config.json. The token list
// is padded with "[PAD<id>]" UNUSED tokens to n_vocab (the embedding rows); more tokens than
// n_vocab is an Error.
GgufVocab load_model_vocab(const std::filesystem::path& dir, const ModelConfig& cfg, std::int64_t n_vocab);

// tokenizer.ggml.* key/values for the vocabulary ("none": only tokenizer.ggml.model).
void append_vocab_kvs(const GgufVocab& vocab, std::vector<GgufKV>& kvs);

// ---- metadata -----------------------------------------------------------------------------

// llama_ftype for a file from the parameter count per ggml type of its 2-D tensors: the most
// common quantized type (Q4_K -> 15 MOSTLY_Q4_K_M, Q8_0 -> 7, ...), else the most common float
// type (F32 0, F16 1, BF16 32). Ties go to the type listed first in ggml_types().
std::uint32_t llama_file_type(const std::map<GgmlType, std::int64_t>& params_by_type);
// The llama_ftype llama.cpp's llama_model_quantize writes for one of its mixes (llama.h's enum
// llama_ftype: Q3_K_M 12, Q4_K_M 15, Q5_K_M 17, Q6_K 18, Q8_0 7), whatever block fallbacks the
// tensors got; nullopt for other names.
std::optional<std::uint32_t> llama_mix_file_type(const std::string& mix);

// general.* and [arch].* key/values (without the tokenizer), in a fixed order. n_vocab is the
// embedding row count. Throws Error(config_file, ...) for unsupported rope_scaling settings.
std::vector<GgufKV> llama_gguf_metadata(const ModelConfig& cfg, const GgufArch& arch, const std::string& model_name,
                                        std::uint32_t file_type, std::int64_t n_vocab, const std::string& config_file);

// The inverse, for reading a GGUF file back (the evaluator): a ModelConfig from general.* and
// [arch].* metadata (model_type = the architecture, head_dim = key_length or embedding/heads,
// tie_word_embeddings = no output.weight tensor, vocab_size = [arch].vocab_size, else the
// token list length, else token_embd's rows). raw holds the same fields as config.json would.
// Throws Error(file, "", ...) naming a missing or mistyped key or an unsupported architecture.
ModelConfig model_config_from_gguf(const GgufReader& gguf, const std::string& file);
// config.raw key under which model_config_from_gguf puts the rope_freqs.weight factors (Llama 3
// rope scaling in GGUF): the evaluator divides rotary frequency i by factor i, as llama.cpp does.
inline constexpr const char* kRopeFreqFactorsKey = "ramq_rope_freq_factors";

// Llama 3 rope scaling ("rope_type": "llama3"): the rope_freqs.weight factors (head_dim/2
// floats), or nullopt when config.json asks for none.
std::optional<std::vector<float>> llama3_rope_factors(const ModelConfig& cfg);

// ---- writing ------------------------------------------------------------------------------

struct GgufWriteSummary;

struct GgufWriteOptions {
  unsigned threads = 0;                     // 0 = all cores; output does not depend on it
  std::string model_name;                   // general.name; "" = the model directory's name
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
