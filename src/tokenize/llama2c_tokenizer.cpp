// llama2.c tokenizer (tok*.bin): int32 max_token_length, then for each token float32 score,
// int32 length and the bytes of the piece. encode() gives exactly what karpathy's run.c encode()
// gives (dummy-prefix space, per-codepoint lookup with byte fallback id = byte + 3, then merge the
// adjacent pair whose concatenated piece is in the vocabulary with the highest score, leftmost on
// ties, until none is left), but with a heap over the live pairs instead of run.c's quadratic
// rescans: O(n log n) for the whole text in one call.
#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <queue>
#include <unordered_map>

#include "ramq/error.h"
#include "ramq/input_file.h"
#include "ramq/tokenizer.h"

namespace ramq {
namespace {

constexpr std::uint32_t kBos = 1;
constexpr std::uint32_t kEos = 2;
constexpr float kNoScore = -1e10f;  // run.c's initial best_score: pairs must score above it

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The byte of a "<0xAB>" piece, or -1.
int byte_piece_value(std::string_view piece) {
  if (piece.size() != 6 || !piece.starts_with("<0x") || piece[5] != '>') return -1;
  const int hi = hex_digit(piece[3]), lo = hex_digit(piece[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

class Llama2cTokenizer final : public Tokenizer {
 public:
  explicit Llama2cTokenizer(const std::filesystem::path& file);
  Llama2cTokenizer(const Llama2cTokenizer&) = delete;  // ids_ holds views into pieces_
  Llama2cTokenizer& operator=(const Llama2cTokenizer&) = delete;

  std::vector<std::uint32_t> encode(std::string_view text, bool add_bos) const override;
  std::string decode(std::span<const std::uint32_t> ids) const override;
  std::string kind() const override { return "llama2c"; }
  std::optional<std::uint32_t> bos_id() const override { return kBos; }

 private:
  std::optional<std::uint32_t> lookup(std::string_view s) const {
    const auto it = ids_.find(s);
    if (it == ids_.end()) return std::nullopt;
    return it->second;
  }

  std::string file_;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string_view, std::uint32_t> ids_;  // views into pieces_
};

Llama2cTokenizer::Llama2cTokenizer(const std::filesystem::path& file) : file_(file.string()) {
  const std::string data = read_regular_file(file, kMaxTokenizerFileBytes);
  std::size_t pos = 0;
  auto read_i32 = [&](const char* what) {
    if (data.size() - pos < 4) {
      throw Error(file_, "", std::string("truncated llama2.c tokenizer: ") + what + " at byte " + std::to_string(pos));
    }
    std::int32_t v = 0;
    std::memcpy(&v, data.data() + pos, 4);
    pos += 4;
    return v;
  };
  const std::int32_t max_len = read_i32("max_token_length");
  if (max_len <= 0) throw Error(file_, "", "bad max_token_length " + std::to_string(max_len));
  while (pos < data.size()) {
    const std::int32_t score_bits = read_i32("token score");
    float score = 0;
    std::memcpy(&score, &score_bits, 4);
    const std::int32_t len = read_i32("token length");
    if (len < 0 || static_cast<std::size_t>(len) > data.size() - pos) {
      throw Error(file_, "", "token " + std::to_string(pieces_.size()) + " has length " + std::to_string(len) +
                                 " but only " + std::to_string(data.size() - pos) + " bytes are left");
    }
    pieces_.emplace_back(data.substr(pos, static_cast<std::size_t>(len)));
    scores_.push_back(score);
    pos += static_cast<std::size_t>(len);
  }
  if (pieces_.size() < 3 + 256) {
    throw Error(file_, "", "a llama2.c tokenizer needs at least 259 tokens (<unk>, <s>, </s>, 256 bytes), found " +
                               std::to_string(pieces_.size()));
  }
  // run.c finds pieces with bsearch over a sorted copy; with duplicates we take the lowest id.
  for (std::size_t i = 0; i < pieces_.size(); ++i) ids_.emplace(pieces_[i], static_cast<std::uint32_t>(i));
}

std::vector<std::uint32_t> Llama2cTokenizer::encode(std::string_view text, bool add_bos) const {
  // Initial tokens, as run.c builds them.
  std::vector<std::uint32_t> tok;
  tok.reserve(text.size() + 2);
  if (add_bos) tok.push_back(kBos);
  if (!text.empty()) {
    const auto space = lookup(" ");
    if (!space) throw Error(file_, "", "the vocabulary has no \" \" piece for the dummy prefix");
    tok.push_back(*space);
  }
  for (std::size_t i = 0; i < text.size();) {
    std::size_t len = 1;  // a byte and up to 3 continuation bytes (run.c's codepoint grouping)
    while (len < 4 && i + len < text.size() && (static_cast<unsigned char>(text[i + len]) & 0xC0) == 0x80) ++len;
    if (const auto id = lookup(text.substr(i, len))) {
      tok.push_back(*id);
    } else {
      for (std::size_t k = 0; k < len; ++k) tok.push_back(static_cast<unsigned char>(text[i + k]) + 3u);
    }
    i += len;
  }

  // Merges over a doubly linked list; heap of (score, left node), best score first, then the
  // leftmost node (node indices keep their left-to-right order as nodes merge).
  const std::size_t n = tok.size();
  if (n < 2) return tok;
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::vector<std::size_t> prev(n), next(n);
  std::vector<std::uint32_t> version(n, 0);
  std::vector<char> alive(n, 1);
  for (std::size_t i = 0; i < n; ++i) {
    prev[i] = i == 0 ? kNone : i - 1;
    next[i] = i + 1 == n ? kNone : i + 1;
  }
  struct Cand {
    float score;
    std::size_t left;
    std::uint32_t merged, vleft, vright;
  };
  auto worse = [](const Cand& a, const Cand& b) { return a.score != b.score ? a.score < b.score : a.left > b.left; };
  std::priority_queue<Cand, std::vector<Cand>, decltype(worse)> heap(worse);
  std::string buf;
  auto push = [&](std::size_t left) {
    if (left == kNone || next[left] == kNone) return;
    const std::size_t right = next[left];
    buf.assign(pieces_[tok[left]]);
    buf += pieces_[tok[right]];
    const auto id = lookup(buf);
    if (id && scores_[*id] > kNoScore) heap.push({scores_[*id], left, *id, version[left], version[right]});
  };
  for (std::size_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    const std::size_t right = next[c.left];
    if (!alive[c.left] || right == kNone || version[c.left] != c.vleft || version[right] != c.vright) continue;
    tok[c.left] = c.merged;
    ++version[c.left];
    alive[right] = 0;
    next[c.left] = next[right];
    if (next[right] != kNone) prev[next[right]] = c.left;
    push(prev[c.left]);
    push(c.left);
  }
  std::vector<std::uint32_t> out;
  out.reserve(n);
  for (std::size_t i = 0; i != kNone; i = next[i]) out.push_back(tok[i]);
  return out;
}

std::string Llama2cTokenizer::decode(std::span<const std::uint32_t> ids) const {
  std::string out;
  bool strip_space = true;  // the dummy prefix: at the start and after each BOS
  for (const std::uint32_t id : ids) {
    if (id >= pieces_.size()) throw Error(file_, "", "token id " + std::to_string(id) + " is out of range");
    if (id == 0 || id == kBos || id == kEos) {
      strip_space = id == kBos;
      continue;
    }
    std::string_view piece = pieces_[id];
    if (const int byte = byte_piece_value(piece); byte >= 0) {
      out.push_back(static_cast<char>(byte));
    } else {
      if (strip_space && !piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
      out.append(piece);
    }
    strip_space = false;
  }
  return out;
}

}  // namespace

std::unique_ptr<Tokenizer> load_llama2c_tokenizer(const std::filesystem::path& file) {
  return std::make_unique<Llama2cTokenizer>(file);
}

}  // namespace ramq
