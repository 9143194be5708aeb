// Malformed-input suite, part 1: hostile safetensors files, index.json, config.json,
// tokenizer files and plan.json through the command line. Each must end with exit 1, one line
// naming the file and the problem, and nothing left behind (support/cli_failure.h). Part 2
// (GGUF) is malformed_gguf_test.cpp; the first cases are in cli_errors_test.cpp.
#include <gtest/gtest.h>

#include <cstdio>
#include <limits>

#include "support/cli_failure.h"
#include "support/safetensors_builder.h"
#include "support/synthetic_llama.h"

namespace fs = std::filesystem;
using ramq::DType;
using namespace ramq::testkit;

namespace {

constexpr const char* kQ = "model.layers.0.self_attn.q_proj.weight";

SafetensorsBuilder weights() {
  std::vector<float> v(32 * 64);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(static_cast<int>(i % 13) - 6) / 32.0f;
  SafetensorsBuilder b;
  b.add(kQ, DType::F32, {32, 64}, v).add("model.norm.weight", DType::F32, {8}, std::vector<float>(8, 1.0f));
  return b;
}

// A model directory whose model.safetensors has this header JSON and data.
std::function<void(const fs::path&)> header(std::string json, std::string data = std::string(64, '\0')) {
  return [json, data](const fs::path& d) {
    write_file(d / "config.json", opaque_config_json());
    write_file(d / "model.safetensors", raw_safetensors(json, data));
  };
}
std::function<void(const fs::path&)> raw_file(std::string bytes) {
  return [bytes](const fs::path& d) {
    write_file(d / "config.json", opaque_config_json());
    write_file(d / "model.safetensors", bytes);
  };
}
// A sharded model: the weights in a.safetensors, and this index.
std::function<void(const fs::path&)> index(std::string json) {
  return [json](const fs::path& d) {
    write_file(d / "config.json", opaque_config_json());
    weights().write(d / "a.safetensors");
    write_file(d / "model.safetensors.index.json", json);
  };
}
std::function<void(const fs::path&)> config(std::string json) {
  return [json](const fs::path& d) {
    write_file(d / "config.json", json);
    weights().write(d / "model.safetensors");
  };
}

// A small Llama checkpoint that can be written as GGUF, with `file` (a tokenizer) beside it.
std::function<void(const fs::path&)> llama_with(std::string file, std::string bytes) {
  return [file, bytes](const fs::path& d) {
    SyntheticLlama s;
    s.hidden = 64, s.heads = 2, s.kv_heads = 1, s.ffn = 128, s.layers = 1, s.vocab = 300;
    write_synthetic_llama(d, s);
    write_file(d / file, bytes);
  };
}
std::vector<std::string> gguf_args(const fs::path& dir, const fs::path& out) {
  return {"quantize", dir.string(), "--format", "gguf", "--policy", "uniform", "-o", out.string()};
}
// The same, naming the tokenizer.json's pre-tokenizer (its made-up vocabulary has a check-text
// hash llama.cpp's converter does not know).
std::vector<std::string> gguf_pre_args(const fs::path& dir, const fs::path& out) {
  auto a = gguf_args(dir, out);
  a.insert(a.end(), {"--gguf-pre", "gpt-2"});
  return a;
}
std::vector<std::string> eval_text_args(const fs::path& dir, const fs::path&) {
  write_file(dir.parent_path() / "t.txt", "Once upon a time");
  return {"eval", dir.string(), "--text", (dir.parent_path() / "t.txt").string()};
}

std::string entry(const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return R"({"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" + offsets + "}";
}
const std::string kCfg = R"("architectures":["LlamaForCausalLM"],"model_type":"llama",)";

// A byte-level BPE tokenizer.json whose first vocabulary entry (the byte '!') is replaced by
// `first` and which has these added_tokens.
std::string tokenizer_json(const std::string& first, const std::string& added = "[]") {
  std::string vocab = first;
  for (int b = 0x22; b <= 0x7e; ++b) {
    const char c = static_cast<char>(b);
    vocab += ",\"" + std::string(c == '"' || c == '\\' ? "\\" : "") + c + "\":" + std::to_string(b - 0x21);
  }
  return R"({"model":{"type":"BPE","vocab":{)" + vocab + R"(},"merges":[]},"added_tokens":)" + added +
         R"(,"pre_tokenizer":{"type":"ByteLevel","use_regex":false},"decoder":{"type":"ByteLevel"}})";
}

