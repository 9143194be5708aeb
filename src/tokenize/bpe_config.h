// The parts of a Hugging Face tokenizer.json that the BPE tokenizer uses, checked and
// preprocessed (internal to src/tokenize). Two alphabets: byte-level BPE (GPT-2's byte mapping,
// a ByteLevel pre-tokenizer) and SentencePiece-style BPE (symbols are characters, " " written as
// "\u2581" by a Replace normalizer or a Metaspace pre-tokenizer, byte_fallback to <0xXX> tokens:
// Llama 2, Mistral v0.1, Gemma).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
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

// One normalizer step, applied to the text between added tokens.
struct TextEdit {
  enum class Kind { kNfc, kPrepend, kReplace } kind = Kind::kNfc;
  std::string from;  // kReplace: the literal replaced
  std::string to;    // kPrepend: the prefix (not added to an empty text); kReplace: the replacement
};

// How a literal Split keeps its delimiter (tokenizers' SplitDelimiterBehavior).
enum class SplitBehavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext, kContiguous };

// A pre-tokenizer step of SentencePiece-style BPE: a Split on a literal, or Metaspace (replace
// " " with `delimiter`, prepend it per `prepend`, then split before each one if `split`).
struct CharStep {
  enum class Kind { kSplit, kMetaspace } kind = Kind::kSplit;
  enum class Prepend { kAlways, kFirst, kNever } prepend = Prepend::kNever;
  std::string delimiter;
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool split = false;
};

struct BpeConfig {
  std::string file;
  // Byte-level: model vocabulary as raw bytes -> id; SentencePiece-style: token text -> id.
  std::unordered_map<std::string, std::uint32_t> byte_vocab;
  // Byte-level: id of each single byte; SentencePiece-style with byte_fallback: id of <0xXX>.
  std::array<std::uint32_t, 256> byte_ids{};
  std::unordered_map<std::uint64_t, Merge> merges;            // (left id, right id) -> merge
  std::vector<std::string> pieces;                            // id -> bytes for decode
  std::vector<char> has_piece;
  std::vector<AddedToken> added;
  std::vector<TextEdit> normalizer;
  bool char_level = false;     // SentencePiece-style: the first symbols are characters
  bool byte_fallback = false;  // char_level: a character not in the vocabulary -> its <0xXX> bytes
  std::optional<std::uint32_t> unk;  // char_level without byte fallback: the unknown token
  bool fuse_unk = false;
  std::vector<CharStep> char_steps;  // char_level: the pre-tokenizer
  std::size_t decode_strip = 0;      // leading spaces the decoder removes (Strip / Metaspace)
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
