// tekken.json (include/ramq/tekken.h): mistral_common's Tekkenizer.from_file checks, and the
// merges llama.cpp's converter derives from the token ranks.
#include "ramq/tekken.h"

#include <algorithm>
#include <array>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "ramq/error.h"
#include "ramq/json_io.h"
#include "pretokenize.h"

namespace ramq {

namespace {

using nlohmann::json;

// Tekkenizer.DEPRECATED_SPECIAL_TOKENS: the special tokens of a file of version v7 or older that
// lists none.
constexpr std::array<std::string_view, 20> kDeprecatedSpecials = {
    "<unk>",           "<s>",           "</s>",          "[INST]",        "[/INST]",
    "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[TOOL_CALLS]",
    "[IMG]",           "<pad>",         "[IMG_BREAK]",   "[IMG_END]",     "[PREFIX]",
    "[MIDDLE]",        "[SUFFIX]",      "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[TOOL_CONTENT]"};

// mistral_common's TokenizerVersion names.
constexpr std::array<std::string_view, 7> kVersions = {"v1", "v2", "v3", "v7", "v11", "v13", "v15"};

class TekkenReader {
 public:
  explicit TekkenReader(const std::filesystem::path& path) { t_.file = path.string(); }

  TekkenFile run(const std::filesystem::path& path) {
    const json j = read_json_file(path);
    if (!j.is_object()) fail("not a tekken.json (the top level is not an object)");
    const json& config = member(j, "config", "the top level");
    if (!config.is_object()) fail("'config' is not an object");
    t_.pattern = string_of(config, "pattern");
    t_.version = string_of(config, "version");
    if (std::find(kVersions.begin(), kVersions.end(), t_.version) == kVersions.end())
      fail("unknown tokenizer version '" + t_.version + "'");
    const std::int64_t vocab_size = int_of(config, "default_vocab_size");
    const std::int64_t n_special = int_of(config, "default_num_special_tokens");
    if (n_special > vocab_size) fail("default_num_special_tokens exceeds default_vocab_size");
    read_specials(j, n_special);
    read_vocab(member(j, "vocab", "the top level"), vocab_size - n_special);
    derive_merges();
    return std::move(t_);
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const { throw Error(t_.file, "", problem); }

  const json& member(const json& obj, const char* key, const char* where) const {
    const auto it = obj.find(key);
    if (it == obj.end()) fail(std::string(where) + " has no '" + key + "'");
    return *it;
  }
  std::string string_of(const json& obj, const char* key) const {
    const json& v = member(obj, key, "'config'");
    if (!v.is_string()) fail(std::string("config '") + key + "' is not a string");
    return v.get<std::string>();
  }
  std::int64_t int_of(const json& obj, const char* key) const {
    const json& v = member(obj, key, "'config'");
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > (1 << 24))
      fail(std::string("config '") + key + "' is not a token count");
    return v.get<std::int64_t>();
  }

  void read_specials(const json& j, std::int64_t n_special) {
    const auto it = j.find("special_tokens");
    if (it == j.end() || it->is_null()) {
      if (std::stoi(t_.version.substr(1)) > 7) fail("no 'special_tokens' (required from tokenizer version v11 on)");
      t_.specials.assign(kDeprecatedSpecials.begin(), kDeprecatedSpecials.end());
    } else {
      if (!it->is_array()) fail("'special_tokens' is not an array");
      for (const auto& s : *it) {
        if (!s.is_object() || !s.contains("rank") || !s.contains("token_str") || !s["token_str"].is_string())
          fail("special token " + std::to_string(t_.specials.size()) + " lacks 'rank' or 'token_str'");
        if (s["rank"] != t_.specials.size())
          fail("special token '" + s["token_str"].get<std::string>() + "' has rank " + s["rank"].dump() + ", not " +
               std::to_string(t_.specials.size()));
        t_.specials.push_back(s["token_str"].get<std::string>());
      }
    }
    if (static_cast<std::int64_t>(t_.specials.size()) > n_special)
      fail(std::to_string(t_.specials.size()) + " special tokens, more than default_num_special_tokens " +
           std::to_string(n_special));
    for (auto i = static_cast<std::int64_t>(t_.specials.size()); i < n_special; ++i)
      t_.specials.push_back("<SPECIAL_" + std::to_string(i) + ">");
    std::unordered_map<std::string, std::size_t> seen;
    for (std::size_t i = 0; i < t_.specials.size(); ++i)
      if (!seen.emplace(t_.specials[i], i).second) fail("special token '" + t_.specials[i] + "' appears twice");
  }

