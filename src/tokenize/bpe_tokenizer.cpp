// Hugging Face tokenizer.json with a BPE model: byte-level (Llama 3, Qwen2/Qwen3, gpt-oss,
// DeepSeek-V3, Mistral Nemo) or SentencePiece-style (Gemma, Llama 2, Mistral v0.1). Added tokens
// matched literally first (leftmost, longest), the normalizer (NFC, Prepend, Replace), the
// pre-tokenizer (byte-level: Split regexes, GPT-2 byte mapping; SentencePiece-style: literal
// Splits, Metaspace, characters with byte fallback to <0xXX>), ranked merges (as tokenizers'
// Word::merge_all: lowest rank first, then leftmost), and the post-processor's TemplateProcessing
// special tokens (or tokenizer_config.json's add_bos_token) for add_bos.
#include <algorithm>
#include <array>
#include <queue>
#include <unordered_map>

#include "bpe_config.h"
#include "char_steps.h"
#include "pretokenize.h"
#include "ramq/error.h"
#include "ramq/tokenizer.h"

namespace ramq {
namespace {

using tokenize::BpeConfig;

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(BpeConfig cfg);

  std::vector<std::uint32_t> encode(std::string_view text, bool add_bos) const override;
  std::string decode(std::span<const std::uint32_t> ids) const override;
  std::string kind() const override { return "bpe"; }
  std::optional<std::uint32_t> bos_id() const override {
    if (cfg_.prefix.empty()) return std::nullopt;
    return cfg_.prefix.front();
  }

 private:
  using Cache = std::unordered_map<std::string, std::vector<std::uint32_t>>;
  void encode_segment(std::string_view text, bool at_text_start, std::vector<std::uint32_t>& out, Cache& cache) const;
  void encode_cached(std::string_view word, std::vector<std::uint32_t>& out, Cache& cache) const;
  void encode_word(std::string_view word, std::vector<std::uint32_t>& out) const;
  std::vector<std::uint32_t> first_symbols(std::string_view word) const;
  const tokenize::Merge* find_merge(std::uint32_t a, std::uint32_t b) const {
    const auto it = cfg_.merges.find(tokenize::pair_key(a, b));
    return it == cfg_.merges.end() ? nullptr : &it->second;
  }

  BpeConfig cfg_;
  std::array<std::vector<std::size_t>, 256> added_by_first_byte_;  // indices into cfg_.added, longest first
};

BpeTokenizer::BpeTokenizer(BpeConfig cfg) : cfg_(std::move(cfg)) {
  std::stable_sort(cfg_.added.begin(), cfg_.added.end(),
                   [](const auto& a, const auto& b) { return a.content.size() > b.content.size(); });
  for (std::size_t i = 0; i < cfg_.added.size(); ++i) {
    const auto& content = cfg_.added[i].content;
    if (!content.empty()) added_by_first_byte_[static_cast<unsigned char>(content[0])].push_back(i);
  }
}

bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

std::vector<std::uint32_t> BpeTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<std::uint32_t> out;
  out.reserve(text.size() / 3 + 8);
  if (add_bos) out.insert(out.end(), cfg_.prefix.begin(), cfg_.prefix.end());
  Cache cache;
  // Added tokens split the text; the pieces between them are encoded by the model.
  std::size_t seg_begin = 0, skip_until = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i < skip_until) continue;
    const tokenize::AddedToken* hit = nullptr;
    for (const std::size_t k : added_by_first_byte_[static_cast<unsigned char>(text[i])]) {
      if (text.substr(i).starts_with(cfg_.added[k].content)) {
        hit = &cfg_.added[k];
        break;
      }
    }
    if (!hit) continue;
    std::size_t seg_end = i, next = i + hit->content.size();
    if (hit->lstrip) {
      while (seg_end > seg_begin && is_ascii_space(text[seg_end - 1])) --seg_end;
    }
    if (hit->rstrip) {
      while (next < text.size() && is_ascii_space(text[next])) ++next;
    }
    encode_segment(text.substr(seg_begin, seg_end - seg_begin), seg_begin == 0, out, cache);
    out.push_back(hit->id);
    seg_begin = skip_until = next;
  }
  encode_segment(text.substr(std::min(seg_begin, text.size())), seg_begin == 0, out, cache);
  if (add_bos) out.insert(out.end(), cfg_.suffix.begin(), cfg_.suffix.end());
  return out;
}

void BpeTokenizer::encode_segment(std::string_view text, bool at_text_start, std::vector<std::uint32_t>& out,
                                  Cache& cache) const {
  if (text.empty()) return;
  std::string normalized;
  if (!cfg_.normalizer.empty()) {
    normalized = tokenize::apply_normalizer(text, cfg_.normalizer);
    text = normalized;
  }
  if (cfg_.char_level) {
    std::vector<std::string> words;
    tokenize::char_pretokenize(std::string(text), cfg_.char_steps, at_text_start, words);
    for (const auto& w : words) encode_cached(w, out, cache);
    return;
  }
  if (text.empty()) return;
  if (cfg_.add_prefix_space && text.front() != ' ') {
    normalized = " " + std::string(text);
    text = normalized;
  }
  std::vector<tokenize::Piece> pieces;
  try {
    tokenize::split_steps(text, cfg_.steps, pieces);
  } catch (const std::runtime_error& e) {
    throw Error(cfg_.file, "", e.what());
  }
  for (const auto& p : pieces) encode_cached(text.substr(p.begin, p.end - p.begin), out, cache);
}

