// Mistral's tekken.json tokenizer file, as mistral_common reads it (tokens/tokenizers/tekken.py,
// Tekkenizer.from_file): special tokens take ids 0..n_special-1, the ordinary tokens (tiktoken
// ranks, base64 bytes) follow at rank + n_special, and the text is split by config.pattern before
// byte-pair merging. Shared by the tokenizer (`ramq eval`) and the GGUF vocabulary writer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ramq {

struct TekkenMerge {
  std::uint32_t left, right, merged;  // ranks of ordinary tokens
};

struct TekkenFile {
  std::string file;
  std::string pattern;                // config.pattern: the pre-tokenizer regex
  std::string version;                // config.version, e.g. "v3"
  std::vector<std::string> specials;  // token_str of ids 0..n_special-1 ("<SPECIAL_i>" fillers included)
  std::vector<std::string> tokens;    // bytes of the ordinary tokens by rank (id = rank + specials.size())
  // The merges llama.cpp's converter derives from the ranks (gguf-py vocab.py MistralVocab
  // extract_vocab_merges_from_model): for every token from rank 256 on, each split into two
  // tokens, ordered by the merged rank, then by the ranks of the two halves.
  std::vector<TekkenMerge> merges;

  std::size_t vocab_size() const { return specials.size() + tokens.size(); }
  // The id of a special token by its text ("<s>", "</s>", "<unk>", "<pad>").
  std::optional<std::uint32_t> special_id(std::string_view text) const;
};

// A token's text in a GGUF "gpt2" vocabulary, as llama.cpp's converter writes tekken tokens:
// its bytes in GPT-2's byte-level alphabet.
std::string byte_level_text(std::string_view bytes);

// Reads and checks `path`; throws Error(path, "", problem) for anything mistral_common would
// refuse or that ramq cannot honour.
TekkenFile read_tekken(const std::filesystem::path& path);

}  // namespace ramq
