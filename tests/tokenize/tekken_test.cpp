// tekken.json (include/ramq/tekken.h) on small hand-made files: the converter's merge order,
// special-token fillers and the deprecated list, the tokenizer's ids and BOS, and one-line errors.
#include <gtest/gtest.h>

#include <array>

#include <nlohmann/json.hpp>

#include "ramq/error.h"
#include "ramq/tekken.h"
#include "ramq/tokenizer.h"
#include "support/temp_dir.h"
#include "tok_test_util.h"

namespace {

using nlohmann::json;
using namespace ramq::toktest;

std::string b64(const std::string& s) {  // short strings only (<= 3 bytes)
  static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  unsigned v = 0;
  for (std::size_t i = 0; i < 3; ++i) v = (v << 8) | (i < s.size() ? static_cast<unsigned char>(s[i]) : 0u);
  std::string out;
  for (int k = 18; k >= 0; k -= 6) out += abc[(v >> k) & 63];
  if (s.size() < 3) out[3] = '=';
  if (s.size() < 2) out[2] = '=';
  return out;
}

// Bytes, then "ab" (256), "bc" (257), "abc" (258); 3 special tokens listed of 5.
json tiny(const std::string& version = "v7") {
  json vocab = json::array();
  for (int b = 0; b < 256; ++b) vocab.push_back({{"rank", b}, {"token_bytes", b64(std::string(1, static_cast<char>(b)))}, {"token_str", nullptr}});
  for (const char* t : {"ab", "bc", "abc"}) vocab.push_back({{"rank", vocab.size()}, {"token_bytes", b64(t)}, {"token_str", t}});
  json specials = json::array();
  for (const char* s : {"<unk>", "<s>", "</s>"})
    specials.push_back({{"rank", specials.size()}, {"token_str", s}, {"is_control", true}});
  return {{"config", {{"pattern", R"(\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+|\s+)"}, {"num_vocab_tokens", 259},
                      {"default_vocab_size", 264}, {"default_num_special_tokens", 5}, {"version", version}}},
          {"vocab", vocab}, {"special_tokens", specials}, {"version", 1}, {"type", "Tekken"}};
}

class TekkenTest : public ::testing::Test {
 protected:
  std::filesystem::path write(const json& j) {
    const auto p = dir_.path() / ("tekken" + std::to_string(n_++) + ".json");
    write_bytes(p, j.dump());
    return p;
  }
  void expect_error(const json& j, const std::string& needle) {
    const auto p = write(j);
    try {
      ramq::read_tekken(p);
      ADD_FAILURE() << "no error; expected one about '" << needle << "'";
    } catch (const ramq::Error& e) {
      EXPECT_EQ(e.file(), p.string());
      EXPECT_NE(e.problem().find(needle), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  }
  ramq::testkit::TempDir dir_;
  int n_ = 0;
};

TEST_F(TekkenTest, MergesInTheConvertersOrderAndFillers) {
  const ramq::TekkenFile t = ramq::read_tekken(write(tiny()));
  EXPECT_EQ(t.vocab_size(), 264u);
  EXPECT_EQ(t.specials, (std::vector<std::string>{"<unk>", "<s>", "</s>", "<SPECIAL_3>", "<SPECIAL_4>"}));
  ASSERT_EQ(t.merges.size(), 4u);
  // By merged rank, then by the ranks of the halves: "abc" = "a"+"bc" (97, 257) before "ab"+"c" (256, 99).
  const std::vector<std::array<std::uint32_t, 3>> expected = {{97, 98, 256}, {98, 99, 257}, {97, 257, 258}, {256, 99, 258}};
  for (std::size_t i = 0; i < 4; ++i)
    EXPECT_EQ((std::array<std::uint32_t, 3>{t.merges[i].left, t.merges[i].right, t.merges[i].merged}), expected[i]) << i;
  EXPECT_EQ(ramq::byte_level_text(" a\n"), "\xC4\xA0" "a\xC4\x8A");
  // v3 without special_tokens: mistral_common's 20 deprecated ones.
  json old = tiny("v3");
  old.erase("special_tokens");
  old["config"]["default_num_special_tokens"] = 20;
  old["config"]["default_vocab_size"] = 279;
  const ramq::TekkenFile o = ramq::read_tekken(write(old));
  EXPECT_EQ(o.specials.size(), 20u);
  EXPECT_EQ(o.special_id("<pad>"), std::optional<std::uint32_t>(11));
}

TEST_F(TekkenTest, TokenizerIdsAndBos) {
  const auto tok = ramq::load_tekken(write(tiny()));
  // ids = rank + 5; "abc" whole (ignore_merges); "abcab": a+b (rank 0) twice, then ab+c -> "abc" "ab";
  // " " and "bc" are pieces of their own; the special "<s>" is text.
  EXPECT_EQ(tok->encode("abc", true), (std::vector<std::uint32_t>{1, 263}));
  EXPECT_EQ(tok->encode("abcab bc", false), (std::vector<std::uint32_t>{263, 261, 5 + ' ', 262}));
  EXPECT_EQ(tok->encode("<s>", false), (std::vector<std::uint32_t>{5 + '<', 5 + 's', 5 + '>'}));
  EXPECT_EQ(tok->decode(tok->encode("abcab bc", false)), "abcab bc");
}

TEST_F(TekkenTest, MalformedFilesAreOneLineErrors) {
  json j = tiny();
  j.erase("config");
  expect_error(j, "the top level has no 'config'");
  j = tiny("v99");
  expect_error(j, "unknown tokenizer version 'v99'");
  j = tiny("v11");
  j.erase("special_tokens");
  expect_error(j, "no 'special_tokens'");
  j = tiny();
  j["vocab"][256]["rank"] = 7;
  expect_error(j, "vocab entry 256 has rank 7, not 256");
  j = tiny();
  j["vocab"][258]["token_bytes"] = "a*c=";
  expect_error(j, "vocab entry 258: 'token_bytes' is not base64");
  j = tiny();
  j["vocab"][258]["token_bytes"] = b64("xyz");
  expect_error(j, "token of rank 258 is not the merge of two tokens");
  j = tiny();
  j["config"]["default_vocab_size"] = 300;
  expect_error(j, "fewer than default_vocab_size");
  j = tiny();
  j["vocab"][65]["token_bytes"] = b64("B");
  expect_error(j, "vocab entry 65 is not the single byte 65");
}

}  // namespace
