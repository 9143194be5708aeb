// Byte-level BPE on small synthetic tokenizer.json files: merge order, added tokens, the
// post-processor template, ignore_merges, NFC, and malformed files.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ramq/error.h"
#include "ramq/tokenizer.h"
#include "support/temp_dir.h"
#include "tok_test_util.h"

namespace {

using nlohmann::json;
using namespace ramq::toktest;
using Ids = std::vector<std::uint32_t>;

const std::string kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// GPT-2's byte -> character table, written out independently of the implementation.
std::string byte_char(unsigned b) {
  unsigned cp = b;
  if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
    unsigned n = 0;
    for (unsigned x = 0; x < b; ++x) n += !((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255));
    cp = 256 + n;
  }
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

std::uint32_t bid(char c) { return static_cast<unsigned char>(c); }  // byte tokens have id = byte

json base_tokenizer() {
  json vocab = json::object();
  for (unsigned b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"Ġ", "w"}, {"Ã", "©"}};
  json m = json::array();
  std::uint32_t id = 256;
  for (const auto& [a, b] : merges) {
    vocab[a + b] = id++;
    m.push_back(a + " " + b);
  }
  vocab["hel"] = 262;  // reachable only through ignore_merges
  json added = json::array();
  for (const auto& [content, tid] : std::vector<std::pair<std::string, int>>{{"<s>", 300}, {"</s>", 301}, {"<sep>", 302}}) {
    added.push_back({{"id", tid}, {"content", content}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                     {"normalized", false}, {"special", true}});
  }
  json j;
  j["version"] = "1.0";
  j["added_tokens"] = added;
  j["normalizer"] = nullptr;
  json split = {{"type", "Split"}, {"behavior", "Isolated"}, {"invert", false}};
  split["pattern"] = {{"Regex", kLlama3Regex}};
  json bl = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}};
  j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", json::array({split, bl})}};
  json single = json::array();
  single.push_back({{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}});
  single.push_back({{"Sequence", {{"id", "A"}, {"type_id", 0}}}});
  json tp = {{"type", "TemplateProcessing"}, {"single", single}, {"special_tokens", json::object()}};
  tp["special_tokens"]["<s>"] = {{"id", "<s>"}, {"ids", json::array({300})}, {"tokens", json::array({"<s>"})}};
  json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}};
  j["post_processor"] = {{"type", "Sequence"}, {"processors", json::array({byte_level, tp})}};
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  j["model"] = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"fuse_unk", false},
                {"byte_fallback", false}, {"ignore_merges", false}, {"vocab", vocab}, {"merges", m}};
  return j;
}

class BpeTest : public ::testing::Test {
 protected:
  std::unique_ptr<ramq::Tokenizer> load(const json& j) {
    const auto p = dir_.path() / ("tokenizer" + std::to_string(n_++) + ".json");
    write_bytes(p, j.dump());
    return ramq::load_hf_tokenizer_json(p);
  }
  // Loads `data` (raw text) and expects an Error naming the file whose problem contains `needle`.
  void expect_error(const std::string& data, const std::string& needle) {
    const auto p = dir_.path() / ("bad" + std::to_string(n_++) + ".json");
    write_bytes(p, data);
    try {
      ramq::load_hf_tokenizer_json(p);
      ADD_FAILURE() << "no error; expected one about '" << needle << "'";
    } catch (const ramq::Error& e) {
      EXPECT_EQ(e.file(), p.string());
      EXPECT_EQ(e.tensor(), "");
      EXPECT_NE(e.problem().find(needle), std::string::npos) << e.what();
    }
  }
  ramq::testkit::TempDir dir_;
  int n_ = 0;
};

TEST_F(BpeTest, MergesByRankThenLeftmost) {
  const auto tok = load(base_tokenizer());
  EXPECT_EQ(tok->kind(), "bpe");
  EXPECT_EQ(tok->encode("hello world", false), (Ids{259, 260, bid('o'), bid('r'), bid('l'), bid('d')}));
  EXPECT_EQ(tok->encode("lll", false), (Ids{257, bid('l')}));
  EXPECT_EQ(tok->encode("hel", false), (Ids{256, bid('l')}));
  EXPECT_EQ(tok->encode("", false), Ids{});
  EXPECT_EQ(tok->decode(tok->encode("hello world", false)), "hello world");
}

TEST_F(BpeTest, MergesAsArraysAreTheSame) {
  json j = base_tokenizer();
  json arrays = json::array();
  for (const auto& m : j["model"]["merges"]) {
    const std::string s = m.get<std::string>();
    arrays.push_back({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)});
  }
  j["model"]["merges"] = arrays;
  EXPECT_EQ(load(j)->encode("hello world", false), (Ids{259, 260, bid('o'), bid('r'), bid('l'), bid('d')}));
}