// A whole llama2.c tokenizer (int32 max_token_length, then for each token float32 score, int32
// length and the bytes): <unk>, <s>, </s>, the 256 byte pieces, and " " for eval's dummy prefix.
std::string llama2c_tokenizer() {
  std::vector<std::string> pieces = {"<unk>", "<s>", "</s>"};
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    pieces.emplace_back(hex);
  }
  pieces.emplace_back(" ");
  const auto i32 = [](std::int32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
  std::string f = i32(8);
  for (const auto& p : pieces) f += std::string("\x00\x00\x80\x3f", 4) + i32(static_cast<std::int32_t>(p.size())) + p;  // score 1
  return f;
}
// The same, cut inside the first token's length field.
std::string llama2c_truncated() { return llama2c_tokenizer().substr(0, 10); }

}  // namespace

TEST(MalformedInputs, SafetensorsIndexConfigAndTokenizers) {
  const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  const std::vector<BadInput> cases = {
      // safetensors
      {"empty file", raw_file(""), {"$DIR/model.safetensors", "too short"}},
      {"seven bytes", raw_file("\x10\0\0\0\0\0\0"), {"$DIR/model.safetensors", "too short"}},
      {"header length 0", raw_file(std::string(16, '\0')), {"$DIR/model.safetensors", "header length is 0"}},
      {"header is an array", header("[1,2]"), {"$DIR/model.safetensors", "not a JSON object"}},
      {"tensor name not UTF-8", header("{\"a\xff\":" + entry("F32", "[1]", "[0,4]") + "}"), {"$DIR/model.safetensors", "UTF-8"}},
      {"NUL in the header", header(std::string("{\"a\":1}\0  ", 10)), {"$DIR/model.safetensors", "NUL"}},
      {"control character in a name", header("{\"a\\u0001b\":" + entry("F32", "[1]", "[0,4]") + "}"),
       {"$DIR/model.safetensors", "control character"}},
      {"begin after end", header(R"({"a":)" + entry("F32", "[1]", "[8,4]") + "}"), {"$DIR/model.safetensors", "tensor 'a'", "begin"}},
      {"offsets near 2^64", header(R"({"a":)" + entry("F32", "[1]", "[0," + std::to_string(max) + "]") + "}"),
       {"$DIR/model.safetensors", "tensor 'a'", "beyond the data area"}},
      {"negative dimension", header(R"({"a":)" + entry("F32", "[-4]", "[0,16]") + "}"), {"$DIR/model.safetensors", "tensor 'a'", "non-negative"}},
      {"zero dimension hiding an overflow", header(R"({"a":)" + entry("F32", "[0,4611686018427387904,4611686018427387904]", "[0,0]") + "}"),
       {"$DIR/model.safetensors", "tensor 'a'", "overflow"}},
      {"dtype field twice", header(R"({"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})"),
       {"$DIR/model.safetensors", "duplicate key 'dtype'"}},
      {"metadata value not a string", header(R"({"__metadata__":{"format":1}})"), {"$DIR/model.safetensors", "__metadata__"}},
      {"data_offsets not an array", header(R"({"a":)" + entry("F32", "[1]", "\"0-4\"") + "}"), {"$DIR/model.safetensors", "tensor 'a'", "data_offsets"}},
      {"empty weight tensor", header("{\"" + std::string(kQ) + "\":" + entry("F32", "[0,64]", "[0,0]") + "}"),
       {"$DIR/model.safetensors", kQ, "no elements"}},
      {"integer weight", header("{\"" + std::string(kQ) + "\":" + entry("I32", "[32,64]", "[0,8192]") + "}", std::string(8192, '\0')),
       {"$DIR/model.safetensors", kQ, "I32"}},
      // model.safetensors.index.json
      {"index is not JSON", index("{\"weight_map\":"), {"$DIR/model.safetensors.index.json", "not valid JSON"}},
      {"index without weight_map", index(R"({"metadata":{}})"), {"$DIR/model.safetensors.index.json", "weight_map"}},
      {"absolute shard path", index(R"({"weight_map":{"model.norm.weight":"/etc/passwd"}})"),
       {"$DIR/model.safetensors.index.json", "absolute path"}},
      {"missing shard", index(R"({"weight_map":{"model.norm.weight":"b.safetensors"}})"), {"$DIR/b.safetensors", "does not exist"}},
      {"tensor not in its shard",
       index("{\"weight_map\":{\"" + std::string(kQ) + R"(":"a.safetensors","model.norm.weight":"a.safetensors","ghost":"a.safetensors"}})"),
       {"$DIR/a.safetensors", "'ghost'", "not found in this shard"}},
      {"tensor listed twice", index(R"({"weight_map":{"model.norm.weight":"a.safetensors","model.norm.weight":"a.safetensors"}})"),
       {"$DIR/model.safetensors.index.json", "more than once"}},
      {"shard name with NUL", index(R"({"weight_map":{"model.norm.weight":"a\u0000.safetensors"}})"),
       {"$DIR/model.safetensors.index.json", "NUL"}},
      // config.json
      {"config is not JSON", config("{\"architectures\": [}"), {"$DIR/config.json", "not valid JSON"}},
      {"config is an array", config("[]"), {"$DIR/config.json", "not a JSON object"}},
      {"hidden_size near 2^64",
       config("{" + kCfg + R"("hidden_size":18446744073709551615,"intermediate_size":16,"num_hidden_layers":1,)"
                           R"("num_attention_heads":2,"vocab_size":16,"max_position_embeddings":32})"),
       {"$DIR/config.json", "hidden_size"}},
      {"kv heads do not divide heads",
       config("{" + kCfg + R"("hidden_size":8,"intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2,)"
                           R"("num_key_value_heads":3,"vocab_size":16,"max_position_embeddings":32})"),
       {"$DIR/config.json", "num_key_value_heads"}},
      {"rms_norm_eps zero",
       config("{" + kCfg + R"("hidden_size":8,"intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2,)"
                           R"("vocab_size":16,"max_position_embeddings":32,"rms_norm_eps":0})"),
       {"$DIR/config.json", "rms_norm_eps"}},
      // tokenizers, as the GGUF writer and `eval --text` read them
      {"tokenizer.json not JSON", llama_with("tokenizer.json", "{\"model\":"), {"$DIR/tokenizer.json", "not valid JSON"}, gguf_args},
      {"tokenizer.json negative id", llama_with("tokenizer.json", tokenizer_json("\"!\":-5")), {"$DIR/tokenizer.json", "id"}, gguf_args},
      {"tokenizer.json id used twice", llama_with("tokenizer.json", tokenizer_json("\"!\":1")), {"$DIR/tokenizer.json", "twice"}, gguf_args},
      {"tokenizer.json whose pre-tokenizer cannot be identified",
       llama_with("tokenizer.json", tokenizer_json("\"!\":0")), {"$DIR/tokenizer.json", "--gguf-pre"}, gguf_args},
      {"tekken.json without a pattern", llama_with("tekken.json", R"({"config":{"version":"v7"},"vocab":[]})"),
       {"$DIR/tekken.json", "'config' has no 'pattern'"}, gguf_args},
      {"tekken.json with a bad rank for eval --text",
       llama_with("tekken.json", R"({"config":{"pattern":"\\s+","version":"v7","default_vocab_size":3,)"
                                 R"("default_num_special_tokens":1},"special_tokens":[],"vocab":[{"rank":1,"token_bytes":"AA=="},)"
                                 R"({"rank":1,"token_bytes":"AQ=="}]})"),
       {"$DIR/tekken.json", "vocab entry 0 has rank 1, not 0"}, eval_text_args},
      {"tokenizer.json id near 2^64", llama_with("tokenizer.json", tokenizer_json("\"!\":18446744073709551615")),
       {"$DIR/tokenizer.json", "id"}, gguf_args},
      {"tokenizer.json special not a boolean",
       llama_with("tokenizer.json", tokenizer_json("\"!\":0", R"([{"id":94,"content":"<s>","special":"yes"}])")),
       {"$DIR/tokenizer.json", "special"}, gguf_args},
      {"tokenizer.json of an unsupported kind for eval --text",
       llama_with("tokenizer.json", R"({"model":{"type":"WordPiece","vocab":{}}})"), {"$DIR/tokenizer.json", "WordPiece"},
       eval_text_args},
      {"llama2.c tokenizer truncated", llama_with("tok512.bin", llama2c_truncated()), {"$DIR/tok512.bin", "truncated"}, gguf_args},
      {"llama2.c tokenizer truncated for eval --text", llama_with("tok512.bin", llama2c_truncated()),
       {"$DIR/tok512.bin", "truncated"}, eval_text_args},
  };
  for (const auto& c : cases) expect_clean_failure(c);
  // The inputs the cases break, whole, pass the same commands: each case fails for its one
  // malformation, not for the fixture or the command line around it (several cases only ask for
  // a file name or a short word in the error line).
  const std::vector<BadInput> whole = {
      {"safetensors file and config.json", [](const fs::path& d) { write_model(d, weights(), opaque_config_json()); }, {}},
      {"index", index("{\"weight_map\":{\"" + std::string(kQ) + R"(":"a.safetensors","model.norm.weight":"a.safetensors"}})"), {}},
      {"tokenizer.json for GGUF", llama_with("tokenizer.json", tokenizer_json("\"!\":0", R"([{"id":94,"content":"<s>","special":true}])")),
       {}, gguf_pre_args},
      {"llama2.c tokenizer for GGUF", llama_with("tok512.bin", llama2c_tokenizer()), {}, gguf_args},
      {"llama2.c tokenizer for eval --text", llama_with("tok512.bin", llama2c_tokenizer()), {}, eval_text_args},
  };
  for (const auto& c : whole) {
    TempDir tmp("cli-whole");
    fs::create_directories(tmp / "input");
    c.make(tmp / "input");
    const auto r = run_ramq(c.args ? c.args(tmp / "input", tmp / "out") : quantize_args(tmp / "input", tmp / "out"));
    EXPECT_EQ(r.status, 0) << c.label << ": " << r.err;
  }
}

