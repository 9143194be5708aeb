// Split pre-tokenizer steps of any regex (internal to src/tokenize): the tokenizer.json regex
// compiled with ICU's regex engine, \s and \S rewritten to Unicode White_Space as Oniguruma (the
// engine of Hugging Face tokenizers) defines them. Isolated behaviour: every match is a piece,
// and so is every stretch of text between matches. A sequence of steps applies each step to
// every piece of the step before.
#pragma once

#include <unicode/regex.h>
#include <unicode/unistr.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pretokenize.h"

namespace ramq::tokenize {

// `regex` with \s -> [\p{White_Space}], \S -> [^\p{White_Space}] (inside a class: \p{..} /
// \P{..}), every other escape and character kept. Returns "" with *why set if the regex ends
// inside an escape.
std::string oniguruma_to_icu(std::string_view regex, std::string* why);

// A compiled Split regex. Throws std::runtime_error with ICU's message if it does not compile.
class RegexSplitter {
 public:
  explicit RegexSplitter(std::string_view regex);
  std::unique_ptr<icu::RegexMatcher> matcher() const;

 private:
  std::unique_ptr<icu::RegexPattern> pattern_;
};

// One step of a pre-tokenizer sequence: a hand-written matcher (SplitPattern::kLlama3/kQwen2) or
// a regex.
struct SplitStep {
  SplitPattern hand = SplitPattern::kNone;
  std::shared_ptr<const RegexSplitter> regex;
};

// Appends the pre-tokens of `text` after all `steps` to `out` (byte ranges, in order, covering
// the text). No steps: the whole text. An invalid UTF-8 byte is one U+FFFD for the regexes (neither
// letter, number nor space) and keeps its byte in the pieces.
void split_steps(std::string_view text, const std::vector<SplitStep>& steps, std::vector<Piece>& out);

}  // namespace ramq::tokenize
