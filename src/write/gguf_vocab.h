// write, GGUF: the tokenizer of a model directory as a llama.cpp vocabulary (tokenizer.ggml.*):
// llama2.c tokenizer.bin, SentencePiece tokenizer.model, Hugging Face byte-level BPE
// tokenizer.json (src/write/gguf_vocab.cpp, gguf_vocab_json.cpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ramq/gguf.h"
#include "ramq/safetensors.h"

namespace ramq {

// llama.cpp token types (tokenizer.ggml.token_type).
enum class GgufTokenType : std::int32_t { NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6 };

struct GgufVocab {
  std::string model = "none";  // tokenizer.ggml.model: "llama" (SentencePiece), "gpt2" (BPE), "none"
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
// Hugging Face tokenizer.json with a BPE model ("gpt2"): byte-level, or SentencePiece-style when
// its check-text hash (or `pre_override`) names a pre-tokenizer llama.cpp reads as such (gemma4,
// granite-embed-multi-311m: Gemma 3's file). Returns nullopt (with the reason in *why) if the
// model is not BPE or is a SentencePiece-style one llama.cpp would not tokenize the same; throws
// Error for malformed files and for a byte-level pre-tokenizer llama.cpp's converter would not
// recognise (write/gguf_pre_tokenizer.h), unless `pre_override` names one.
std::optional<GgufVocab> vocab_from_tokenizer_json(const std::filesystem::path& file, std::string* why,
                                                   const std::string& pre_override = "");

// Mistral's tekken.json ("gpt2", pre "tekken"; write/gguf_vocab_tekken.cpp). Throws Error.
GgufVocab vocab_from_tekken(const std::filesystem::path& file);

// The vocabulary of a model directory, in this order of preference: tekken.json when there is no
// tokenizer.json (as llama.cpp's converter: LlamaModel.set_vocab), tokenizer.model,
// tokenizer.json (byte-level BPE), tokenizer.bin / tok*.bin (llama2.c), else "none" (llama.cpp
// loads such a file as LLAMA_VOCAB_TYPE_NONE with [arch].vocab_size dummy tokens: it evaluates
// token ids, e.g. perplexity on pre-tokenized data, but cannot tokenize text). A file of an
// unsupported kind is skipped with a note; a malformed one is skipped too if a later file gives
// a vocabulary, else its Error is thrown. Special
// token ids and add_bos/add_eos come from tokenizer_config.json and config.json. The token list
// is padded with "[PAD<id>]" UNUSED tokens to n_vocab (the embedding rows); more tokens than
// n_vocab is an Error. `pre_override`: tokenizer.ggml.pre of a tokenizer.json (--gguf-pre).
// (tekken.json: special tokens and add_bos/add_eos from the file alone.) The result is remembered
// for the process (the last directory asked for, keyed by its tokenizer files' sizes and times):
// a budget run lays the file out several times.
GgufVocab load_model_vocab(const std::filesystem::path& dir, const ModelConfig& cfg, std::int64_t n_vocab,
                           const std::string& pre_override = "");

// tokenizer.ggml.* key/values for the vocabulary ("none": only tokenizer.ggml.model).
void append_vocab_kvs(const GgufVocab& vocab, std::vector<GgufKV>& kvs);

}  // namespace ramq