  void read_vocab(const json& vocab, std::int64_t inner) {
    if (!vocab.is_array()) fail("'vocab' is not an array");
    if (static_cast<std::int64_t>(vocab.size()) < inner)
      fail("'vocab' has " + std::to_string(vocab.size()) + " tokens, fewer than default_vocab_size - " +
           "default_num_special_tokens = " + std::to_string(inner));
    t_.tokens.reserve(static_cast<std::size_t>(inner));
    for (std::int64_t i = 0; i < inner; ++i) {
      const json& v = vocab[static_cast<std::size_t>(i)];
      const std::string what = "vocab entry " + std::to_string(i);
      if (!v.is_object() || !v.contains("token_bytes") || !v["token_bytes"].is_string() || !v.contains("rank"))
        fail(what + " lacks 'rank' or base64 'token_bytes'");
      if (v["rank"] != i) fail(what + " has rank " + v["rank"].dump() + ", not " + std::to_string(i));
      std::string bytes = base64(v["token_bytes"].get<std::string>(), what);
      if (bytes.empty()) fail(what + " is empty");
      if (i < 256 && bytes != std::string(1, static_cast<char>(i)))
        fail(what + " is not the single byte " + std::to_string(i) + " (tekken's first 256 tokens are the bytes)");
      if (!ranks_.emplace(bytes, static_cast<std::uint32_t>(i)).second) fail(what + " repeats an earlier token's bytes");
      t_.tokens.push_back(std::move(bytes));
    }
  }

  std::string base64(const std::string& s, const std::string& what) const {
    auto value = [](char c) -> int {
      if (c >= 'A' && c <= 'Z') return c - 'A';
      if (c >= 'a' && c <= 'z') return c - 'a' + 26;
      if (c >= '0' && c <= '9') return c - '0' + 52;
      if (c == '+') return 62;
      if (c == '/') return 63;
      return -1;
    };
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    std::size_t i = 0;
    for (; i < s.size() && s[i] != '='; ++i) {
      const int v = value(s[i]);
      if (v < 0) fail(what + ": 'token_bytes' is not base64");
      acc = (acc << 6) | static_cast<std::uint32_t>(v);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push_back(static_cast<char>((acc >> bits) & 0xFF));
      }
    }
    for (; i < s.size(); ++i)
      if (s[i] != '=') fail(what + ": 'token_bytes' is not base64");
    return out;
  }

  void derive_merges() {
    for (std::uint32_t rank = 256; rank < t_.tokens.size(); ++rank) {
      const std::string& token = t_.tokens[rank];
      const std::size_t first = t_.merges.size();
      for (std::size_t cut = 1; cut < token.size(); ++cut) {
        const auto left = ranks_.find(token.substr(0, cut));
        if (left == ranks_.end()) continue;
        const auto right = ranks_.find(token.substr(cut));
        if (right == ranks_.end()) continue;
        t_.merges.push_back({left->second, right->second, rank});
      }
      if (t_.merges.size() == first) fail("token of rank " + std::to_string(rank) + " is not the merge of two tokens");
      std::sort(t_.merges.begin() + static_cast<std::ptrdiff_t>(first), t_.merges.end(),
                [](const TekkenMerge& a, const TekkenMerge& b) {
                  return a.left != b.left ? a.left < b.left : a.right < b.right;
                });
    }
  }

  TekkenFile t_;
  std::unordered_map<std::string, std::uint32_t> ranks_;
};

}  // namespace

std::optional<std::uint32_t> TekkenFile::special_id(std::string_view text) const {
  for (std::size_t i = 0; i < specials.size(); ++i)
    if (specials[i] == text) return static_cast<std::uint32_t>(i);
  return std::nullopt;
}

TekkenFile read_tekken(const std::filesystem::path& path) { return TekkenReader(path).run(path); }

std::string byte_level_text(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) tokenize::append_utf8(out, tokenize::byte_to_codepoint(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace ramq
