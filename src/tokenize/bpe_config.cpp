#include "bpe_config.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "ramq/error.h"
#include "ramq/json_io.h"

namespace ramq::tokenize {
namespace {

using nlohmann::json;

constexpr std::int64_t kMaxId = 1 << 24;
constexpr std::int64_t kMaxUnusedIds = 1 << 16;  // ids may leave at most this many gaps
// tokenizers' ByteLevel pre-tokenizer regex (use_regex = true).
constexpr std::string_view kGpt2Regex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class Loader {
 public:
  explicit Loader(const std::filesystem::path& file) : path_(file) { cfg_.file = file.string(); }

  BpeConfig run() {
    const json j = read_json_file(path_);
    if (!j.is_object()) fail("not a tokenizer.json (the top level is not an object)");
    const auto model = j.find("model");
    if (model == j.end() || !model->is_object()) fail("no 'model' object");
    const auto type = model->find("type");
    if (type == model->end() || !type->is_string()) fail("'model' has no 'type'");
    if (*type != "BPE") fail("unsupported model type '" + type->get<std::string>() + "' (only BPE is supported)");
    // Ids index dense tables: an id far beyond the number of tokens would only allocate memory.
    std::int64_t tokens = 0;
    for (const char* key : {"vocab", "added_tokens"}) {
      const json& holder = std::string(key) == "vocab" ? *model : j;
      if (const auto it = holder.find(key); it != holder.end() && (it->is_object() || it->is_array()))
        tokens += static_cast<std::int64_t>(it->size());
    }
    id_limit_ = std::min<std::int64_t>(kMaxId, tokens + kMaxUnusedIds);
    // No ByteLevel pre-tokenizer: SentencePiece-style BPE, whose symbols are characters.
    cfg_.char_level = !has_type(j.value("pre_tokenizer", json()), "pretokenizers", "ByteLevel");
    read_model(*model);
    read_added(j);
    read_normalizer(j.value("normalizer", json()));
    read_pre_tokenizer(j.value("pre_tokenizer", json()));
    if (cfg_.char_level) {
      read_char_decoder(j.value("decoder", json()));
    } else {
      read_decoder(j.value("decoder", json()));
    }
    read_post_processor(j.value("post_processor", json()));
    return std::move(cfg_);
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const { throw Error(cfg_.file, "", problem); }

  // Typed access that fails with a ramq::Error (nlohmann's value() throws its own type_error on
  // a mistyped field, and only works on objects).
  bool flag(const json& obj, const char* key, bool dflt) const {
    if (!obj.is_object()) return dflt;
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return dflt;
    if (!it->is_boolean()) fail(std::string("'") + key + "' must be true or false, not a " + it->type_name());
    return it->get<bool>();
  }
  std::string text(const json& obj, const char* key) const {
    if (!obj.is_object()) return "";
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return "";
    if (!it->is_string()) fail(std::string("'") + key + "' must be a string, not a " + it->type_name());
    return it->get<std::string>();
  }
  // A short description of a JSON value for messages (never the whole value: it may be huge).
  static std::string brief(const json& j) {
    if (j.is_object() || j.is_array()) return std::string("an ") + (j.is_object() ? "object" : "array");
    std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
    return s.size() > 80 ? s.substr(0, 80) + "..." : s;
  }

  bool has_type(const json& node, const char* children, const std::string& type) const {
    if (!node.is_object()) return false;
    if (text(node, "type") == type) return true;
    const auto it = node.find(children);
    if (it == node.end() || !it->is_array()) return false;
    for (const auto& c : *it)
      if (has_type(c, children, type)) return true;
    return false;
  }

  std::uint32_t checked_id(const json& v, const std::string& what) const {
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() >= id_limit_) {
      fail(what + " has a bad id " + brief(v) + " (ids must be below " + std::to_string(id_limit_) +
           ": the file has fewer than " + std::to_string(id_limit_ - kMaxUnusedIds) + " tokens)");
    }
    return static_cast<std::uint32_t>(v.get<std::int64_t>());
  }

  void set_piece(std::uint32_t id, const std::string& token) {
    if (id >= cfg_.pieces.size()) {
      cfg_.pieces.resize(id + 1);
      cfg_.has_piece.resize(id + 1, 0);
    }
    // As tokenizers' ByteLevel decoder: the bytes if every character is in the byte alphabet,
    // else the token's own text. SentencePiece-style: the text, rewritten by read_char_decoder.
    std::optional<std::string> bytes;
    if (!cfg_.char_level) bytes = byte_level_to_bytes(token);
    cfg_.pieces[id] = bytes ? std::move(*bytes) : token;
    cfg_.has_piece[id] = 1;
  }

  void read_model(const json& model) {
    cfg_.byte_fallback = flag(model, "byte_fallback", false);
    if (cfg_.byte_fallback && !cfg_.char_level)
      fail("unsupported BPE: byte_fallback with a ByteLevel pre-tokenizer");
    cfg_.fuse_unk = flag(model, "fuse_unk", false);
    const auto vocab = model.find("vocab");
    if (vocab == model.end() || !vocab->is_object()) fail("'model' has no 'vocab' object");
    for (const auto& [token, idv] : vocab->items()) {
      const std::uint32_t id = checked_id(idv, "vocab token '" + token + "'");
      ids_.emplace(token, id);
      set_piece(id, token);
      if (cfg_.char_level) {
        cfg_.byte_vocab.emplace(token, id);
      } else if (auto bytes = byte_level_to_bytes(token)) {
        cfg_.byte_vocab.emplace(std::move(*bytes), id);
      }
    }
    if (cfg_.char_level) {
      read_char_symbols(model);
    } else {
      read_byte_symbols();
    }
    read_merges(model);
  }

  // SentencePiece-style: the <0xXX> tokens of byte_fallback, and the unknown token.
  void read_char_symbols(const json& model) {
    if (cfg_.byte_fallback) {
      for (unsigned b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        const auto it = ids_.find(name);
        if (it == ids_.end()) fail(std::string("byte_fallback, but the vocabulary has no token ") + name);
        cfg_.byte_ids[b] = it->second;
      }
    }
    const std::string unk = text(model, "unk_token");
    if (!unk.empty()) {
      const auto it = ids_.find(unk);
      if (it == ids_.end()) fail("the unk_token '" + unk + "' is not in the vocabulary");
      cfg_.unk = it->second;
    }
  }

  void read_byte_symbols() {
    for (unsigned b = 0; b < 256; ++b) {
      const auto it = cfg_.byte_vocab.find(std::string(1, static_cast<char>(b)));
      if (it == cfg_.byte_vocab.end()) fail("the vocabulary has no byte-level token for byte " + std::to_string(b));
      cfg_.byte_ids[b] = it->second;
    }
  }

  void read_merges(const json& model) {
    const auto merges = model.find("merges");
    if (merges == model.end() || !merges->is_array()) fail("'model' has no 'merges' array");
    std::uint32_t rank = 0;
    for (const auto& m : *merges) {
      std::string a, b;
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const auto space = s.find(' ');
        if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
          fail("merge " + std::to_string(rank) + " ('" + s + "') is not two tokens separated by one space");
        }
        a = s.substr(0, space);
        b = s.substr(space + 1);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        a = m[0].get<std::string>();
        b = m[1].get<std::string>();
      } else {
        fail("merge " + std::to_string(rank) + " is neither \"a b\" nor [\"a\", \"b\"]");
      }
      const std::uint32_t ia = token_id(a, rank), ib = token_id(b, rank), im = token_id(a + b, rank);
      cfg_.merges.insert_or_assign(pair_key(ia, ib), Merge{rank, im});  // a repeated pair: the last wins
      ++rank;
    }
    if (const auto d = model.find("dropout"); d != model.end() && !d->is_null() && !(d->is_number() && *d == 0)) {
      fail("BPE dropout is not supported");
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      const auto it = model.find(key);
      if (it != model.end() && !it->is_null() && !(it->is_string() && it->get<std::string>().empty())) {
        fail(std::string("BPE '") + key + "' is not supported");
      }
    }
    cfg_.ignore_merges = flag(model, "ignore_merges", false);
  }

