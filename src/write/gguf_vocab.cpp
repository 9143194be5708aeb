// Tokenizer conversion for GGUF: llama2.c tokenizer.bin, SentencePiece tokenizer.model, the
// choice among a model directory's tokenizer files, special token ids, and the tokenizer.ggml.*
// key/values. (Hugging Face tokenizer.json is in gguf_vocab_json.cpp.)
#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <set>

#include <nlohmann/json.hpp>

#include "ramq/error.h"
#include "ramq/input_file.h"
#include "write/gguf_pre_tokenizer.h"
#include "write/gguf_vocab.h"
#include "write/gguf_vocab_internal.h"

namespace fs = std::filesystem;

namespace ramq {

namespace vocab_detail {

std::string read_file_bytes(const fs::path& p, std::uintmax_t limit) {
  return read_regular_file(p, static_cast<std::uint64_t>(limit));
}

void check_unique(const GgufVocab& v, const std::string& file) {
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < v.tokens.size(); ++i)
    if (!seen.insert(v.tokens[i]).second)
      throw Error(file, "", "token " + std::to_string(i) + " repeats an earlier token's text; llama.cpp needs unique tokens");
}

}  // namespace vocab_detail

using vocab_detail::read_file_bytes;

namespace {

constexpr std::uintmax_t kMaxTokenizerBytes = 512u << 20;
const std::string kSpmSpace = "\xe2\x96\x81";  // U+2581, SentencePiece's space

bool is_byte_piece(const std::string& s) {
  const auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return s.size() == 6 && s.compare(0, 3, "<0x") == 0 && hex(s[3]) && hex(s[4]) && s[5] == '>';
}

void set_if_found(const GgufVocab& v, std::optional<std::uint32_t>& id, const std::string& text) {
  for (std::size_t i = 0; i < v.tokens.size(); ++i)
    if (v.tokens[i] == text) {
      id = static_cast<std::uint32_t>(i);
      return;
    }
}

// Minimal protobuf reader (varint and length-delimited fields) for SentencePiece's ModelProto.
struct Pb {
  const unsigned char* p;
  const unsigned char* end;
  const std::string& file;

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(file, "", "not a valid SentencePiece model: " + what);
  }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= end) fail("truncated varint");
      const unsigned char b = *p++;
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("varint longer than 10 bytes");
  }
  Pb sub() {
    const std::uint64_t n = varint();
    if (n > static_cast<std::uint64_t>(end - p)) fail("length-delimited field runs past the end");
    Pb s{p, p + n, file};
    p += n;
    return s;
  }
  std::uint32_t fixed32() {
    if (end - p < 4) fail("truncated fixed32");
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(p[i]) << (8 * i);
    p += 4;
    return v;
  }
  void skip(int wire) {
    switch (wire) {
      case 0: varint(); break;
      case 1: if (end - p < 8) fail("truncated fixed64"); p += 8; break;
      case 2: sub(); break;
      case 5: fixed32(); break;
      default: fail("unsupported wire type " + std::to_string(wire));
    }
  }
};

}  // namespace

