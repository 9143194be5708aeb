#include <gtest/gtest.h>

#include <cstring>

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

TEST(Hash, MissingFileIsAnError) {
  EXPECT_THROW(sha256_file_hex("/nonexistent/ramq/file"), Error);
}

TEST(ErrorLine, NamesFileTensorProblemOnOneLine) {
  Error e("m/model.safetensors", "w.weight", "bad\nthing");
  EXPECT_STREQ(e.what(), "m/model.safetensors: tensor 'w.weight': bad thing");
  EXPECT_EQ(format_error_line("f", "", "p"), "f: p");
}
