// UTF-8 validation for names read from untrusted files (safetensors headers, GGUF strings), and
// text as Python reads it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ramq {

// Offset of the first byte that does not start a valid UTF-8 sequence, or nullopt if `s` is valid
// UTF-8 (overlong forms, surrogates and code points above U+10FFFF are invalid).
std::optional<std::size_t> first_invalid_utf8(std::string_view s);

// `raw` as Python's text-mode read gives it (universal newlines): "\r\n" and a lone "\r" become
// "\n". The converters of llama.cpp and mlx_lm read templates and model cards this way.
std::string python_universal_newlines(std::string_view raw);

}  // namespace ramq
