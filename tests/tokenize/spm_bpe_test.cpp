// SentencePiece-style BPE on small synthetic tokenizer.json files: the forms of the Llama 2,
// Mistral v0.1 and Gemma files (Prepend + Replace normalizer, Metaspace pre-tokenizer, literal
// Splits), byte fallback to <0xXX>, the unknown token, and the decoders. Expected ids worked out by
// hand from tokenizers' rules.
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

const std::string kMeta = "\xE2\x96\x81";  // U+2581

// ids: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then the pieces below.
enum : std::uint32_t { kUnk = 0, kBos = 1, kByte0 = 3, kA = 259, kB, kMetaId, kMetaA, kAb, kMetaAb, kMetaMeta };
std::uint32_t byte_id(unsigned char b) { return kByte0 + b; }

json spm_tokenizer() {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (unsigned b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = kByte0 + b;
  }
  vocab["a"] = kA;
  vocab["b"] = kB;
  vocab[kMeta] = kMetaId;
  vocab[kMeta + "a"] = kMetaA;
  vocab["ab"] = kAb;
  vocab[kMeta + "ab"] = kMetaAb;
  vocab[kMeta + kMeta] = kMetaMeta;
  // Ranks: "▁ a" first, then "a b", "▁a b", "▁ ▁".
  const json merges = json::array({json::array({kMeta, "a"}), json::array({"a", "b"}), json::array({kMeta + "a", "b"}),
                                    json::array({kMeta, kMeta})});
  json added = json::array();
  for (const auto& [content, id] : std::vector<std::pair<std::string, int>>{{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}})
    added.push_back({{"id", id}, {"content", content}, {"lstrip", false}, {"rstrip", false}, {"normalized", false},
                     {"special", true}});
  json j;
  j["added_tokens"] = added;
  // Llama 2's legacy form: Prepend "▁" and Replace " " -> "▁", no pre-tokenizer.
  j["normalizer"] = {{"type", "Sequence"},
                     {"normalizers", json::array({{{"type", "Prepend"}, {"prepend", kMeta}},
                                                  {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kMeta}}})}};
  j["pre_tokenizer"] = nullptr;
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                                 {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
                         {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", json::array({1})}}}}}};
  j["decoder"] = {{"type", "Sequence"},
                  {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", kMeta}}}, {"content", " "}},
                                            {{"type", "ByteFallback"}},
                                            {{"type", "Fuse"}},
                                            {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}};
  j["model"] = {{"type", "BPE"}, {"unk_token", "<unk>"}, {"fuse_unk", true}, {"byte_fallback", true},
                {"ignore_merges", false}, {"vocab", vocab}, {"merges", merges}};
  return j;
}

class SpmBpeTest : public ::testing::Test {
 protected:
  std::unique_ptr<ramq::Tokenizer> load(const json& j) {
    const auto p = dir_.path() / ("tokenizer" + std::to_string(n_++) + ".json");
    write_bytes(p, j.dump());
    return ramq::load_hf_tokenizer_json(p);
  }
  ramq::testkit::TempDir dir_;
  int n_ = 0;
};

TEST_F(SpmBpeTest, PrependAndReplaceNormalizer) {
  const auto tok = load(spm_tokenizer());
  EXPECT_EQ(tok->kind(), "bpe");
  EXPECT_EQ(tok->bos_id(), kBos);
  // "ab a" -> "▁ab▁a": ▁+a first (rank 0, both places), then ▁a+b.
  EXPECT_EQ(tok->encode("ab a", false), (Ids{kMetaAb, kMetaA}));
  EXPECT_EQ(tok->encode("ab a", true), (Ids{kBos, kMetaAb, kMetaA}));
  // Three spaces: "▁▁▁▁a" -> ▁+a at the end first, then ▁+▁ leftmost.
  EXPECT_EQ(tok->encode("   a", false), (Ids{kMetaMeta, kMetaId, kMetaA}));
  // Prepend applies to every stretch between added tokens (not to an empty one).
  EXPECT_EQ(tok->encode("a</s>b</s>", false), (Ids{kMetaA, 2, kMetaId, kB, 2}));
  // "é" is not in the vocabulary: its two bytes; "ba" has no merge.
  EXPECT_EQ(tok->encode("\xC3\xA9" "ba", false), (Ids{kMetaId, byte_id(0xC3), byte_id(0xA9), kB, kA}));
  // Decoding: bytes fused back, "▁" -> " ", the one leading space stripped.
  EXPECT_EQ(tok->decode(tok->encode("ab  \xC3\xA9 a", false)), "ab  \xC3\xA9 a");
}

TEST_F(SpmBpeTest, UnknownTokenWithoutByteFallback) {
  json j = spm_tokenizer();
  j["model"]["byte_fallback"] = false;
  EXPECT_EQ(load(j)->encode("a\xC3\xA9\xC3\xA8" "b", false), (Ids{kMetaA, kUnk, kB}));  // fuse_unk: one <unk>
  j["model"]["fuse_unk"] = false;
  EXPECT_EQ(load(j)->encode("a\xC3\xA9\xC3\xA8" "b", false), (Ids{kMetaA, kUnk, kUnk, kB}));
}

// The newer Llama / Mistral form: no normalizer, Metaspace(prepend_scheme "first", split false).
TEST_F(SpmBpeTest, MetaspacePreTokenizer) {
  json j = spm_tokenizer();
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", kMeta}, {"prepend_scheme", "first"}, {"split", false}};
  j["decoder"] = {{"type", "Metaspace"}, {"replacement", kMeta}, {"prepend_scheme", "first"}, {"split", false}};
  auto tok = load(j);
  EXPECT_EQ(tok->encode("ab a", false), (Ids{kMetaAb, kMetaA}));
  // "first": only the stretch at the start of the text gets the "▁".
  EXPECT_EQ(tok->encode("a</s>b", false), (Ids{kMetaA, 2, kB}));
  EXPECT_EQ(tok->encode("</s>a", false), (Ids{2, kA}));
  EXPECT_EQ(tok->decode(tok->encode("ab a", false)), "ab a");
  // "▁▁a" already starts with "▁": nothing prepended; "▁ a" (rank 0) before "▁ ▁". With split
  // true, the text is cut before every "▁" (merged with the next), so "▁▁" cannot form.
  EXPECT_EQ(tok->encode("  a", false), (Ids{kMetaId, kMetaA}));
  EXPECT_EQ(tok->encode(" ", false), (Ids{kMetaId}));
  EXPECT_EQ(tok->encode("  ", false), (Ids{kMetaMeta}));
  j["pre_tokenizer"]["split"] = true;
  EXPECT_EQ(load(j)->encode("  ", false), (Ids{kMetaId, kMetaId}));
  j["pre_tokenizer"]["split"] = false;
  j["pre_tokenizer"]["prepend_scheme"] = "always";
  EXPECT_EQ(load(j)->encode("</s>a", false), (Ids{2, kMetaA}));
  j["pre_tokenizer"]["prepend_scheme"] = "never";
  EXPECT_EQ(load(j)->encode("a b", false), (Ids{kA, kMetaId, kB}));
}

// Gemma's form: Replace only, Split on " " merged with the previous piece (a no-op once the
// spaces are gone), and a Split on "▁" with each behavior.
TEST_F(SpmBpeTest, LiteralSplitBehaviors) {
  json j = spm_tokenizer();
  j["normalizer"] = {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kMeta}};
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "MergedWithPrevious"}, {"invert", false}};
  // One word "a▁▁ab": ▁+a (rank 0), then ▁a+b (rank 2); "▁ ▁ab" is no merge.
  EXPECT_EQ(load(j)->encode("a  ab", false), (Ids{kA, kMetaId, kMetaAb}));
  const std::string text = "a  ab";  // "a▁▁ab"
  const std::vector<std::pair<std::string, Ids>> cases = {
      {"Isolated", {kA, kMetaId, kMetaId, kAb}},
      {"Removed", {kA, kAb}},
      {"MergedWithPrevious", {kA, kMetaId, kMetaId, kAb}},  // "a▁", "▁", "ab": "a▁" has no merge
      {"MergedWithNext", {kMetaId, kMetaAb}},                // "a", "▁", "▁ab"
      {"Contiguous", {kA, kMetaMeta, kAb}},
  };
  for (const auto& [behavior, ids] : cases) {
    j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"String", kMeta}}}, {"behavior", behavior}, {"invert", false}};
    Ids expected = ids;
    if (behavior == "MergedWithNext") expected.insert(expected.begin(), kA);
    EXPECT_EQ(load(j)->encode(text, false), expected) << behavior;
  }
}