TEST(MalformedInputs, PlanFiles) {
  const auto with_plan = [](std::string plan) {
    return [plan](const fs::path& dir, const fs::path& out) {
      write_file(dir.parent_path() / "plan.json", plan);
      return std::vector<std::string>{"quantize", dir.string(), "--plan", (dir.parent_path() / "plan.json").string(), "-o", out.string()};
    };
  };
  const auto model = [](const fs::path& d) { write_model(d, weights(), opaque_config_json()); };
  const std::string head = R"({"kind":"ramq-plan","policy":"swan","tensors":[)";
  const std::string norm = R"({"name":"model.norm.weight","shape":[8],"numel":8,"bits":16,"group":0,"bytes":16})";
  const std::string q = std::string(R"({"name":")") + kQ + R"(","shape":[32,64],"numel":2048,"bits":4,"group":32,"bytes":0})";
  const std::vector<BadInput> cases = {
      {"plan is not JSON", model, {"plan.json", "not valid JSON"}, with_plan("{\"kind\":")},
      {"plan names a missing tensor", model, {"plan.json", "'ghost.weight'"},
       with_plan(head + norm + "," + q + R"(,{"name":"ghost.weight","shape":[4,32],"numel":128,"bits":4,"group":32,"bytes":0}]})")},
      {"plan misses a tensor", model, {"plan.json", "model.norm.weight", "no decision"}, with_plan(head + q + "]}")},
      {"plan with 7 bits", model, {"plan.json", "bits 7"},
       with_plan(head + norm + std::string(R"(,{"name":")") + kQ + R"(","shape":[32,64],"numel":2048,"bits":7,"group":32,"bytes":0}]})")},
      {"plan shape differs", model, {"plan.json", kQ, "shape"},
       with_plan(head + norm + std::string(R"(,{"name":")") + kQ + R"(","shape":[64,32],"numel":2048,"bits":4,"group":32,"bytes":0}]})")},
      {"plan lists a tensor twice", model, {"plan.json", "twice"}, with_plan(head + norm + "," + q + "," + q + "]}")},
      {"plan shape overflows", model, {"plan.json", "overflow"},
       with_plan(head + norm + std::string(R"(,{"name":")") + kQ +
                 R"(","shape":[4294967296,4294967296],"numel":0,"bits":4,"group":32,"bytes":0}]})")},
      {"plan for the other format", model, {"plan.json", "gguf"},
       with_plan(R"({"kind":"ramq-plan","format":"gguf","policy":"swan","tensors":[]})")},
  };
  for (const auto& c : cases) expect_clean_failure(c);
}