  std::uint32_t token_id(const std::string& token, std::uint32_t rank) const {
    const auto it = ids_.find(token);
    if (it == ids_.end()) fail("merge " + std::to_string(rank) + " references the unknown token '" + token + "'");
    return it->second;
  }

  void read_added(const json& j) {
    const auto added = j.find("added_tokens");
    if (added == j.end() || added->is_null()) return;
    if (!added->is_array()) fail("'added_tokens' is not an array");
    for (const auto& a : *added) {
      if (!a.is_object() || !a.contains("content") || !a["content"].is_string() || !a.contains("id")) {
        fail("an entry of 'added_tokens' lacks 'content' or 'id'");
      }
      AddedToken t;
      t.content = a["content"].get<std::string>();
      t.id = checked_id(a["id"], "added token '" + t.content + "'");
      t.lstrip = flag(a, "lstrip", false);
      t.rstrip = flag(a, "rstrip", false);
      set_piece(t.id, t.content);
      ids_.emplace(t.content, t.id);
      cfg_.added.push_back(std::move(t));
    }
  }

  void read_normalizer(const json& n) {
    if (n.is_null()) return;
    const std::string type = text(n, "type");
    if (type == "NFC") {
      cfg_.normalizer.push_back({TextEdit::Kind::kNfc, "", ""});
    } else if (type == "Prepend") {
      cfg_.normalizer.push_back({TextEdit::Kind::kPrepend, "", text(n, "prepend")});
    } else if (type == "Replace") {
      cfg_.normalizer.push_back({TextEdit::Kind::kReplace, literal_pattern(n, "Replace normalizer"), text(n, "content")});
    } else if (type == "Sequence" && n.contains("normalizers") && n["normalizers"].is_array()) {
      for (const auto& sub : n["normalizers"]) read_normalizer(sub);
    } else {
      fail("unsupported normalizer '" + (type.empty() ? brief(n) : type) + "' (NFC, Prepend, Replace and Sequence are supported)");
    }
  }