TEST_F(BpeTest, TemplateAddsBosAndAddedTokensSplitTheText) {
  const auto tok = load(base_tokenizer());
  EXPECT_EQ(tok->bos_id(), 300u);
  EXPECT_EQ(tok->encode("hello", true), (Ids{300, 259}));
  EXPECT_EQ(tok->encode("hello<sep>hello</s>", false), (Ids{259, 302, 259, 301}));
  EXPECT_EQ(tok->encode("<sep<sep>", false), (Ids{bid('<'), bid('s'), bid('e'), bid('p'), 302}));
  EXPECT_EQ(tok->decode(Ids{300, 259, 302}), "<s>hello<sep>");
  EXPECT_THROW(tok->decode(Ids{299}), ramq::Error);

  json no_template = base_tokenizer();
  no_template["post_processor"] = {{"type", "ByteLevel"}};
  const auto plain = load(no_template);
  EXPECT_EQ(plain->bos_id(), std::nullopt);
  EXPECT_EQ(plain->encode("hello", true), Ids{259});
}

TEST_F(BpeTest, IgnoreMergesTakesWholeVocabularyWords) {
  json j = base_tokenizer();
  j["model"]["ignore_merges"] = true;
  EXPECT_EQ(load(j)->encode("hel", false), Ids{262});
}

TEST_F(BpeTest, NfcNormalizer) {
  json j = base_tokenizer();
  const auto raw = load(j);
  j["normalizer"] = {{"type", "NFC"}};
  const auto nfc = load(j);
  const std::string composed = "caf\xC3\xA9", decomposed = "cafe\xCC\x81";
  EXPECT_EQ(nfc->encode(decomposed, false), nfc->encode(composed, false));
  EXPECT_EQ(nfc->encode(composed, false), (Ids{bid('c'), bid('a'), bid('f'), 261}));
  EXPECT_NE(raw->encode(decomposed, false), raw->encode(composed, false));
  EXPECT_EQ(nfc->decode(nfc->encode(decomposed, false)), composed);
  // Invalid UTF-8 is kept byte for byte.
  const std::string invalid = "a\xFF" + decomposed + "\xC3";
  EXPECT_EQ(raw->decode(raw->encode(invalid, false)), invalid);
  EXPECT_EQ(nfc->decode(nfc->encode(invalid, false)), "a\xFF" + composed + "\xC3");
}

