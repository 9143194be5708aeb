// Tokenizer selection for a model directory and the document conventions of the reference token
// files.
#include "ramq/tokenizer.h"

#include <algorithm>
#include <system_error>

#include "ramq/error.h"

namespace ramq {

Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) throw Error(model_dir.string(), "", "not a directory");
  if (fs::exists(model_dir / "tokenizer.json", ec)) return load_hf_tokenizer_json(model_dir / "tokenizer.json");
  if (fs::exists(model_dir / "tekken.json", ec)) return load_tekken(model_dir / "tekken.json");
  if (fs::exists(model_dir / "tokenizer.model", ec)) return load_sentencepiece(model_dir / "tokenizer.model");
  std::vector<fs::path> bins;
  for (fs::directory_iterator it(model_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() > 7 && name.starts_with("tok") && name.ends_with(".bin") && it->is_regular_file(ec)) {
      bins.push_back(it->path());
    }
  }
  if (ec) throw Error(model_dir.string(), "", "cannot list the directory: " + ec.message());
  if (bins.empty()) {
    throw Error(model_dir.string(), "", "no tokenizer found (tokenizer.json, tekken.json, tokenizer.model or a llama2.c tok*.bin)");
  }
  std::sort(bins.begin(), bins.end());
  return load_llama2c_tokenizer(bins.front());
}

namespace {

// Python's str.strip() whitespace, restricted to ASCII.
bool is_strip_space(char c) {
  return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f');
}

std::string_view strip(std::string_view s) {
  while (!s.empty() && is_strip_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_strip_space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

std::vector<std::uint32_t> encode_stories(const Tokenizer& tok, std::string_view text, std::string_view separator) {
  std::vector<std::uint32_t> out;
  auto add = [&](std::string_view story) {
    story = strip(story);
    if (story.empty()) return;
    const auto ids = tok.encode(story, true);
    out.insert(out.end(), ids.begin(), ids.end());
  };
  if (separator.empty()) {
    add(text);
    return out;
  }
  std::size_t pos = 0;
  for (;;) {
    const std::size_t next = text.find(separator, pos);
    if (next == std::string_view::npos) break;
    add(text.substr(pos, next - pos));
    pos = next + separator.size();
  }
  add(text.substr(pos));
  return out;
}

std::vector<std::uint32_t> encode_document(const Tokenizer& tok, std::string_view text, std::size_t max_tokens) {
  auto ids = tok.encode(text, true);
  if (max_tokens != 0 && ids.size() > max_tokens) ids.resize(max_tokens);
  return ids;
}

}  // namespace ramq