  void read_pre_tokenizer(const json& p) {
    if (p.is_null()) return;
    const std::string type = text(p, "type");
    if (type == "Sequence" && p.contains("pretokenizers") && p["pretokenizers"].is_array()) {
      for (const auto& sub : p["pretokenizers"]) read_pre_tokenizer(sub);
    } else if (type == "ByteLevel") {
      if (byte_level_) fail("unsupported pre-tokenizer: more than one ByteLevel step");
      byte_level_ = true;
      cfg_.add_prefix_space = flag(p, "add_prefix_space", false);
      // tokenizers prepends the space to every piece of the steps before; ramq only to the text.
      if (cfg_.add_prefix_space && !cfg_.steps.empty())
        fail("unsupported pre-tokenizer: ByteLevel with add_prefix_space after a Split");
      if (flag(p, "use_regex", true)) add_regex_step(std::string(kGpt2Regex), "ByteLevel's GPT-2 regex");
    } else if (type == "Split" && cfg_.char_level) {
      cfg_.char_steps.push_back({CharStep::Kind::kSplit, CharStep::Prepend::kNever, literal_pattern(p, "Split"),
                                 split_behavior(text(p, "behavior")), false});
      if (flag(p, "invert", false)) fail("unsupported Split pre-tokenizer: invert is not supported");
    } else if (type == "Metaspace" && cfg_.char_level) {
      read_metaspace(p);
    } else if (type == "Split") {
      read_split(p);
    } else {
      fail("unsupported pre-tokenizer '" + (type.empty() ? brief(p) : type) + "'");
    }
  }

