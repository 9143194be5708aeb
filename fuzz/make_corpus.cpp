// Writes the seed corpus fuzz/corpus/<target>/ (small valid inputs of each format, so that the
// fuzzer starts from files that parse). Built with the project; run from the repository root:
//   build/fuzz/fuzz_make_corpus fuzz/corpus
// Every seed is synthesized here (none is copied from ../shared).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramq/gguf_metadata.h"
#include "ramq/model_family.h"
#include "ramq/ggml_types.h"
#include "ramq/gguf.h"
#include "ramq/safetensors.h"
#include "tokenize/pretokenize.h"
#include "write/gguf_vocab.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

fs::path g_root;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  const fs::path dir = g_root / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string le(std::uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
  return s;
}

std::string safetensors(const std::string& header, const std::string& data) { return le(header.size(), 8) + header + data; }

void safetensors_seeds() {
  put("safetensors_header", "f32_f16_bf16.safetensors",
      safetensors(R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                  R"("b":{"dtype":"F16","shape":[3],"data_offsets":[16,22]},"c":{"dtype":"BF16","shape":[1],"data_offsets":[22,24]}})",
                  std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0\x00\x00\x00\x00\xff\xff\x7f\x7f\x00\x3c\x00\x7c\x00\x7e\x80\x3f", 24)));
  put("safetensors_header", "ints_empty.safetensors",
      safetensors(R"({"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0,4],"data_offsets":[8,8]},)"
                  R"("u":{"dtype":"U8","shape":[],"data_offsets":[8,9]},"z":{"dtype":"BOOL","shape":[2],"data_offsets":[9,11]}})",
                  std::string(11, '\x01')));
  put("safetensors_header", "padded.safetensors",
      safetensors(R"({"w":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]}}   )", std::string(8, '\x3c')));
  put("safetensors_index", "two_shards.json",
      R"({"metadata":{"total_size":44},"weight_map":{"a.weight":"model-00001-of-00002.safetensors",)"
      R"("b.weight":"model-00001-of-00002.safetensors","c.weight":"model-00002-of-00002.safetensors"}})");
  put("safetensors_index", "missing_tensor.json",
      R"({"weight_map":{"a.weight":"model-00001-of-00002.safetensors","c.weight":"model-00002-of-00002.safetensors"}})");
}

void config_seeds() {
  put("model_config", "llama.json",
      R"({"architectures":["LlamaForCausalLM"],"attention_bias":false,"bos_token_id":1,"eos_token_id":2,"head_dim":8,)"
      R"("hidden_act":"silu","hidden_size":64,"intermediate_size":172,"max_position_embeddings":512,"mlp_bias":false,)"
      R"("model_type":"llama","num_attention_heads":8,"num_hidden_layers":5,"num_key_value_heads":4,"rms_norm_eps":1e-05,)"
      R"("rope_theta":10000.0,"tie_word_embeddings":true,"torch_dtype":"float32","vocab_size":512})");
  put("model_config", "llama3_rope.json",
      R"({"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":64,"intermediate_size":128,)"
      R"("num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":256,)"
      R"("max_position_embeddings":131072,"rope_theta":500000.0,"rope_scaling":{"factor":8.0,"high_freq_factor":4.0,)"
      R"("low_freq_factor":1.0,"original_max_position_embeddings":8192,"rope_type":"llama3"}})");
  put("model_config", "qwen3_text_config.json",
      R"({"architectures":["Qwen3ForCausalLM"],"model_type":"qwen3","text_config":{"hidden_size":32,"intermediate_size":64,)"
      R"("num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,"head_dim":16,"vocab_size":100,)"
      R"("max_position_embeddings":4096,"rope_parameters":{"rope_theta":1000000.0}},"use_sliding_window":false,)"
      R"("sliding_window":null,"tie_word_embeddings":false})");
  put("model_config", "qwen2_linear.json",
      R"({"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2","hidden_size":32,"intermediate_size":64,)"
      R"("num_hidden_layers":1,"num_attention_heads":4,"vocab_size":100,"max_position_embeddings":1024,)"
      R"("rope_scaling":{"type":"linear","factor":2.0},"rms_norm_eps":1e-6})");
}

