// Hugging Face tokenizer.json (BPE -> llama.cpp "gpt2": byte-level, or SentencePiece-style as
// Gemma's whose check-text hash names one of llama.cpp's SentencePiece-style BPE pre-tokenizers)
// and the special tokens of tokenizer_config.json / config.json.
#include <algorithm>
#include <functional>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "ramq/error.h"
#include "ramq/json_io.h"
#include "write/gguf_pre_tokenizer.h"
#include "write/gguf_vocab.h"
#include "write/gguf_vocab_internal.h"

namespace fs = std::filesystem;

namespace ramq {

namespace {

using json = nlohmann::json;

constexpr std::uintmax_t kMaxJsonBytes = 512u << 20;
constexpr std::int64_t kMaxTokenId = (std::int64_t{1} << 26) - 1;

json parse_json_file(const fs::path& p) { return parse_json_text(vocab_detail::read_file_bytes(p, kMaxJsonBytes), p.string()); }

// obj[key] as a boolean: `dflt` when absent or null; another type is an Error naming the file
// (nlohmann's value() would throw its own type_error).
bool flag(const json& obj, const char* key, bool dflt, const std::string& file) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return dflt;
  if (!it->is_boolean()) throw Error(file, "", std::string("'") + key + "' must be true or false, not a " + it->type_name());
  return it->get<bool>();
}

// Calls fn on every object in the pre_tokenizer tree (Sequence nodes are walked).
void walk(const json& node, const std::function<void(const json&)>& fn) {
  if (!node.is_object()) return;
  fn(node);
  if (const auto it = node.find("pretokenizers"); it != node.end() && it->is_array())
    for (const auto& c : *it) walk(c, fn);
  if (const auto it = node.find("decoders"); it != node.end() && it->is_array())
    for (const auto& c : *it) walk(c, fn);
}

std::string type_of(const json& n) {
  const auto it = n.find("type");
  return it != n.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// llama.cpp pre-tokenizers of SentencePiece-style BPE: spaces escaped as U+2581, raw UTF-8
// tokens, byte fallback to <0xXX>, text split only at newlines (llama-vocab.cpp, GEMMA4).
bool is_sentencepiece_style_pre(const std::string& pre) { return pre == "gemma4" || pre == "granite-embed-multi-311m"; }

std::optional<std::int64_t> json_int(const json& j) {
  if (j.is_number_integer()) return j.get<std::int64_t>();
  if (j.is_array() && !j.empty() && j[0].is_number_integer()) return j[0].get<std::int64_t>();  // eos lists
  return std::nullopt;
}

}  // namespace

std::optional<GgufVocab> vocab_from_tokenizer_json(const fs::path& path, std::string* why,
                                                   const std::string& pre_override) {
  const std::string file = path.string();
  const json root = parse_json_file(path);
  const auto fail = [&](const std::string& what) -> std::optional<GgufVocab> {
    if (why) *why = what;
    return std::nullopt;
  };
  if (!root.is_object() || !root.contains("model") || !root["model"].is_object())
    throw Error(file, "", "has no 'model' object");
  const json& model = root["model"];
  if (type_of(model) != "BPE") return fail("model type '" + type_of(model) + "' is not BPE");
  bool byte_level = false;
  for (const char* k : {"pre_tokenizer", "decoder"})
    walk(root.value(k, json()), [&](const json& n) { byte_level = byte_level || type_of(n) == "ByteLevel"; });

  const auto vit = model.find("vocab");
  if (vit == model.end() || !vit->is_object()) throw Error(file, "", "model.vocab is not an object");
  GgufVocab v;
  v.model = "gpt2";
  v.source = path.filename().string();
  std::vector<bool> have;
  // Ids index a dense token list: an id far beyond the number of tokens would only allocate memory.
  std::int64_t entries = static_cast<std::int64_t>(vit->size());
  if (const auto at = root.find("added_tokens"); at != root.end() && at->is_array()) entries += static_cast<std::int64_t>(at->size());
  const std::int64_t id_limit = std::min<std::int64_t>(kMaxTokenId, entries + (std::int64_t{1} << 16));
  const auto put = [&](std::int64_t id, const std::string& text, GgufTokenType type, bool may_replace) {
    if (id < 0 || id > id_limit)
      throw Error(file, "", "token '" + text + "' has an invalid id " + std::to_string(id) + " (the file has " +
                                std::to_string(entries) + " tokens)");
    const auto i = static_cast<std::size_t>(id);
    if (i >= v.tokens.size()) {
      v.tokens.resize(i + 1);
      v.token_types.resize(i + 1, static_cast<std::int32_t>(GgufTokenType::UNUSED));
      have.resize(i + 1, false);
    }
    if (have[i] && !may_replace) throw Error(file, "", "token id " + std::to_string(id) + " is used twice");
    v.tokens[i] = text;
    v.token_types[i] = static_cast<std::int32_t>(type);
    have[i] = true;
  };
  for (auto it = vit->begin(); it != vit->end(); ++it) {
    if (!it->is_number_integer()) throw Error(file, "", "model.vocab['" + it.key() + "'] is not an integer id");
    put(it->get<std::int64_t>(), it.key(), GgufTokenType::NORMAL, false);
  }
  if (const auto at = root.find("added_tokens"); at != root.end() && at->is_array())
    for (const auto& t : *at) {
      if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() || !t.contains("content") ||
          !t["content"].is_string())
        throw Error(file, "", "added_tokens entry without integer 'id' and string 'content'");
      put(t["id"].get<std::int64_t>(), t["content"].get<std::string>(),
          flag(t, "special", false, file) ? GgufTokenType::CONTROL : GgufTokenType::USER_DEFINED, true);
    }
  for (std::size_t i = 0; i < v.tokens.size(); ++i)
    if (!have[i]) v.tokens[i] = "[PAD" + std::to_string(i) + "]";
  if (v.tokens.empty()) throw Error(file, "", "model.vocab is empty");

