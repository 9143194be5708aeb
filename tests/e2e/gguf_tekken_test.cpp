// Mistral's tekken.json as a tokenizer source, against real llama.cpp (tests/peer's llama_peer).
// The test writes a small tekken.json of the real format (mistral_common's Tekkenizer.from_file:
// base64 token bytes by rank, special tokens, config.pattern = the Mistral Nemo regex) whose
// ordinary tokens are learnt here by plain byte-pair counting on a short text. A one-layer
// synthetic Llama carrying it (and no tokenizer.json) is written to GGUF by ramq; llama.cpp
// loads the vocabulary as "tekken" and tokenizes texts exactly as ramq's own tokenizer does,
// BOS included (llama_tokenize with add_special). `ramq eval --text` reads the directory too.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "ramq/gguf.h"
#include "ramq/tokenizer.h"
#include "support/llama_cpp_harness.h"
#include "support/synthetic_llama.h"

namespace fs = std::filesystem;
using namespace ramq::testkit;
using nlohmann::json;

namespace {

constexpr const char* kNemoPattern =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

const std::vector<std::string> kSpecials = {"<unk>", "<s>", "</s>", "[INST]", "[/INST]", "<pad>"};
constexpr int kNumSpecial = 10;  // <SPECIAL_6>..<SPECIAL_9> are filled in by the reader

std::string base64(const std::string& bytes) {
  static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += abc[(v >> k) & 63];
  }
  if (bytes.size() - i == 1) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += std::string{abc[(v >> 18) & 63], abc[(v >> 12) & 63], '=', '='};
  } else if (bytes.size() - i == 2) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += std::string{abc[(v >> 18) & 63], abc[(v >> 12) & 63], abc[(v >> 6) & 63], '='};
  }
  return out;
}

// Byte-pair counting on `corpus` split before each space: `merges` times, the most frequent
// adjacent pair (ties: the smaller concatenation) becomes a token. Returns the tokens from rank
// 256 on.
std::vector<std::string> learn_tokens(const std::string& corpus, int merges) {
  std::map<std::vector<std::string>, int> words;
  std::size_t start = 0;
  for (std::size_t i = 1; i <= corpus.size(); ++i) {
    if (i == corpus.size() || corpus[i] == ' ' || corpus[i] == '\n') {
      std::vector<std::string> w;
      for (std::size_t k = start; k < i; ++k) w.push_back(std::string(1, corpus[k]));
      ++words[w];
      start = i;
    }
  }
  std::vector<std::string> learnt;
  std::set<std::string> known;
  for (int m = 0; m < merges; ++m) {
    std::map<std::pair<std::string, std::string>, int> pairs;
    for (const auto& [w, n] : words)
      for (std::size_t k = 0; k + 1 < w.size(); ++k) pairs[{w[k], w[k + 1]}] += n;
    std::pair<std::string, std::string> best;
    int best_n = 1;
    for (const auto& [p, n] : pairs)
      if (n > best_n || (n == best_n && n > 1 && p.first + p.second < best.first + best.second)) best = p, best_n = n;
    if (best_n < 2) break;
    std::map<std::vector<std::string>, int> next;
    for (const auto& [w, n] : words) {
      std::vector<std::string> out;
      for (std::size_t k = 0; k < w.size(); ++k) {
        if (k + 1 < w.size() && w[k] == best.first && w[k + 1] == best.second) {
          out.push_back(best.first + best.second);
          ++k;
        } else {
          out.push_back(w[k]);
        }
      }
      next[out] += n;
    }
    words = std::move(next);
    if (known.insert(best.first + best.second).second) learnt.push_back(best.first + best.second);
  }
  return learnt;
}

// tekken.json in mistral_common's format; `extra` tokens past default_vocab_size are cut by the
// reader (as Tekkenizer does). Returns the vocabulary size.
int write_tekken(const fs::path& file) {
  std::string corpus;
  for (int i = 0; i < 6; ++i)
    corpus += "Once upon a time, there was a little girl named Lily. She loved to play outside in the sunny park. "
              "I've been told she'd say it's the best place. THE END.\nNumbers 12345 and 2024, caf\xC3\xA9 "
              "na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E def f(x): return x + 1 // path/to/file\n";
  const std::vector<std::string> learnt = learn_tokens(corpus, 300);
  json vocab = json::array();
  auto add = [&](const std::string& bytes) {
    vocab.push_back({{"rank", vocab.size()}, {"token_bytes", base64(bytes)}, {"token_str", nullptr}});
  };
  for (int b = 0; b < 256; ++b) add(std::string(1, static_cast<char>(b)));
  for (const auto& t : learnt) add(t);
  const int inner = static_cast<int>(vocab.size());
  add("zzzz-cut");  // beyond default_vocab_size: never used
  json specials = json::array();
  for (std::size_t i = 0; i < kSpecials.size(); ++i)
    specials.push_back({{"rank", i}, {"token_str", kSpecials[i]}, {"is_control", true}});
  const int vocab_size = kNumSpecial + inner;
  const json tekken = {{"config",
                        {{"pattern", kNemoPattern},
                         {"num_vocab_tokens", vocab.size()},
                         {"default_vocab_size", vocab_size},
                         {"default_num_special_tokens", kNumSpecial},
                         {"version", "v7"}}},
                       {"vocab", vocab},
                       {"special_tokens", specials},
                       {"version", 1},
                       {"type", "Tekken"}};
  write_file(file, tekken.dump());
  return vocab_size;
}