// Byte-level token text of raw bytes (GPT-2 alphabet).
std::string byte_level(const std::string& bytes) {
  std::string out;
  for (const char c : bytes) ramq::tokenize::append_utf8(out, ramq::tokenize::byte_to_codepoint(static_cast<unsigned char>(c)));
  return out;
}

void tokenizer_seeds() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level(std::string(1, static_cast<char>(b)))] = b;
  const std::vector<std::pair<std::string, std::string>> merges = {{" ", "t"}, {"h", "e"}, {" t", "he"}, {"l", "l"}, {"he", "ll"}};
  json merge_list = json::array();
  int id = 256;
  for (const auto& [a, b] : merges) {
    vocab[byte_level(a + b)] = id++;
    merge_list.push_back(byte_level(a) + " " + byte_level(b));
  }
  json minimal = {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merge_list}}},
                  {"pre_tokenizer", {{"type", "ByteLevel"}, {"use_regex", false}, {"add_prefix_space", false}}},
                  {"decoder", {{"type", "ByteLevel"}}}};
  put("tokenizer_json", "minimal.json", minimal.dump());

  json full = minimal;
  full["model"]["merges"] = json::array();
  for (const auto& [a, b] : merges) full["model"]["merges"].push_back({byte_level(a), byte_level(b)});
  full["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array({json{{"type", "NFC"}}})}};
  full["added_tokens"] = {{{"id", id}, {"content", "<|begin|>"}, {"special", true}, {"lstrip", false}, {"rstrip", false}},
                          {{"id", id + 1}, {"content", "<|end|>"}, {"special", true}, {"lstrip", true}, {"rstrip", true}}};
  json split = {{"type", "Split"}, {"behavior", "Isolated"}, {"invert", false}};
  split["pattern"] = {{"Regex",
                       R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}};
  json byte_level_step = {{"type", "ByteLevel"}, {"use_regex", false}, {"add_prefix_space", false}};
  full["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", json::array({split, byte_level_step})}};
  json special = json::object();
  special["SpecialToken"] = {{"id", "<|begin|>"}, {"type_id", 0}};
  json sequence = json::object();
  sequence["Sequence"] = {{"id", "A"}, {"type_id", 0}};
  json specials = json::object();
  specials["<|begin|>"] = {{"id", "<|begin|>"}, {"ids", json::array({id})}, {"tokens", json::array({"<|begin|>"})}};
  json templ = {{"type", "TemplateProcessing"}, {"single", json::array({special, sequence})}, {"special_tokens", specials}};
  full["post_processor"] = {{"type", "Sequence"}, {"processors", json::array({json{{"type", "ByteLevel"}}, templ})}};
  full["decoder"] = {{"type", "Sequence"}, {"decoders", json::array({json{{"type", "ByteLevel"}}})}};
  put("tokenizer_json", "llama3_style.json", full.dump());
}

void llama2c_seeds() {
  // max_token_length, then <unk>, <s>, </s>, 256 byte pieces, " ", "a", " a".
  std::string f = le(8, 4);
  auto piece = [&](float score, const std::string& s) {
    std::uint32_t bits = 0;
    static_assert(sizeof bits == sizeof score);
    std::memcpy(&bits, &score, 4);
    f += le(bits, 4) + le(s.size(), 4) + s;
  };
  piece(0, "<unk>");
  piece(0, "\n<s>\n");
  piece(0, "\n</s>\n");
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    piece(0, hex);
  }
  piece(-1, " ");
  piece(-2, "a");
  piece(-3, " a");
  put("llama2c_tokenizer", "minimal.bin", f);
}

std::vector<std::byte> encode(ramq::GgmlType t, std::int64_t rows, std::int64_t cols) {
  std::vector<float> v(static_cast<std::size_t>(rows * cols));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i))) * 0.1f;
  std::vector<std::byte> out(ramq::ggml_row_bytes(t, cols) * static_cast<std::size_t>(rows));
  ramq::gguf_encode_rows(t, v.data(), rows, cols, out.data());
  return out;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_gguf(const std::string& name, const std::vector<ramq::GgufKV>& kvs,
                const std::vector<std::pair<ramq::GgufTensorSpec, std::int64_t>>& tensors, std::uint32_t alignment = 32) {
  std::vector<ramq::GgufTensorSpec> specs;
  for (const auto& [s, rows] : tensors) specs.push_back(s);
  const fs::path tmp = g_root / ("." + name + ".tmp");
  {
    ramq::GgufStreamWriter w(tmp, kvs, specs, alignment);
    for (const auto& [s, rows] : tensors) w.write_next(s.name, encode(s.type, rows, s.ne[0]));
    w.finish();
  }
  put("gguf", name, slurp(tmp));
  fs::remove(tmp);
}