GgufVocab vocab_from_llama2c(const fs::path& path) {
  const std::string file = path.string();
  const std::string b = read_file_bytes(path, kMaxTokenizerBytes);
  const auto i32 = [&](std::size_t at) {
    std::int32_t v = 0;
    std::memcpy(&v, b.data() + at, 4);
    return v;
  };
  if (b.size() < 4) throw Error(file, "", "truncated: too short for a llama2.c tokenizer");
  if (i32(0) <= 0) throw Error(file, "", "max_token_length " + std::to_string(i32(0)) + " is not positive");
  GgufVocab v;
  v.model = "llama";
  v.source = path.filename().string();
  for (std::size_t at = 4; at < b.size();) {
    const std::string tok = "token " + std::to_string(v.tokens.size());
    if (b.size() - at < 8) throw Error(file, "", "truncated: " + tok + " has no score and length");
    float score = 0;
    std::memcpy(&score, b.data() + at, 4);
    const std::int32_t len = i32(at + 4);
    at += 8;
    if (len < 0 || static_cast<std::size_t>(len) > b.size() - at)
      throw Error(file, "", tok + " length " + std::to_string(len) + " runs past the end of the file");
    std::string piece = b.substr(at, static_cast<std::size_t>(len));
    at += static_cast<std::size_t>(len);
    auto type = GgufTokenType::NORMAL;
    if (piece == "<unk>") {
      type = GgufTokenType::UNKNOWN;
    } else if (piece == "\n<s>\n" || piece == "\n</s>\n" || piece == "<s>" || piece == "</s>") {
      piece = piece.find("</s>") != std::string::npos ? "</s>" : "<s>";
      type = GgufTokenType::CONTROL;
    } else if (is_byte_piece(piece)) {
      type = GgufTokenType::BYTE;
    } else {
      std::string out;
      for (const char c : piece) out += c == ' ' ? kSpmSpace : std::string(1, c);
      piece = std::move(out);
    }
    if (piece.empty()) throw Error(file, "", tok + " is empty");
    v.tokens.push_back(std::move(piece));
    v.scores.push_back(score);
    v.token_types.push_back(static_cast<std::int32_t>(type));
  }
  if (v.tokens.empty()) throw Error(file, "", "has no tokens");
  vocab_detail::check_unique(v, file);
  set_if_found(v, v.unk_id, "<unk>");
  set_if_found(v, v.bos_id, "<s>");
  set_if_found(v, v.eos_id, "</s>");
  v.add_bos = true;  // llama2.c's encode() puts BOS first and a dummy-prefix space
  v.add_eos = false;
  v.add_space_prefix = true;
  return v;
}

std::optional<GgufVocab> vocab_detail::sentencepiece_vocab(const fs::path& path, std::string* why) {
  const std::string file = path.string();
  const std::string b = read_file_bytes(path, kMaxTokenizerBytes);
  const auto* base = reinterpret_cast<const unsigned char*>(b.data());
  Pb pb{base, base + b.size(), file};
  GgufVocab v;
  v.model = "llama";
  v.source = path.filename().string();
  std::uint64_t model_type = 1;  // trainer_spec.model_type defaults to UNIGRAM
  while (pb.p < pb.end) {
    const std::uint64_t key = pb.varint();
    const int field = static_cast<int>(key >> 3), wire = static_cast<int>(key & 7);
    if (field == 1 && wire == 2) {  // repeated SentencePiece pieces
      Pb s = pb.sub();
      std::string piece;
      float score = 0;
      std::uint64_t type = 1;
      while (s.p < s.end) {
        const std::uint64_t k = s.varint();
        const int f = static_cast<int>(k >> 3), w = static_cast<int>(k & 7);
        if (f == 1 && w == 2) {
          Pb t = s.sub();
          piece.assign(reinterpret_cast<const char*>(t.p), static_cast<std::size_t>(t.end - t.p));
        } else if (f == 2 && w == 5) {
          const std::uint32_t bits = s.fixed32();
          std::memcpy(&score, &bits, 4);
        } else if (f == 3 && w == 0) {
          type = s.varint();
        } else {
          s.skip(w);
        }
      }
      if (type < 1 || type > 6) pb.fail("piece " + std::to_string(v.tokens.size()) + " has unknown type " + std::to_string(type));
      v.tokens.push_back(std::move(piece));
      v.scores.push_back(score);
      v.token_types.push_back(static_cast<std::int32_t>(type));
    } else if ((field == 2 || field == 3) && wire == 2) {  // trainer_spec / normalizer_spec
      Pb s = pb.sub();
      while (s.p < s.end) {
        const std::uint64_t k = s.varint();
        const int f = static_cast<int>(k >> 3), w = static_cast<int>(k & 7);
        if (field == 2 && f == 3 && w == 0) model_type = s.varint();
        else if (field == 3 && f == 3 && w == 0) v.add_space_prefix = s.varint() != 0;
        else s.skip(w);
      }
    } else {
      pb.skip(wire);
    }
  }
  if (v.tokens.empty()) pb.fail("it has no pieces");
  if (model_type != 2) {
    if (why)
      *why = "SentencePiece model type " + std::to_string(model_type) +
             " is not BPE (2); llama.cpp's 'llama' tokenizer needs a BPE model";
    return std::nullopt;
  }
  vocab_detail::check_unique(v, file);
  for (std::size_t i = 0; i < v.tokens.size(); ++i) {
    const auto t = static_cast<GgufTokenType>(v.token_types[i]);
    if (t == GgufTokenType::UNKNOWN && !v.unk_id) v.unk_id = static_cast<std::uint32_t>(i);
  }
  set_if_found(v, v.bos_id, "<s>");
  set_if_found(v, v.eos_id, "</s>");
  return v;
}