  // A non-negative integer field (0 when absent).
  std::size_t count(const json& obj, const char* key) const {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return 0;
    if (!it->is_number_unsigned()) fail(std::string("'") + key + "' must be a non-negative integer, not " + brief(*it));
    return it->get<std::size_t>();
  }

  // A String pattern (a Regex one is refused: no SentencePiece-style file uses it).
  std::string literal_pattern(const json& node, const char* what) const {
    const auto pit = node.find("pattern");
    if (pit == node.end() || !pit->is_object() || !pit->contains("String"))
      fail(std::string("unsupported ") + what + " pattern " + (pit == node.end() ? "(none)" : brief(*pit)) +
           " (only a String pattern is supported here)");
    const std::string literal = text(*pit, "String");
    if (literal.empty()) fail(std::string(what) + " has an empty 'String' pattern");
    return literal;
  }

  SplitBehavior split_behavior(const std::string& b) const {
    if (b == "Isolated") return SplitBehavior::kIsolated;
    if (b == "Removed") return SplitBehavior::kRemoved;
    if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
    if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
    if (b == "Contiguous") return SplitBehavior::kContiguous;
    fail("unsupported Split behavior '" + b + "'");
  }

  // prepend_scheme ("always", "first", "never"), or the older add_prefix_space (true: always).
  CharStep::Prepend prepend_scheme(const json& node) const {
    const std::string scheme = text(node, "prepend_scheme");
    if (scheme.empty()) return flag(node, "add_prefix_space", true) ? CharStep::Prepend::kAlways : CharStep::Prepend::kNever;
    if (scheme == "always") return CharStep::Prepend::kAlways;
    if (scheme == "first") return CharStep::Prepend::kFirst;
    if (scheme == "never") return CharStep::Prepend::kNever;
    fail("unsupported Metaspace prepend_scheme '" + scheme + "'");
  }

  std::string metaspace_replacement(const json& node) const {
    std::string r = text(node, "replacement");
    if (r.empty()) r = text(node, "str_rep");
    if (r.empty()) fail("Metaspace has no 'replacement'");
    return r;
  }

  void read_metaspace(const json& p) {
    cfg_.char_steps.push_back({CharStep::Kind::kMetaspace, prepend_scheme(p), metaspace_replacement(p),
                               SplitBehavior::kMergedWithNext, flag(p, "split", true)});
  }

  // SentencePiece-style decoders: Replace(U+2581 -> " "), ByteFallback, Fuse, Strip (leading
  // spaces), Metaspace (replacement -> " ", the first one dropped unless prepend_scheme is never).
  void read_char_decoder(const json& d) {
    std::string replace_from;
    bool bytes = false;
    std::vector<const json*> steps;
    if (text(d, "type") == "Sequence" && d.contains("decoders") && d["decoders"].is_array()) {
      for (const auto& sub : d["decoders"]) steps.push_back(&sub);
    } else if (!d.is_null()) {
      steps.push_back(&d);
    }
    for (const json* step : steps) {
      const std::string type = text(*step, "type");
      if (type == "Replace" && text(*step, "content") == " ") {
        replace_from = literal_pattern(*step, "Replace decoder");
      } else if (type == "ByteFallback") {
        bytes = true;
      } else if (type == "Fuse") {
      } else if (type == "Strip" && text(*step, "content") == " " && count(*step, "stop") == 0) {
        cfg_.decode_strip = count(*step, "start");
      } else if (type == "Metaspace") {
        replace_from = metaspace_replacement(*step);
        if (prepend_scheme(*step) != CharStep::Prepend::kNever) cfg_.decode_strip = 1;
      } else {
        fail("unsupported decoder '" + (type.empty() ? brief(*step) : type) + "' for SentencePiece-style BPE");
      }
    }
    for (std::size_t id = 0; id < cfg_.pieces.size(); ++id) {
      std::string& piece = cfg_.pieces[id];
      if (const int b = bytes ? byte_fallback_value(piece) : -1; b >= 0) {
        piece = std::string(1, static_cast<char>(b));
        continue;
      }
      for (std::size_t pos; !replace_from.empty() && (pos = piece.find(replace_from)) != std::string::npos;)
        piece.replace(pos, replace_from.size(), " ");
    }
  }

