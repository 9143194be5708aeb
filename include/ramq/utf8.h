// UTF-8 validation for names read from untrusted files (safetensors headers, GGUF strings).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace ramq {

// Offset of the first byte that does not start a valid UTF-8 sequence, or nullopt if `s` is valid
// UTF-8 (overlong forms, surrogates and code points above U+10FFFF are invalid).
std::optional<std::size_t> first_invalid_utf8(std::string_view s);

}  // namespace ramq
