// Normalizer and pre-tokenizer steps of SentencePiece-style BPE tokenizer.json files (internal to
// src/tokenize): NFC / Prepend / Replace normalizers, literal Split and Metaspace pre-tokenizers,
// with Hugging Face tokenizers' semantics.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "bpe_config.h"

namespace ramq::tokenize {

// `text` after every normalizer step in order (Prepend adds nothing to an empty text).
std::string apply_normalizer(std::string_view text, const std::vector<TextEdit>& edits);

// Appends the words of `text` after the pre-tokenizer `steps` to `out` (empty words dropped).
// `at_text_start`: the text begins at offset 0 of the input (Metaspace prepend_scheme "first").
void char_pretokenize(std::string text, const std::vector<CharStep>& steps, bool at_text_start,
                      std::vector<std::string>& out);

}  // namespace ramq::tokenize