  // The byte of a "<0xXX>" token, or -1.
  static int byte_fallback_value(std::string_view piece) {
    if (piece.size() != 6 || !piece.starts_with("<0x") || piece[5] != '>') return -1;
    int value = 0;
    for (const char c : piece.substr(3, 2)) {
      const int digit = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                        : (c >= 'A' && c <= 'F')                   ? c - 'A' + 10
                        : (c >= 'a' && c <= 'f')                   ? c - 'a' + 10
                                                                    : -1;
      if (digit < 0) return -1;
      value = value * 16 + digit;
    }
    return value;
  }

  void read_split(const json& p) {
    if (byte_level_) fail("unsupported pre-tokenizer sequence: a Split after the ByteLevel step");
    const std::string behavior = text(p, "behavior");
    if (behavior != "Isolated") fail("unsupported Split behavior '" + behavior + "' (only Isolated is supported)");
    if (flag(p, "invert", false)) fail("unsupported Split pre-tokenizer: invert is not supported");
    const auto pit = p.find("pattern");
    if (pit == p.end() || !pit->is_object()) fail("Split has no 'pattern' object");
    if (pit->contains("Regex")) {
      const std::string regex = text(*pit, "Regex");
      if (const auto known = split_pattern_from_regex(regex)) {
        cfg_.steps.push_back({*known, nullptr});  // the hand-written matcher: same pieces, faster
      } else {
        add_regex_step(regex, "Split regex");
      }
    } else if (pit->contains("String")) {
      const std::string literal = text(*pit, "String");
      if (literal.empty()) fail("Split has an empty 'String' pattern");
      std::string regex;
      for (const char c : literal) {
        if (std::isalnum(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) >= 0x80) {
          regex += c;
        } else {
          regex += '\\';
          regex += c;
        }
      }
      add_regex_step(regex, "Split string");
    } else {
      fail("unsupported Split pattern " + brief(*pit));
    }
  }

  void add_regex_step(const std::string& regex, const char* what) {
    try {
      cfg_.steps.push_back({SplitPattern::kNone, std::make_shared<const RegexSplitter>(regex)});
    } catch (const std::runtime_error& e) {
      fail(std::string("unsupported ") + what + " '" + regex.substr(0, 80) + "': " + e.what());
    }
  }

  void read_decoder(const json& d) {
    bool ok = text(d, "type") == "ByteLevel";
    if (text(d, "type") == "Sequence" && d.contains("decoders") && d["decoders"].is_array()) {
      for (const auto& sub : d["decoders"]) ok = ok || text(sub, "type") == "ByteLevel";
    }
    if (!ok) fail("unsupported decoder (a ByteLevel decoder is required)");
  }

  void read_post_processor(const json& p) {
    const json* tp = nullptr;
    if (text(p, "type") == "TemplateProcessing") tp = &p;
    if (text(p, "type") == "Sequence" && p.contains("processors") && p["processors"].is_array()) {
      for (const auto& sub : p["processors"]) {
        if (text(sub, "type") == "TemplateProcessing") tp = &sub;
      }
    }
    if (tp) {
      read_template(*tp);
    } else {
      read_tokenizer_config();
    }
  }

