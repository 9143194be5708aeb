// Tokenizers for `ramq eval --text FILE`: Hugging Face BPE (tokenizer.json: byte-level, or
// SentencePiece-style with byte fallback as Llama 2 / Mistral v0.1 / Gemma), Mistral's
// tekken.json, sentencepiece (tokenizer.model) and llama2.c (tok*.bin). Bad files throw ramq::Error naming the
// file (tensor ""); the Tokenizer objects are immutable and safe to use from several threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ramq {

class Tokenizer {
 public:
  virtual ~Tokenizer();
  // Token ids of `text` (raw bytes, normally UTF-8). With add_bos, the tokenizer's start-of-text
  // convention is applied (llama2.c / sentencepiece: BOS; tokenizer.json: the post-processor's
  // TemplateProcessing special tokens, which may be none, as for Qwen).
  virtual std::vector<std::uint32_t> encode(std::string_view text, bool add_bos) const = 0;
  // Text of the ids; control tokens (BOS/EOS) are left out where the format marks them as such.
  virtual std::string decode(std::span<const std::uint32_t> ids) const = 0;
  // "bpe", "sentencepiece" or "llama2c".
  virtual std::string kind() const = 0;
  // The id encode(text, true) puts first, if any.
  virtual std::optional<std::uint32_t> bos_id() const = 0;
};

// Picks the tokenizer of a model directory: tokenizer.json (BPE), else Mistral's
// tekken.json, else tokenizer.model (sentencepiece), else a llama2.c tok*.bin (the first by name);
// Error if none. (tekken.json before tokenizer.model, after tokenizer.json: as llama.cpp's converter.)
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir);
std::unique_ptr<Tokenizer> load_hf_tokenizer_json(const std::filesystem::path& file);
// tekken.json (ramq/tekken.h) as byte-level BPE: add_bos puts "<s>" first.
std::unique_ptr<Tokenizer> load_tekken(const std::filesystem::path& file);
std::unique_ptr<Tokenizer> load_sentencepiece(const std::filesystem::path& file);
std::unique_ptr<Tokenizer> load_llama2c_tokenizer(const std::filesystem::path& file);

// Document conventions of the reference token files (shared/data/stories260K/REFERENCE.md).
// TinyStories: split on `separator`, strip each story of leading/trailing ASCII whitespace, skip
// empty ones, encode each with add_bos=true, concatenate.
std::vector<std::uint32_t> encode_stories(const Tokenizer& tok, std::string_view text,
                                          std::string_view separator = "<|endoftext|>");
// WikiText: the whole text is one document, encoded with add_bos=true, then truncated to
// max_tokens ids (0 = no limit).
std::vector<std::uint32_t> encode_document(const Tokenizer& tok, std::string_view text, std::size_t max_tokens = 0);

}  // namespace ramq