GgufVocab vocab_from_sentencepiece(const fs::path& path) {
  std::string why;
  auto v = vocab_detail::sentencepiece_vocab(path, &why);
  if (!v) throw Error(path.string(), "", why);
  return std::move(*v);
}

namespace {

GgufVocab build_model_vocab(const fs::path& dir, const ModelConfig& cfg, std::int64_t n_vocab,
                            const std::string& pre_override) {
  std::vector<std::string> notes;
  std::optional<Error> first_error;
  std::optional<GgufVocab> v;
  // load(path, &why): the vocabulary, or nullopt with the reason if the file is of an unsupported
  // kind (a note); ramq::Error for a malformed file (re-thrown if no other file gives a vocabulary).
  const auto attempt = [&](const fs::path& p, auto&& load) {
    std::error_code ec;
    if (v || !fs::is_regular_file(p, ec)) return;
    std::string why;
    try {
      v = load(p, &why);
      if (!v) notes.push_back(p.filename().string() + " not used: " + why);
    } catch (const Error& e) {
      notes.push_back(p.filename().string() + " not used: " + e.problem());
      if (!first_error) first_error = e;
    }
  };
  const auto llama2c = [](const fs::path& p, std::string*) { return std::optional<GgufVocab>(vocab_from_llama2c(p)); };
  std::error_code ec0;
  if (!fs::exists(dir / "tokenizer.json", ec0))
    attempt(dir / "tekken.json", [&](const fs::path& p, std::string*) {
      GgufVocab t = vocab_from_tekken(p);
      if (!pre_override.empty()) t.pre = gguf_pre_tokenizer(p, pre_override);  // validates the name
      return std::optional<GgufVocab>(std::move(t));
    });
  attempt(dir / "tokenizer.model", vocab_detail::sentencepiece_vocab);
  attempt(dir / "tokenizer.json",
          [&](const fs::path& p, std::string* why) { return vocab_from_tokenizer_json(p, why, pre_override); });
  attempt(dir / "tokenizer.bin", llama2c);
  if (!v) {
    std::vector<fs::path> bins;
    std::error_code ec;
    for (const auto& de : fs::directory_iterator(dir, ec)) {
      const std::string n = de.path().filename().string();
      if (n.size() > 7 && n.compare(0, 3, "tok") == 0 && n.compare(n.size() - 4, 4, ".bin") == 0) bins.push_back(de.path());
    }
    std::sort(bins.begin(), bins.end());
    for (const auto& p : bins) attempt(p, llama2c);
  }
  if (!v) {
    if (first_error) throw *first_error;
    GgufVocab none;
    for (const auto& n : notes) none.note += (none.note.empty() ? "" : "; ") + n;
    return none;
  }
  for (const auto& n : notes) v->note += (v->note.empty() ? "" : "; ") + n;
  const std::string file = (dir / v->source).string();
  if (!pre_override.empty() && v->model != "gpt2")
    throw Error(file, "", "--gguf-pre names the pre-tokenizer of a byte-level BPE tokenizer.json; this vocabulary is '" +
                              v->model + "', which llama.cpp pre-tokenizes by its own rules");
  if (v->source != "tekken.json") vocab_detail::apply_special_tokens(*v, dir, cfg);
  if (static_cast<std::int64_t>(v->tokens.size()) > n_vocab)
    throw Error(file, "", "has " + std::to_string(v->tokens.size()) + " tokens but the model's embedding has only " +
                              std::to_string(n_vocab) + " rows");
  for (auto i = static_cast<std::int64_t>(v->tokens.size()); i < n_vocab; ++i) {
    v->tokens.push_back("[PAD" + std::to_string(i) + "]");
    if (!v->scores.empty()) v->scores.push_back(-1000.0f);
    v->token_types.push_back(static_cast<std::int32_t>(GgufTokenType::UNUSED));
  }
  vocab_detail::check_unique(*v, file);
  return *v;
}

// What the vocabulary of `dir` depends on: the arguments and the size and time of every file
// that may hold a tokenizer or its special tokens.
std::string vocab_key(const fs::path& dir, const ModelConfig& cfg, std::int64_t n_vocab, const std::string& pre_override) {
  std::error_code ec;
  std::string key = fs::absolute(dir, ec).string() + '\n' + std::to_string(n_vocab) + '\n' + pre_override + '\n' +
                    cfg.raw.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + '\n';
  std::vector<std::string> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (n.compare(0, 3, "tok") != 0 && n != "tekken.json") continue;
    std::error_code e1, e2;
    const auto size = fs::file_size(it->path(), e1);
    const auto time = fs::last_write_time(it->path(), e2).time_since_epoch().count();
    files.push_back(n + ':' + std::to_string(e1 ? 0 : size) + ':' + std::to_string(e2 ? 0 : time));
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) key += f + '\n';
  return key;
}

}  // namespace

