// Mistral's tekken.json as a llama.cpp vocabulary, as llama.cpp's converter writes it
// (conversion/base.py _set_vocab_mistral, gguf-py vocab.py MistralVocab): model "gpt2", pre
// "tekken", the special tokens first (CONTROL, by rank) and then the ordinary tokens (NORMAL) in
// GPT-2's byte-level alphabet, every score 0, the merges derived from the ranks, bos/eos/unk/pad
// from "<s>", "</s>", "<unk>", "<pad>" (pad: eos if there is no "<pad>"), add_bos true, add_eos
// false. tokenizer_config.json plays no part, as in the converter.
#include "ramq/tekken.h"
#include "write/gguf_vocab.h"
#include "write/gguf_vocab_internal.h"

namespace ramq {

GgufVocab vocab_from_tekken(const std::filesystem::path& path) {
  const TekkenFile t = read_tekken(path);
  GgufVocab v;
  v.model = "gpt2";
  v.pre = "tekken";
  v.source = path.filename().string();
  v.tokens.reserve(t.vocab_size());
  for (const std::string& s : t.specials) {
    v.tokens.push_back(s);
    v.token_types.push_back(static_cast<std::int32_t>(GgufTokenType::CONTROL));
  }
  for (const std::string& bytes : t.tokens) {
    v.tokens.push_back(byte_level_text(bytes));
    v.token_types.push_back(static_cast<std::int32_t>(GgufTokenType::NORMAL));
  }
  v.scores.assign(v.tokens.size(), 0.0f);
  v.merges.reserve(t.merges.size());
  for (const TekkenMerge& m : t.merges)
    v.merges.push_back(byte_level_text(t.tokens[m.left]) + " " + byte_level_text(t.tokens[m.right]));
  v.bos_id = t.special_id("<s>");
  v.eos_id = t.special_id("</s>");
  v.unk_id = t.special_id("<unk>");
  v.pad_id = t.special_id("<pad>");
  if (!v.pad_id) v.pad_id = v.eos_id;
  v.add_bos = true;
  v.add_eos = false;
  vocab_detail::check_unique(v, path.string());
  return v;
}

}  // namespace ramq