TEST_F(BpeTest, MalformedFilesNameTheFile) {
  expect_error("this is not json", "not valid JSON");
  expect_error("[1, 2]", "not a tokenizer.json");
  json j = base_tokenizer();
  j.erase("model");
  expect_error(j.dump(), "no 'model'");
  j = base_tokenizer();
  j["model"]["type"] = "WordPiece";
  expect_error(j.dump(), "unsupported model type 'WordPiece'");
  j = base_tokenizer();
  j["model"]["merges"].push_back("zz q");
  expect_error(j.dump(), "unknown token 'zz'");
  j = base_tokenizer();
  j["model"]["merges"].push_back(json::array({"o", "r"}));
  expect_error(j.dump(), "unknown token 'or'");
  j = base_tokenizer();
  j["model"]["merges"].push_back("a b c");
  expect_error(j.dump(), "not two tokens");
  j = base_tokenizer();
  j["model"]["vocab"].erase("Ċ");
  expect_error(j.dump(), "byte 10");
  j = base_tokenizer();
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(\\s+";
  expect_error(j.dump(), "unsupported Split regex '(\\s+': ICU cannot compile it");
  j = base_tokenizer();
  j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "MergedWithPrevious";
  expect_error(j.dump(), "unsupported Split behavior 'MergedWithPrevious' (only Isolated is supported)");
  j = base_tokenizer();
  j["pre_tokenizer"]["pretokenizers"][0]["invert"] = true;
  expect_error(j.dump(), "invert is not supported");
  j = base_tokenizer();
  std::swap(j["pre_tokenizer"]["pretokenizers"][0], j["pre_tokenizer"]["pretokenizers"][1]);
  expect_error(j.dump(), "a Split after the ByteLevel step");
  j = base_tokenizer();
  j["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] = true;
  expect_error(j.dump(), "ByteLevel with add_prefix_space after a Split");
  j = base_tokenizer();
  j["model"]["byte_fallback"] = true;
  expect_error(j.dump(), "byte_fallback with a ByteLevel pre-tokenizer");
  j = base_tokenizer();
  j["normalizer"] = {{"type", "Lowercase"}};
  expect_error(j.dump(), "unsupported normalizer");
  j = base_tokenizer();
  j["model"]["vocab"]["x"] = -1;
  expect_error(j.dump(), "bad id");
  EXPECT_THROW(ramq::load_hf_tokenizer_json(dir_.path() / "missing.json"), ramq::Error);
}

// The ICU regex path. \s is Unicode White_Space as in Oniguruma (ICU's own \s lacks U+000B and
// U+0085): with GPT-2's regex (ByteLevel use_regex), "\v\vb" is three pieces "\v", "\v", "b" (so the
// merge of "\v\v" never applies), where a \s without \v would make "\v\v" one piece.
TEST_F(BpeTest, RegexPathUsesUnicodeWhiteSpace) {
  json j = base_tokenizer();
  const std::string vt = byte_char(0x0B);
  j["model"]["vocab"][vt + vt] = 263;
  j["model"]["merges"].push_back(vt + " " + vt);
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  const auto tok = load(j);
  EXPECT_EQ(tok->encode("\v\vb", false), (Ids{0x0B, 0x0B, bid('b')}));
  EXPECT_EQ(tok->encode("x\v\v", false), (Ids{bid('x'), 263}));  // at the end: one \s+ piece
  // U+0085 (NEL) too: "\u0085\u0085b" splits the same way (its bytes C2 85 never merge here).
  EXPECT_EQ(tok->encode("\xC2\x85\xC2\x85" "b", false), (Ids{0xC2, 0x85, 0xC2, 0x85, bid('b')}));
  // GPT-2's regex: " ?\p{L}+" keeps the space with the word, so " w" merges (Ġw = 260).
  EXPECT_EQ(tok->encode("hello world", false), (Ids{259, 260, bid('o'), bid('r'), bid('l'), bid('d')}));
  // add_prefix_space on the first step: a space before the text.
  j["pre_tokenizer"]["add_prefix_space"] = true;
  EXPECT_EQ(load(j)->encode("world", false), (Ids{260, bid('o'), bid('r'), bid('l'), bid('d')}));
}

// A regex that backtracks without end (nested quantifiers on a long run that never matches) is
// an Error naming the tokenizer file, not a hang: 2^40 paths, stopped by ICU's time limit.
TEST_F(BpeTest, BacktrackingRegexIsAnErrorNotAHang) {
  json j = base_tokenizer();
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Regex", "(a+)+b"}};
  const auto p = dir_.path() / "backtracking.json";
  write_bytes(p, j.dump());
  const auto tok = ramq::load_hf_tokenizer_json(p);
  EXPECT_EQ(tok->encode("aab", false).size(), 3u);
  try {
    tok->encode(std::string(40, 'a') + "c", false);
    ADD_FAILURE() << "no error";
  } catch (const ramq::Error& e) {
    EXPECT_EQ(e.file(), p.string());
    EXPECT_NE(e.problem().find("backtracks without end"), std::string::npos) << e.what();
  }
}

// Several Splits in a row, each applied to the pieces of the one before (DeepSeek-V3's layout),
// Isolated: matches and the text between them are pieces. Digits first in groups of up to 3,
// then "l+" runs: "hell0ll" -> "hell" | "0" | "ll" -> "he" "ll" | "0" | "ll".
TEST_F(BpeTest, SplitSequenceAppliesEachStepToThePiecesBefore) {
  json j = base_tokenizer();
  const json digits = {{"type", "Split"}, {"pattern", {{"Regex", "\\p{N}{1,3}"}}}, {"behavior", "Isolated"}, {"invert", false}};
  const json ells = {{"type", "Split"}, {"pattern", {{"String", "ll"}}}, {"behavior", "Isolated"}, {"invert", false}};
  const json bl = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", json::array({digits, ells, bl})}};
  const auto tok = load(j);
  // "hello": "he" | "ll" | "o" -> he=256, ll=257, o (the "hell" merge cannot cross pieces).
  EXPECT_EQ(tok->encode("hello", false), (Ids{256, 257, bid('o')}));
  EXPECT_EQ(tok->encode("hell0ll1234", false), (Ids{256, 257, bid('0'), 257, bid('1'), bid('2'), bid('3'), bid('4')}));
  // Invalid UTF-8 stays byte for byte (one U+FFFD for the regex).
  EXPECT_EQ(tok->encode("\xFFll\xC3", false), (Ids{0xFF, 257, 0xC3}));
}

}  // namespace