  // TemplateProcessing "single": special tokens before the sequence form the prefix, after it the suffix.
  void read_template(const json& tp) {
    const auto single_it = tp.find("single");
    const json& single = single_it != tp.end() ? *single_it : tp;
    const auto specials_it = tp.find("special_tokens");
    const json& specials = specials_it != tp.end() && specials_it->is_object() ? *specials_it : empty_;
    if (single_it == tp.end()) fail("TemplateProcessing has no 'single' template");
    if (!single.is_array()) fail("TemplateProcessing has no 'single' template");
    bool seen_sequence = false;
    for (const auto& item : single) {
      if (item.is_object() && item.contains("Sequence")) {
        seen_sequence = true;
        continue;
      }
      if (!item.is_object() || !item.contains("SpecialToken") || !item["SpecialToken"].is_object()) {
        fail("TemplateProcessing: unsupported template item " + brief(item));
      }
      const std::string name = text(item["SpecialToken"], "id");
      const auto st = specials.find(name);
      if (st == specials.end() || !st->is_object() || !st->contains("ids") || !(*st)["ids"].is_array()) {
        fail("TemplateProcessing: special token '" + name + "' has no ids");
      }
      for (const auto& id : (*st)["ids"]) {
        (seen_sequence ? cfg_.suffix : cfg_.prefix).push_back(checked_id(id, "special token '" + name + "'"));
      }
    }
  }

  // No TemplateProcessing: transformers' convention (e.g. LlamaTokenizerFast) from a
  // tokenizer_config.json beside the file: add_bos_token / add_eos_token with bos_token / eos_token.
  void read_tokenizer_config() {
    const auto path = path_.parent_path() / "tokenizer_config.json";
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return;
    const json c = read_json_file(path);
    if (!c.is_object()) return;
    auto token_of = [&](const char* key) -> std::optional<std::uint32_t> {
      const auto t = c.find(key);
      if (t == c.end()) return std::nullopt;
      const std::string content = t->is_string() ? t->get<std::string>() : text(*t, "content");
      const auto it = ids_.find(content);
      if (content.empty() || it == ids_.end()) return std::nullopt;
      return it->second;
    };
    if (flag(c, "add_bos_token", false)) {
      if (const auto id = token_of("bos_token")) cfg_.prefix.push_back(*id);
    }
    if (flag(c, "add_eos_token", false)) {
      if (const auto id = token_of("eos_token")) cfg_.suffix.push_back(*id);
    }
  }

  std::filesystem::path path_;
  BpeConfig cfg_;
  std::unordered_map<std::string, std::uint32_t> ids_;  // token text (vocab and added) -> id
  bool byte_level_ = false;
  const json empty_ = json::object();
  std::int64_t id_limit_ = kMaxId;
};

}  // namespace

BpeConfig load_bpe_config(const std::filesystem::path& file) { return Loader(file).run(); }

BpeConfig bpe_config_from_tekken(const TekkenFile& tekken) {
  BpeConfig cfg;
  cfg.file = tekken.file;
  const auto n_special = static_cast<std::uint32_t>(tekken.specials.size());
  for (std::uint32_t i = 0; i < n_special; ++i) cfg.pieces.push_back(tekken.specials[i]);
  for (std::uint32_t r = 0; r < tekken.tokens.size(); ++r) {
    cfg.pieces.push_back(tekken.tokens[r]);
    cfg.byte_vocab.emplace(tekken.tokens[r], r + n_special);
  }
  cfg.has_piece.assign(cfg.pieces.size(), 1);
  for (unsigned b = 0; b < 256; ++b) cfg.byte_ids[b] = b + n_special;
  std::uint32_t rank = 0;
  for (const TekkenMerge& m : tekken.merges)
    cfg.merges.insert_or_assign(pair_key(m.left + n_special, m.right + n_special), Merge{rank++, m.merged + n_special});
  cfg.ignore_merges = true;
  if (const auto known = split_pattern_from_regex(tekken.pattern)) {
    cfg.steps.push_back({*known, nullptr});
  } else {
    try {
      cfg.steps.push_back({SplitPattern::kNone, std::make_shared<const RegexSplitter>(tekken.pattern)});
    } catch (const std::runtime_error& e) {
      throw Error(tekken.file, "", "unsupported pattern '" + tekken.pattern.substr(0, 80) + "': " + e.what());
    }
  }
  if (const auto bos = tekken.special_id("<s>")) cfg.prefix.push_back(*bos);
  return cfg;
}

}  // namespace ramq::tokenize