void BpeTokenizer::encode_cached(std::string_view word, std::vector<std::uint32_t>& out, Cache& cache) const {
  constexpr std::size_t kMaxCachedWord = 256;
  if (word.size() > kMaxCachedWord) {
    encode_word(word, out);
    return;
  }
  auto [it, inserted] = cache.try_emplace(std::string(word));
  if (inserted) encode_word(word, it->second);
  out.insert(out.end(), it->second.begin(), it->second.end());
}

// The symbols merging starts from. Byte-level: one per byte. SentencePiece-style: one per
// character in the vocabulary; another character becomes its <0xXX> byte tokens (byte_fallback)
// or the unknown token (consecutive ones fused with fuse_unk). An invalid UTF-8 byte is one
// character.
std::vector<std::uint32_t> BpeTokenizer::first_symbols(std::string_view word) const {
  std::vector<std::uint32_t> ids;
  ids.reserve(word.size());
  if (!cfg_.char_level) {
    for (const char c : word) ids.push_back(cfg_.byte_ids[static_cast<unsigned char>(c)]);
    return ids;
  }
  bool previous_unknown = false;
  for (std::size_t i = 0; i < word.size();) {
    std::uint32_t cp = 0;
    const std::size_t len = std::max<std::size_t>(1, tokenize::decode_utf8(word, i, cp));
    const std::string_view ch = word.substr(i, len);
    i += len;
    if (const auto it = cfg_.byte_vocab.find(std::string(ch)); it != cfg_.byte_vocab.end()) {
      ids.push_back(it->second);
      previous_unknown = false;
    } else if (cfg_.byte_fallback) {
      for (const char c : ch) ids.push_back(cfg_.byte_ids[static_cast<unsigned char>(c)]);
      previous_unknown = false;
    } else if (cfg_.unk) {
      if (!(cfg_.fuse_unk && previous_unknown)) ids.push_back(*cfg_.unk);
      previous_unknown = true;
    } else {
      throw Error(cfg_.file, "", "a character is not in the vocabulary, and the model has no byte_fallback and no unk_token");
    }
  }
  return ids;
}

void BpeTokenizer::encode_word(std::string_view word, std::vector<std::uint32_t>& out) const {
  if (cfg_.ignore_merges) {
    if (const auto it = cfg_.byte_vocab.find(std::string(word)); it != cfg_.byte_vocab.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const std::vector<std::uint32_t> first = first_symbols(word);
  const std::size_t n = first.size();
  struct Symbol {
    std::uint32_t id;
    std::size_t prev, next;  // kNone at the ends
    bool alive;
  };
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::vector<Symbol> sym(n);
  for (std::size_t i = 0; i < n; ++i) sym[i] = {first[i], i == 0 ? kNone : i - 1, i + 1 == n ? kNone : i + 1, true};
  struct Cand {
    std::uint32_t rank;
    std::size_t pos;
    std::uint32_t new_id;
  };
  auto after = [](const Cand& a, const Cand& b) { return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos; };
  std::priority_queue<Cand, std::vector<Cand>, decltype(after)> queue(after);
  auto push = [&](std::size_t pos) {
    if (pos == kNone || sym[pos].next == kNone) return;
    if (const auto* m = find_merge(sym[pos].id, sym[sym[pos].next].id)) queue.push({m->rank, pos, m->id});
  };
  for (std::size_t i = 0; i + 1 < n; ++i) push(i);
  while (!queue.empty()) {
    const Cand top = queue.top();
    queue.pop();
    Symbol& left = sym[top.pos];
    if (!left.alive || left.next == kNone) continue;
    Symbol& right = sym[left.next];
    const auto* m = find_merge(left.id, right.id);
    if (!m || m->id != top.new_id) continue;  // stale entry (tokenizers checks the same way)
    left.id = top.new_id;
    right.alive = false;
    left.next = right.next;
    if (right.next != kNone) sym[right.next].prev = top.pos;
    push(left.prev);
    push(top.pos);
  }
  for (std::size_t i = 0; n != 0 && i != kNone; i = sym[i].next) out.push_back(sym[i].id);
}

std::string BpeTokenizer::decode(std::span<const std::uint32_t> ids) const {
  std::string out;
  for (const std::uint32_t id : ids) {
    if (id >= cfg_.pieces.size() || !cfg_.has_piece[id]) {
      throw Error(cfg_.file, "", "token id " + std::to_string(id) + " is not in the vocabulary");
    }
    out += cfg_.pieces[id];
  }
  std::size_t strip = 0;
  while (strip < cfg_.decode_strip && strip < out.size() && out[strip] == ' ') ++strip;
  return out.erase(0, strip);
}

}  // namespace

std::unique_ptr<Tokenizer> load_hf_tokenizer_json(const std::filesystem::path& file) {
  return std::make_unique<BpeTokenizer>(tokenize::load_bpe_config(file));
}

std::unique_ptr<Tokenizer> load_tekken(const std::filesystem::path& file) {
  return std::make_unique<BpeTokenizer>(tokenize::bpe_config_from_tekken(read_tekken(file)));
}

}  // namespace ramq
