// Reading input files without hanging or reading without end: every file ramq reads is opened
// non-blocking (a FIFO named as an input would otherwise block the open until a writer comes),
// checked to be a regular file before anything is read (a directory, FIFO, socket or device is
// refused with one line), and read only up to a limit that the file's format sets.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace ramq {

// Limits by format, far above any real file of that kind.
inline constexpr std::uint64_t kMaxJsonInputBytes = std::uint64_t{1} << 30;    // plan, analysis, manifest, eval JSON
inline constexpr std::uint64_t kMaxTextInputBytes = std::uint64_t{4} << 30;    // eval --text
inline constexpr std::uint64_t kMaxTokenInputBytes = std::uint64_t{16} << 30;  // eval --tokens (4 bytes a token)
inline constexpr std::uint64_t kMaxTokenizerFileBytes = std::uint64_t{1} << 30;  // tokenizer.model, tokenizer.bin

// Opens `path` read-only, non-blocking and close-on-exec, and checks it is a regular file.
// Returns the descriptor (the caller closes it) and its size. Throws ramq::Error(path, "", ...)
// naming what the path is instead ("is a directory", "is a FIFO", ...).
int open_regular_file(const std::filesystem::path& path, std::uint64_t& size);

// The whole file, at most `limit` bytes (a larger file is refused, naming its size and the limit).
std::string read_regular_file(const std::filesystem::path& path, std::uint64_t limit);

// What a path is, for messages: "a directory", "a FIFO", "a socket", "a character device",
// "a block device", "a symbolic link", "a regular file", or "missing".
std::string describe_file_type(const std::filesystem::path& path, bool follow_links);

}  // namespace ramq
