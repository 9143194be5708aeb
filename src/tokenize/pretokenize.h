// Text handling for byte-level BPE (internal to src/tokenize): NFC normalization, the split
// pre-tokenizers of Llama 3 and Qwen2/Qwen3 as hand-written matchers, and GPT-2's byte <-> unicode
// mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ramq::tokenize {

// The Split regexes these matchers implement (Isolated behaviour, not inverted):
//   Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   Qwen2:   the same with \p{N} instead of \p{N}{1,3}.
// \s is Unicode White_Space (as in Oniguruma, which Hugging Face tokenizers uses); invalid UTF-8
// bytes count as one symbol each (neither letter, number nor space).
enum class SplitPattern { kNone, kLlama3, kQwen2 };

// The pattern whose regex source (as written in tokenizer.json) is `regex`, if it is one of the above.
std::optional<SplitPattern> split_pattern_from_regex(std::string_view regex);

struct Piece {
  std::size_t begin;
  std::size_t end;
};
// Appends the pre-tokens of `text` (byte ranges, covering the text in order) to `out`.
void split_pretokens(std::string_view text, SplitPattern pattern, std::vector<Piece>& out);

// Unicode NFC of `text` (ICU). Invalid UTF-8 bytes are kept as they are; the valid runs between
// them are normalized separately.
std::string nfc(std::string_view text);

// GPT-2 byte-level alphabet: the code point standing for each byte, and the inverse.
std::uint32_t byte_to_codepoint(unsigned char b);
// The bytes of a byte-level token string (UTF-8 of alphabet characters), or nullopt if it holds
// a character outside the alphabet.
std::optional<std::string> byte_level_to_bytes(std::string_view token);

// Decodes one UTF-8 code point at text[i]; returns its length (1..4) and sets cp, or returns 0
// for an invalid sequence (cp is then U+FFFD and the caller consumes 1 byte).
std::size_t decode_utf8(std::string_view text, std::size_t i, std::uint32_t& cp);
void append_utf8(std::string& out, std::uint32_t cp);

}  // namespace ramq::tokenize