  const auto mit = model.find("merges");
  if (mit == model.end() || !mit->is_array()) throw Error(file, "", "model.merges is not an array");
  v.merges.reserve(mit->size());
  for (const auto& m : *mit) {
    if (m.is_string()) v.merges.push_back(m.get<std::string>());
    else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
      v.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    else throw Error(file, "", "model.merges entry " + std::to_string(v.merges.size()) + " is not a merge");
  }
  if (byte_level) {
    v.pre = gguf_pre_tokenizer(path, pre_override);
  } else {
    // SentencePiece-style BPE (spaces as U+2581, byte fallback to <0xXX>): llama.cpp tokenizes it
    // only under the pre-tokenizers that escape spaces and keep raw UTF-8 (llama-vocab.cpp
    // LLAMA_VOCAB_PRE_TYPE_GEMMA4), which the converter's hash finds for Gemma 3's file.
    try {
      v.pre = gguf_pre_tokenizer(path, pre_override);
    } catch (const Error& e) {
      return fail(e.problem());
    }
    if (!is_sentencepiece_style_pre(v.pre))
      return fail("SentencePiece-style BPE whose pre-tokenizer '" + v.pre +
                  "' llama.cpp would read as byte-level (only gemma4 and granite-embed-multi-311m keep its form)");
    // llama.cpp cuts the text at newlines: a token joining a newline to other text would never be
    // reached there, though Hugging Face tokenizers reaches it.
    for (const std::string& t : v.tokens)
      if (t.find('\n') != std::string::npos && t.find_first_not_of('\n') != std::string::npos && t.size() > 1 &&
          !(t.front() == '<' && t.back() == '>'))
        return fail("SentencePiece-style BPE with a token joining a newline to other text, which llama.cpp's '" + v.pre +
                    "' pre-tokenizer never forms");
  }
  vocab_detail::check_unique(v, file);
  return v;
}

void vocab_detail::apply_special_tokens(GgufVocab& v, const fs::path& dir, const ModelConfig& cfg) {
  std::unordered_map<std::string, std::uint32_t> ids;
  for (std::size_t i = 0; i < v.tokens.size(); ++i) ids.emplace(v.tokens[i], static_cast<std::uint32_t>(i));
  json tc = json::object();
  const fs::path tc_path = dir / "tokenizer_config.json";
  std::error_code ec;
  if (fs::is_regular_file(tc_path, ec)) tc = parse_json_file(tc_path);
  if (!tc.is_object()) throw Error(tc_path.string(), "", "is not a JSON object");

  if (v.model == "llama")
    if (const auto at = tc.find("added_tokens_decoder"); at != tc.end() && at->is_object())
      for (auto it = at->begin(); it != at->end(); ++it) {
        const json& t = *it;
        if (!t.is_object() || !t.contains("content") || !t["content"].is_string()) continue;
        std::int64_t id = -1;
        try {
          id = std::stoll(it.key());
        } catch (const std::exception&) {
          throw Error(tc_path.string(), "", "added_tokens_decoder key '" + it.key() + "' is not a token id");
        }
        if (id < 0 || id > kMaxTokenId) throw Error(tc_path.string(), "", "added token id " + it.key() + " is invalid");
        const auto i = static_cast<std::size_t>(id);
        while (v.tokens.size() <= i) {
          v.tokens.push_back("[PAD" + std::to_string(v.tokens.size()) + "]");
          v.scores.push_back(-1000.0f);
          v.token_types.push_back(static_cast<std::int32_t>(GgufTokenType::UNUSED));
        }
        v.tokens[i] = t["content"].get<std::string>();
        v.token_types[i] = static_cast<std::int32_t>(flag(t, "special", false, tc_path.string()) ? GgufTokenType::CONTROL
                                                                              : GgufTokenType::USER_DEFINED);
        ids[v.tokens[i]] = static_cast<std::uint32_t>(i);
      }

  const struct {
    const char* name;
    std::optional<std::uint32_t>* id;
  } specials[] = {{"bos", &v.bos_id}, {"eos", &v.eos_id}, {"unk", &v.unk_id}, {"pad", &v.pad_id}};
  for (const auto& s : specials) {
    const auto tok = tc.find(std::string(s.name) + "_token");
    std::optional<std::string> text;
    if (tok != tc.end() && tok->is_string()) text = tok->get<std::string>();
    if (tok != tc.end() && tok->is_object() && tok->contains("content") && (*tok)["content"].is_string())
      text = (*tok)["content"].get<std::string>();
    if (text && ids.count(*text)) {
      *s.id = ids[*text];
      continue;
    }
    const auto cid = cfg.raw.find(std::string(s.name) + "_token_id");
    if (cid == cfg.raw.end()) continue;
    if (const auto n = json_int(*cid); n && *n >= 0 && *n < static_cast<std::int64_t>(v.tokens.size()))
      *s.id = static_cast<std::uint32_t>(*n);
  }
  if (const auto b = tc.find("add_bos_token"); b != tc.end() && b->is_boolean()) v.add_bos = b->get<bool>();
  if (const auto b = tc.find("add_eos_token"); b != tc.end() && b->is_boolean()) v.add_eos = b->get<bool>();
}

}  // namespace ramq