GgufVocab load_model_vocab(const fs::path& dir, const ModelConfig& cfg, std::int64_t n_vocab,
                           const std::string& pre_override) {
  static std::mutex mutex;
  static std::string last_key;
  static std::shared_ptr<const GgufVocab> last;
  const std::string key = vocab_key(dir, cfg, n_vocab, pre_override);
  {
    const std::lock_guard<std::mutex> lock(mutex);
    if (last && key == last_key) return *last;
  }
  auto v = std::make_shared<const GgufVocab>(build_model_vocab(dir, cfg, n_vocab, pre_override));
  const std::lock_guard<std::mutex> lock(mutex);
  last_key = key;
  last = v;
  return *v;
}

void append_vocab_kvs(const GgufVocab& v, std::vector<GgufKV>& kvs) {
  kvs.push_back({"tokenizer.ggml.model", GgufValue::str(v.model)});
  if (v.model == "none") return;
  if (!v.pre.empty()) kvs.push_back({"tokenizer.ggml.pre", GgufValue::str(v.pre)});
  kvs.push_back({"tokenizer.ggml.tokens", GgufValue::strings(v.tokens)});
  if (!v.scores.empty()) kvs.push_back({"tokenizer.ggml.scores", GgufValue::f32s(v.scores)});
  kvs.push_back({"tokenizer.ggml.token_type", GgufValue::i32s(v.token_types)});
  if (!v.merges.empty()) kvs.push_back({"tokenizer.ggml.merges", GgufValue::strings(v.merges)});
  const auto id = [&](const char* key, const std::optional<std::uint32_t>& x) {
    if (x) kvs.push_back({key, GgufValue::u32(*x)});
  };
  id("tokenizer.ggml.bos_token_id", v.bos_id);
  id("tokenizer.ggml.eos_token_id", v.eos_id);
  id("tokenizer.ggml.unknown_token_id", v.unk_id);
  id("tokenizer.ggml.padding_token_id", v.pad_id);
  const auto flag = [&](const char* key, const std::optional<bool>& x) {
    if (x) kvs.push_back({key, GgufValue::boolean(*x)});
  };
  flag("tokenizer.ggml.add_bos_token", v.add_bos);
  flag("tokenizer.ggml.add_eos_token", v.add_eos);
  // llama.cpp's SentencePiece default is true: written only when the model says otherwise (the
  // converter writes it only from tokenizer_config.json's add_prefix_space).
  if (v.add_space_prefix && !(v.model == "llama" && *v.add_space_prefix))
    flag("tokenizer.ggml.add_space_prefix", v.add_space_prefix);
}

}  // namespace ramq
