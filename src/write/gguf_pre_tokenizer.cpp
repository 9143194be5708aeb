// tokenizer.ggml.pre identified as llama.cpp's converter does (write/gguf_pre_tokenizer.h).
#include "write/gguf_pre_tokenizer.h"

#include <cstddef>
#include <map>
#include <mutex>
#include <tuple>
#include <span>

#include "ramq/error.h"
#include "ramq/hash.h"
#include "ramq/tokenizer.h"

namespace ramq {

namespace {

// The converter's check text (conversion/base.py `get_vocab_base_pre`, `chktxt`), as UTF-8.
constexpr std::string_view kCheckText =
    "\x0a" " \x0a\x0a" " \x0a\x0a\x0a" " \x09" " \x09\x09" " \x09\x0a" "  \x0a" "   \x0a" "    "
    "\x0a" "     \x0a\xf0\x9f\x9a\x80" " (normal) \xf0\x9f\x98\xb6\xe2\x80\x8d\xf0\x9f\x8c\xab\xef\xb8"
    "\x8f" " (multiple emojis concatenated) \xe2\x9c\x85" " \xf0\x9f\xa6\x99\xf0\x9f\xa6"
    "\x99" " 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 \xe1\x9e\x80\xe1\x9e\xb6\xe1"
    "\x9e\x93\xe1\x9f\x8b\xe1\x9e\x8f\xe1\x9f\x82\xe1\x9e\x96\xe1\x9e\xb7\xe1\x9e\x9f\xe1\x9f\x81\xe1"
    "\x9e\x9f\xe1\x9e\xa2\xe1\x9e\xb6\xe1\x9e\x85\xf0\x9f\x98\x81" " \x3f\xe6\x88\x91\xe6\x83\xb3\xe5"
    "\x9c\xa8" "apple\xe5\xb7\xa5\xe4\xbd\x9c" "1314151\xe5\xa4\xa9\xef\xbd\x9e" " ------======= \xd0"
    "\xbd\xd0\xb5\xd1\x89\xd0\xbe" " \xd0\xbd\xd0\xb0" " \xd0\x91\xd1\x8a\xd0\xbb\xd0\xb3\xd0\xb0\xd1"
    "\x80\xd1\x81\xd0\xba\xd0\xb8" " ''''''```````\x22\x22\x22\x22" "......!!!!!!\x3f\x3f\x3f\x3f\x3f"
    "\x3f" " I've been 'told he's there, 'RE you sure"
    "\x3f" " 'M not sure I'll make it, 'D you like some tea\x3f" " We'Ve a'lL";

// The ids as Python's str() prints a list of ints.
std::string python_list(const std::vector<std::uint32_t>& ids) {
  std::string s = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]";
}

// The hash of one tokenizer.json file, remembered for the process: a budget run lays the GGUF
// file out several times (each round's size, then the write), and loading a large BPE
// tokenizer takes seconds. Keyed by path, size and modification time.
struct HashMemo {
  std::mutex mutex;
  std::map<std::tuple<std::string, std::uintmax_t, std::filesystem::file_time_type>, std::string> hashes;
};
HashMemo& hash_memo() {
  static HashMemo memo;
  return memo;
}

std::optional<std::string> compute_check_hash(const std::filesystem::path& path, std::string* why) {
  std::unique_ptr<Tokenizer> tok;
  try {
    tok = load_hf_tokenizer_json(path);
  } catch (const Error& e) {
    if (why) *why = e.problem();
    return std::nullopt;
  }
  // transformers' encode() adds the special tokens of the post-processor (add_bos here).
  const std::string list = python_list(tok->encode(kCheckText, true));
  return sha256_hex(std::as_bytes(std::span(list.data(), list.size())));
}

}  // namespace

std::optional<std::string> converter_check_hash(const std::filesystem::path& path, std::string* why) {
  std::error_code ec1, ec2;
  const auto size = std::filesystem::file_size(path, ec1);
  const auto time = std::filesystem::last_write_time(path, ec2);
  if (ec1 || ec2) return compute_check_hash(path, why);  // the load reports the problem
  const auto key = std::make_tuple(std::filesystem::absolute(path).string(), size, time);
  HashMemo& memo = hash_memo();
  {
    const std::lock_guard<std::mutex> lock(memo.mutex);
    if (const auto it = memo.hashes.find(key); it != memo.hashes.end()) return it->second;
  }
  auto hash = compute_check_hash(path, why);
  if (hash) {
    const std::lock_guard<std::mutex> lock(memo.mutex);
    memo.hashes.emplace(key, *hash);
  }
  return hash;
}

std::string gguf_pre_tokenizer(const std::filesystem::path& path, const std::string& override) {
  const std::string file = path.string();
  if (!override.empty()) {
    if (!is_llama_cpp_pre_name(override))
      throw Error(file, "", "--gguf-pre '" + override + "' is not a pre-tokenizer llama.cpp knows (" +
                                llama_cpp_pre_names() + ")");
    return override;
  }
  std::string why;
  const auto hash = converter_check_hash(path, &why);
  if (!hash)
    throw Error(file, "", "cannot identify its pre-tokenizer for llama.cpp, as ramq cannot tokenize it (" + why +
                              "); name it with --gguf-pre NAME");
  if (const auto name = converter_pre_name(*hash)) return std::string(*name);
  throw Error(file, "", "its pre-tokenizer is not one llama.cpp's converter knows (check-text hash " + *hash +
                            "); name it with --gguf-pre NAME if you know which llama.cpp pre-tokenizer it is");
}

}  // namespace ramq
