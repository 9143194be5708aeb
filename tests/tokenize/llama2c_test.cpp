// llama2.c tokenizer (tok512.bin of stories260K) against the independent reference token files of
// shared/data/stories260K (REFERENCE.md), plus run.c's quadratic encode() re-stated naively as a
// cross-check of the heap-based merging on other texts.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <map>
#include <optional>

#include "ramq/error.h"
#include "ramq/tokenizer.h"
#include "support/temp_dir.h"
#include "tok_test_util.h"

namespace {

using namespace ramq::toktest;
namespace fs = std::filesystem;

const std::string kTok = kShared + "/models/stories260K/tok512.bin";

// run.c's encode() as REFERENCE.md states it, written naively (quadratic): the oracle for texts
// that have no reference token file.
std::vector<std::uint32_t> naive_encode(const std::string& tokfile, const std::string& text, bool bos) {
  const std::string b = read_bytes(tokfile);
  std::vector<std::string> pieces;
  std::vector<float> scores;
  for (std::size_t pos = 4; pos < b.size();) {
    float s = 0;
    std::int32_t len = 0;
    std::memcpy(&s, b.data() + pos, 4);
    std::memcpy(&len, b.data() + pos + 4, 4);
    pieces.push_back(b.substr(pos + 8, static_cast<std::size_t>(len)));
    scores.push_back(s);
    pos += 8 + static_cast<std::size_t>(len);
  }
  std::map<std::string, std::uint32_t> ids;
  for (std::size_t i = 0; i < pieces.size(); ++i) ids.emplace(pieces[i], static_cast<std::uint32_t>(i));
  auto lookup = [&](const std::string& s) -> std::optional<std::uint32_t> {
    const auto it = ids.find(s);
    return it == ids.end() ? std::nullopt : std::optional<std::uint32_t>(it->second);
  };
  std::vector<std::uint32_t> t;
  if (bos) t.push_back(1);
  if (!text.empty()) t.push_back(*lookup(" "));
  for (std::size_t i = 0; i < text.size();) {
    std::size_t len = 1;
    while (len < 4 && i + len < text.size() && (static_cast<unsigned char>(text[i + len]) & 0xC0) == 0x80) ++len;
    if (const auto id = lookup(text.substr(i, len))) {
      t.push_back(*id);
    } else {
      for (std::size_t k = 0; k < len; ++k) t.push_back(static_cast<unsigned char>(text[i + k]) + 3u);
    }
    i += len;
  }
  for (;;) {
    float best = -1e10f;
    std::size_t best_i = t.size();
    std::uint32_t best_id = 0;
    for (std::size_t i = 0; i + 1 < t.size(); ++i) {
      const auto id = lookup(pieces[t[i]] + pieces[t[i + 1]]);
      if (id && scores[*id] > best) best = scores[*id], best_i = i, best_id = *id;
    }
    if (best_i == t.size()) break;
    t[best_i] = best_id;
    t.erase(t.begin() + static_cast<std::ptrdiff_t>(best_i) + 1);
  }
  return t;
}

TEST(Llama2cTokenizer, WikiText2MatchesReferenceTokens) {
  const auto tok = ramq::load_llama2c_tokenizer(kTok);
  EXPECT_EQ(tok->kind(), "llama2c");
  EXPECT_EQ(tok->bos_id(), 1u);
  const std::string text = read_bytes(kShared + "/data/wikitext-2-raw/wiki.test.raw");
  const auto expected = read_u32(kShared + "/data/stories260K/wikitext2_test.u32");
  ASSERT_EQ(expected.size(), 65536u);
  const auto t0 = std::chrono::steady_clock::now();
  const auto ids = ramq::encode_document(*tok, text, 65536);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("llama2c: encoded all %zu bytes of wiki.test.raw in %.3f s (printed, not asserted)\n", text.size(), secs);
  const std::size_t same = first_mismatch(ids, expected);
  EXPECT_EQ(same, expected.size()) << "first difference at id " << same;
  EXPECT_EQ(ids, expected);

  // The whole file decodes back to itself.
  const auto all = tok->encode(text, true);
  EXPECT_GT(all.size(), 65536u);
  EXPECT_EQ(tok->decode(all), text);
}

TEST(Llama2cTokenizer, TinyStoriesMatchesReferenceTokens) {
  const auto tok = ramq::load_llama2c_tokenizer(kTok);
  const std::string text = read_bytes(kShared + "/data/tinystories_sample.txt");
  const auto expected = read_u32(kShared + "/data/stories260K/tinystories_sample.u32");
  const auto ids = ramq::encode_stories(*tok, text);
  EXPECT_EQ(first_mismatch(ids, expected), expected.size());
  EXPECT_EQ(ids, expected);
  std::size_t bos = 0;
  for (const auto id : ids) bos += id == 1;
  EXPECT_EQ(bos, 5u);
}

TEST(Llama2cTokenizer, HeapMergeEqualsNaiveEncode) {
  const auto tok = ramq::load_llama2c_tokenizer(kTok);
  const std::string wiki = read_bytes(kShared + "/data/wikitext-2-raw/wiki.test.raw");
  const std::vector<std::string> texts = {
      "",
      " ",
      "a",
      "Hello world!\nThe cat sat on the mat.   \n\n  Tabs\tand \xE2\x80\x94 dashes, caf\xC3\xA9, \xE8\xA9\xA9 \xF0\x9F\x98\x80",
      std::string(300, ' ') + "xx" + std::string(57, 'a') + "\xFF\x80\x80\x80\x80\xC3",  // invalid UTF-8 too
      wiki.substr(20000, 4000),
      // no newlines at all: merges run across what would be lines
      [&] {
        std::string s = wiki.substr(50000, 3000);
        for (auto& c : s) c = (c == '\n' || c == '\r') ? ' ' : c;
        return s;
      }(),
  };
  for (const auto& t : texts) {
    for (const bool bos : {false, true}) {
      EXPECT_EQ(tok->encode(t, bos), naive_encode(kTok, t, bos)) << "text of " << t.size() << " bytes, bos " << bos;
    }
    EXPECT_EQ(tok->decode(tok->encode(t, true)), t);
  }
}

TEST(Llama2cTokenizer, BadFilesNameTheFile) {
  ramq::testkit::TempDir dir;
  const std::string tok = read_bytes(kTok);
  auto expect_error = [&](const std::string& data, const std::string& what) {
    const auto p = dir.path() / "tok_bad.bin";
    write_bytes(p, data);
    try {
      ramq::load_llama2c_tokenizer(p);
      ADD_FAILURE() << "no error for " << what;
    } catch (const ramq::Error& e) {
      EXPECT_EQ(e.file(), p.string()) << what;
      EXPECT_EQ(e.tensor(), "") << what;
      EXPECT_FALSE(e.problem().empty()) << what;
    }
  };
  expect_error(tok.substr(0, tok.size() - 3), "truncated last token");
  expect_error(tok.substr(0, 2), "truncated header");
  expect_error(tok.substr(0, 4 + 8 + 5 + 6), "token record cut after its score");
  expect_error(tok.substr(0, 1000), "too few tokens");
  std::string negative = tok;
  const std::int32_t minus = -5;
  std::memcpy(negative.data() + 8, &minus, 4);
  expect_error(negative, "negative token length");
  EXPECT_THROW(ramq::load_llama2c_tokenizer(dir.path() / "missing.bin"), ramq::Error);
  // A decoded id outside the vocabulary is an error too.
  const auto t = ramq::load_llama2c_tokenizer(kTok);
  const std::vector<std::uint32_t> bad = {1, 600};
  EXPECT_THROW(t->decode(bad), ramq::Error);
}

TEST(Tokenizer, LoadTokenizerPicksByFile) {
  ramq::testkit::TempDir dir;
  EXPECT_THROW(ramq::load_tokenizer(dir.path()), ramq::Error);
  EXPECT_THROW(ramq::load_tokenizer(dir.path() / "nope"), ramq::Error);
  fs::copy_file(kTok, dir.path() / "tok512.bin");
  EXPECT_EQ(ramq::load_tokenizer(dir.path())->kind(), "llama2c");
  EXPECT_EQ(ramq::load_tokenizer(kShared + "/models/stories260K")->kind(), "llama2c");
  write_bytes(dir.path() / "tokenizer.model", "not a model");
  EXPECT_THROW(ramq::load_tokenizer(dir.path()), ramq::Error);  // tokenizer.model wins over tok*.bin
  write_bytes(dir.path() / "tokenizer.json", "{");
  try {
    ramq::load_tokenizer(dir.path());
    ADD_FAILURE() << "no error";
  } catch (const ramq::Error& e) {
    EXPECT_EQ(e.file(), (dir.path() / "tokenizer.json").string());  // tokenizer.json wins over both
  }
}

TEST(Tokenizer, DocumentConventions) {
  const auto tok = ramq::load_llama2c_tokenizer(kTok);
  EXPECT_TRUE(ramq::encode_stories(*tok, " \n<|endoftext|>\n\t").empty());
  const auto two = ramq::encode_stories(*tok, "  Tom ran.\n<|endoftext|>\nSue sat.\n\n");
  std::vector<std::uint32_t> expected = tok->encode("Tom ran.", true);
  const auto second = tok->encode("Sue sat.", true);
  expected.insert(expected.end(), second.begin(), second.end());
  EXPECT_EQ(two, expected);
  const auto away = tok->encode("Tom ran away.", true);
  ASSERT_GT(away.size(), 3u);
  EXPECT_EQ(ramq::encode_document(*tok, "Tom ran away.", 3), std::vector<std::uint32_t>(away.begin(), away.begin() + 3));
  EXPECT_EQ(ramq::encode_document(*tok, "Tom ran.", 0), tok->encode("Tom ran.", true));
}

}  // namespace
