// write, internal: tokenizer.ggml.pre of a Hugging Face tokenizer.json, identified as llama.cpp's
// converter identifies it (conversion/base.py `get_vocab_base_pre`): the token ids of its fixed
// check text, encoded with special tokens, printed as a Python list ("[128000, 198, 4815]"),
// hashed with SHA-256, and looked up in the converter's table. llama.cpp's vocabulary loader then
// picks the pre-tokenizer's regexes and flags from that name (src/llama-vocab.cpp).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace ramq {

// The converter's name for a check-text hash, if it knows the hash.
std::optional<std::string_view> converter_pre_name(std::string_view check_hash);
// Whether llama.cpp's vocabulary loader accepts `name` as tokenizer.ggml.pre.
bool is_llama_cpp_pre_name(std::string_view name);
// Every name it accepts, comma-separated (for messages and --help).
std::string llama_cpp_pre_names();

// The converter's check-text hash of the tokenizer.json at `path`, tokenized by ramq's own
// tokenizer; nullopt (with the reason in *why) if ramq cannot tokenize it.
std::optional<std::string> converter_check_hash(const std::filesystem::path& path, std::string* why);

// tokenizer.ggml.pre for the tokenizer.json at `path`: `override` if not empty (it must be a name
// llama.cpp accepts), else the converter's name for its check-text hash. Throws Error(path, "",
// ...) naming the hash when the converter does not know it, or why the hash cannot be computed.
std::string gguf_pre_tokenizer(const std::filesystem::path& path, const std::string& override);

}  // namespace ramq
