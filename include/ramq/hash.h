// SHA-256 of files and buffers (OpenSSL), hex encoded.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>

namespace ramq {

std::string sha256_hex(std::span<const std::byte> data);
std::string sha256_file_hex(const std::filesystem::path& path);  // streams the file; throws ramq::Error

}  // namespace ramq