void gguf_seeds() {
  using ramq::GgmlType;
  const auto cfg = ramq::parse_model_config(
      R"({"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":32,"intermediate_size":64,)"
      R"("num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,"vocab_size":8,"max_position_embeddings":64})",
      "config.json");
  const ramq::ModelFamily& family = ramq::family_for(cfg, "config.json", "GGUF output");
  auto kvs = ramq::llama_gguf_metadata(cfg, family, "seed", 7, 8, "config.json");
  ramq::GgufVocab vocab;
  ramq::append_vocab_kvs(vocab, kvs);
  auto t = [](const std::string& n, GgmlType type, std::vector<std::int64_t> ne) {
    std::int64_t rows = 1;
    for (std::size_t i = 1; i < ne.size(); ++i) rows *= ne[i];
    return std::pair<ramq::GgufTensorSpec, std::int64_t>{{n, type, std::move(ne)}, rows};
  };
  write_gguf("llama_tiny.gguf", kvs,
             {t("token_embd.weight", GgmlType::Q8_0, {32, 8}), t("blk.0.attn_norm.weight", GgmlType::F32, {32}),
              t("blk.0.attn_q.weight", GgmlType::Q4_0, {32, 32}), t("blk.0.attn_k.weight", GgmlType::Q5_1, {32, 16}),
              t("blk.0.attn_v.weight", GgmlType::IQ4_NL, {32, 16}), t("blk.0.attn_output.weight", GgmlType::F16, {32, 32}),
              t("blk.0.ffn_norm.weight", GgmlType::F32, {32}), t("blk.0.ffn_gate.weight", GgmlType::Q8_0, {32, 64}),
              t("blk.0.ffn_up.weight", GgmlType::BF16, {32, 64}), t("blk.0.ffn_down.weight", GgmlType::Q4_1, {64, 32}),
              t("output_norm.weight", GgmlType::F32, {32}), t("output.weight", GgmlType::Q5_0, {32, 8})});
  write_gguf("kquants.gguf", {{"general.architecture", ramq::GgufValue::str("none")},
                               {"general.alignment", ramq::GgufValue::u32(64)},
                               {"x.list", ramq::GgufValue::strings({"a", "bc"})},
                               {"x.f", ramq::GgufValue::f32s({1.5f, -2.0f})}},
             {t("q2", GgmlType::Q2_K, {256}), t("q3", GgmlType::Q3_K, {256}), t("q4", GgmlType::Q4_K, {256}),
              t("q5", GgmlType::Q5_K, {256}), t("q6", GgmlType::Q6_K, {256}), t("e", GgmlType::F32, {0, 3})},
             64);
  write_gguf("empty.gguf", {{"general.architecture", ramq::GgufValue::str("llama")}}, {});
}

void model_card_seeds() {
  put("model_card", "card.md",
      "---\nlicense: apache-2.0\nbase_model:\n- meta-llama/Llama-3.1-8B\n- https://huggingface.co/org/Name-7B-v0.1\n"
      "- name: Custom\n  organization: Acme\ntags: [a, b]\npipeline_tag: text-generation\nlanguage:\n- en\n- no\n"
      "datasets: org/data\nversion: 1.0\ndate: 2024-01-01\nanchor: &x [1, 2]\nalias: *x\n---\n# Title\n");
  put("model_card", "malformed.md", "---\nlicense: [mit\n\tname: 'x\n---\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_corpus CORPUS_DIR\n");
    return 2;
  }
  g_root = argv[1];
  safetensors_seeds();
  config_seeds();
  tokenizer_seeds();
  llama2c_seeds();
  gguf_seeds();
  model_card_seeds();
  return 0;
}
