// Helpers shared by gguf_vocab.cpp and gguf_vocab_json.cpp (not part of the public API).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "write/gguf_vocab.h"

namespace ramq::vocab_detail {

// The whole file, or Error(file, "", ...) if it is missing, unreadable or larger than limit.
std::string read_file_bytes(const std::filesystem::path& p, std::uintmax_t limit);
// Error(file, "", ...) if two tokens have the same text (llama.cpp asserts they are unique).
void check_unique(const GgufVocab& v, const std::string& file);
// SentencePiece tokenizer.model; nullopt (with *why) if it is not a BPE model.
std::optional<GgufVocab> sentencepiece_vocab(const std::filesystem::path& p, std::string* why);
// Special token ids and add_bos/add_eos from tokenizer_config.json, then config.json; for
// SentencePiece vocabularies also tokenizer_config.json's added_tokens_decoder.
void apply_special_tokens(GgufVocab& v, const std::filesystem::path& dir, const ModelConfig& cfg);

}  // namespace ramq::vocab_detail