TEST_F(SpmBpeTest, BadFilesNameTheFile) {
  auto expect_error = [&](const json& j, const std::string& needle) {
    try {
      load(j);
      ADD_FAILURE() << "no error; expected one about '" << needle << "'";
    } catch (const ramq::Error& e) {
      EXPECT_NE(e.problem().find(needle), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  };
  json j = spm_tokenizer();
  j["model"]["vocab"].erase("<0x41>");
  expect_error(j, "no token <0x41>");
  j = spm_tokenizer();
  j["model"]["unk_token"] = "<nope>";
  expect_error(j, "unk_token '<nope>'");
  j = spm_tokenizer();
  j["normalizer"] = {{"type", "Replace"}, {"pattern", {{"Regex", " +"}}}, {"content", kMeta}};
  expect_error(j, "only a String pattern");
  j = spm_tokenizer();
  j["decoder"] = {{"type", "WordPiece"}};
  expect_error(j, "unsupported decoder 'WordPiece'");
  j = spm_tokenizer();
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", kMeta}, {"prepend_scheme", "sometimes"}};
  expect_error(j, "prepend_scheme 'sometimes'");
  j = spm_tokenizer();
  j["decoder"]["decoders"][3]["start"] = "one";
  expect_error(j, "'start' must be a non-negative integer");
  j = spm_tokenizer();
  j["model"]["byte_fallback"] = false;
  j["model"]["unk_token"] = nullptr;
  EXPECT_THROW(load(j)->encode("\xC3\xA9", false), ramq::Error);
}

}  // namespace
