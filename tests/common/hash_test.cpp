#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ramq/error.h"
#include "ramq/hash.h"

using namespace ramq;

TEST(Hash, Sha256KnownVector) {
  const char* abc = "abc";  // FIPS 180-2 test vector
  EXPECT_EQ(sha256_hex(std::as_bytes(std::span(abc, 3))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Hash, FileHashMatchesPublishedHash) {
  // Hash published in shared/models/stories260K/README.md.
  EXPECT_EQ(sha256_file_hex(std::string(RAMQ_SHARED_DIR) + "/models/stories260K/config.json"),
            "b3818b2f8a2d915e0de7f5da35ea536746a0faab9540ba8dc51de3aec77e9b2c");
}

TEST(Hash, FileHashEqualsOneShotHashAcrossPieces) {
  // Empty file: the published SHA-256 of no bytes. Then 64 MiB + 3 bytes (the file is hashed in
  // 64 MiB pieces): equal to the one-shot hash of the same bytes in memory.
  const auto dir = std::filesystem::temp_directory_path() / ("ramq-hash-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  { std::ofstream(dir / "empty"); }
  EXPECT_EQ(sha256_file_hex(dir / "empty"), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  std::vector<std::byte> bytes((std::size_t{64} << 20) + 3);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>((i * 2654435761u) >> 13);
  {
    std::ofstream out(dir / "big", std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  EXPECT_EQ(sha256_file_hex(dir / "big"), sha256_hex(bytes));
  bytes.back() ^= std::byte{1};
  EXPECT_NE(sha256_file_hex(dir / "big"), sha256_hex(bytes));
  std::filesystem::remove_all(dir);
  EXPECT_THROW(sha256_file_hex(std::filesystem::temp_directory_path()), Error);  // a directory
}

TEST(Hash, MissingFileIsAnError) {
  EXPECT_THROW(sha256_file_hex("/nonexistent/ramq/file"), Error);
}

TEST(ErrorLine, NamesFileTensorProblemOnOneLine) {
  Error e("m/model.safetensors", "w.weight", "bad\nthing");
  EXPECT_STREQ(e.what(), "m/model.safetensors: tensor 'w.weight': bad thing");
  EXPECT_EQ(format_error_line("f", "", "p"), "f: p");
}
