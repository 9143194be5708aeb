// The parts of a Hugging Face tokenizer.json that the byte-level BPE tokenizer uses, checked and
// preprocessed (internal to src/tokenize).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include "pretokenize.h"
#include "ramq/tekken.h"
#include "regex_split.h"

namespace ramq::tokenize {

struct Merge {
  std::uint32_t rank;
  std::uint32_t id;  // id of the merged token
};
inline std::uint64_t pair_key(std::uint32_t a, std::uint32_t b) { return (std::uint64_t{a} << 32) | b; }

struct AddedToken {
  std::string content;
  std::uint32_t id = 0;
  bool lstrip = false;
  bool rstrip = false;
};

struct BpeConfig {
  std::string file;
  std::unordered_map<std::string, std::uint32_t> byte_vocab;  // model vocabulary: raw bytes -> id
  std::array<std::uint32_t, 256> byte_ids{};                  // id of each single byte
  std::unordered_map<std::uint64_t, Merge> merges;            // (left id, right id) -> merge
  std::vector<std::string> pieces;                            // id -> bytes for decode
  std::vector<char> has_piece;
  std::vector<AddedToken> added;
  bool nfc = false;
  bool ignore_merges = false;
  bool add_prefix_space = false;
  std::vector<SplitStep> steps;  // the pre-tokenizer's splits, in order
  std::vector<std::uint32_t> prefix;  // special tokens before / after the text when add_bos
  std::vector<std::uint32_t> suffix;
};

// Reads and checks `file`; throws ramq::Error(file, "", problem) for anything it cannot honour.
BpeConfig load_bpe_config(const std::filesystem::path& file);
// The byte-level BPE of a tekken.json (include/ramq/tekken.h): its pattern as the one Split step,
// its ranks as merges (llama.cpp converter's order), ignore_merges as tiktoken and llama.cpp's
// "tekken" do, BOS "<s>" for add_bos, and special tokens never matched in the text (as
// mistral_common and llama_tokenize without parse_special).
BpeConfig bpe_config_from_tekken(const TekkenFile& tekken);

}  // namespace ramq::tokenize
