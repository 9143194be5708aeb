// sentencepiece tokenizer.model, through Debian's libsentencepiece.
#include <sentencepiece_processor.h>

#include "ramq/error.h"
#include "ramq/input_file.h"
#include "ramq/tokenizer.h"

namespace ramq {
namespace {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::filesystem::path& file) : file_(file.string()) {
    // Read by ramq (a regular file, bounded), then parsed: the library's own loader would block
    // on a FIFO.
    const std::string proto = read_regular_file(file, kMaxTokenizerFileBytes);
    const auto status = sp_.LoadFromSerializedProto(proto);
    if (!status.ok()) throw Error(file_, "", "not a sentencepiece model: " + status.ToString());
    if (sp_.GetPieceSize() <= 0) throw Error(file_, "", "the sentencepiece model has no pieces");
  }

  std::vector<std::uint32_t> encode(std::string_view text, bool add_bos) const override {
    std::vector<int> ids;
    const auto status = sp_.Encode(text, &ids);
    if (!status.ok()) throw Error(file_, "", "sentencepiece encode failed: " + status.ToString());
    std::vector<std::uint32_t> out;
    out.reserve(ids.size() + 1);
    if (add_bos) {
      if (const auto bos = bos_id()) out.push_back(*bos);
    }
    for (const int id : ids) out.push_back(static_cast<std::uint32_t>(id));
    return out;
  }

  std::string decode(std::span<const std::uint32_t> ids) const override {
    std::vector<int> v;
    v.reserve(ids.size());
    const auto size = static_cast<std::uint32_t>(sp_.GetPieceSize());
    for (const std::uint32_t id : ids) {
      if (id >= size) throw Error(file_, "", "token id " + std::to_string(id) + " is out of range");
      v.push_back(static_cast<int>(id));
    }
    std::string text;
    const auto status = sp_.Decode(v, &text);
    if (!status.ok()) throw Error(file_, "", "sentencepiece decode failed: " + status.ToString());
    return text;
  }

  std::string kind() const override { return "sentencepiece"; }

  std::optional<std::uint32_t> bos_id() const override {
    const int bos = sp_.bos_id();
    if (bos < 0) return std::nullopt;
    return static_cast<std::uint32_t>(bos);
  }

 private:
  std::string file_;
  sentencepiece::SentencePieceProcessor sp_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece(const std::filesystem::path& file) {
  return std::make_unique<SentencePieceTokenizer>(file);
}

}  // namespace ramq