const std::vector<std::string> kTexts = {
    "Once upon a time, there was a little girl named Lily.",
    "I've been told she'd say it's OK'S... 12345 times, at 3.14 m/s!",
    "  leading spaces,\ttabs\tand\nnew lines\n\n   and trailing   ",
    "caf\xC3\xA9 na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE emoji \xF0\x9F\xA6\x99 path/to//file\r\n",
    "<s>[INST] special strings are plain text here [/INST]</s>",
    "def f(x):\n    return x**2 + 42  # THE END",
};

TEST(GgufTekken, LlamaCppTokenizesLikeRamqBosIncluded) {
  REQUIRE_LLAMA();
  TempDir tmp("gguf-tekken");
  const fs::path dir = tmp / "tekken-tiny";
  SyntheticLlama shape{.hidden = 64, .heads = 2, .kv_heads = 1, .ffn = 64, .layers = 1};
  shape.tied = true;
  shape.vocab = write_tekken(tmp / "tekken.json");
  ASSERT_GT(shape.vocab, kNumSpecial + 256 + 100);
  write_synthetic_llama(dir, shape);
  fs::copy_file(tmp / "tekken.json", dir / "tekken.json");
  ASSERT_FALSE(fs::exists(dir / "tokenizer.json"));
  const fs::path gguf = tmp / "tekken.gguf";
  const auto q = run_ramq({"quantize", dir.string(), "--format", "gguf", "--policy", "uniform", "--bits", "16", "-o",
                           gguf.string()});
  ASSERT_EQ(q.status, 0) << q.err;

  const json info = peer_json({"info", gguf.string()});
  EXPECT_EQ(info.value("n_vocab", 0), shape.vocab);
  EXPECT_EQ(info.value("tokenizer_model", ""), "gpt2");
  EXPECT_EQ(info.value("tokenizer_pre", ""), "tekken");

  // The converter's keys (conversion/base.py _set_vocab_mistral).
  ramq::GgufReader r(gguf);
  const auto u32 = [&](const char* key) { return gguf_metadata_u64(gguf, key); };
  ASSERT_NE(r.find("tokenizer.ggml.scores"), nullptr);
  EXPECT_EQ(u32("tokenizer.ggml.unknown_token_id"), 0u);
  EXPECT_EQ(u32("tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(u32("tokenizer.ggml.eos_token_id"), 2u);
  EXPECT_EQ(u32("tokenizer.ggml.padding_token_id"), 5u);
  EXPECT_TRUE(std::get<bool>(r.find("tokenizer.ggml.add_bos_token")->v));
  EXPECT_FALSE(std::get<bool>(r.find("tokenizer.ggml.add_eos_token")->v));
  const auto& tokens = std::get<std::shared_ptr<ramq::GgufArray>>(r.find("tokenizer.ggml.tokens")->v)->items;
  ASSERT_EQ(tokens.size(), static_cast<std::size_t>(shape.vocab));
  EXPECT_EQ(std::get<std::string>(tokens[7].v), "<SPECIAL_7>");
  EXPECT_EQ(std::get<std::string>(tokens[kNumSpecial + ' '].v), "\xC4\xA0");  // byte 0x20 as GPT-2's U+0120

  write_file(tmp / "texts.json", json(kTexts).dump());
  const json plain = peer_json({"tokenize", gguf.string(), (tmp / "texts.json").string()});
  const json with_bos = peer_json({"tokenize", gguf.string(), (tmp / "texts.json").string(), "--add-special"});
  ASSERT_EQ(with_bos["tokens"].size(), kTexts.size()) << with_bos.dump();
  const auto tok = ramq::load_tokenizer(dir);
  EXPECT_EQ(tok->bos_id(), std::optional<std::uint32_t>(1));
  std::size_t merged = 0;
  for (std::size_t i = 0; i < kTexts.size(); ++i) {
    const auto ours = tok->encode(kTexts[i], true);
    const auto theirs = with_bos["tokens"][i].get<std::vector<std::uint32_t>>();
    ASSERT_FALSE(theirs.empty());
    EXPECT_EQ(theirs.front(), 1u) << "llama.cpp adds BOS for text " << i;
    EXPECT_EQ(ours, theirs) << "text " << i << ": " << kTexts[i];
    EXPECT_EQ(tok->encode(kTexts[i], false), plain["tokens"][i].get<std::vector<std::uint32_t>>()) << i;
    for (const auto id : ours) merged += id >= kNumSpecial + 256;
    EXPECT_EQ(tok->decode(std::vector<std::uint32_t>(ours.begin() + 1, ours.end())), kTexts[i]);
  }
  EXPECT_GT(merged, 40u);  // the learnt tokens are used, not only bytes
  // Tekken's regex takes one digit at a time: "12345" is five tokens after the space.
  const auto digits = tok->encode(" 12345", false);
  EXPECT_EQ(digits.size(), 6u);

  // ramq eval reads the directory's tekken.json.
  write_file(tmp / "text.txt", kTexts[0] + "\n" + kTexts[1] + "\n" + kTexts[5]);
  const auto e = run_ramq({"eval", dir.string(), "--text", (tmp / "text.txt").string(), "--json"});
  EXPECT_EQ(e.status, 0) << e.err;
  EXPECT_NE(e.out.find("\"scored_tokens\""), std::string::npos) << e.out;
}

}  // namespace
