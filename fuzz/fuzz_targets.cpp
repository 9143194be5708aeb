// The fuzzing entry points (see fuzz_targets.h). Invariant violations print one line and abort,
// so that libFuzzer and the regression test both report them as failures.
#include "fuzz_targets.h"

#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "ramq/gguf_metadata.h"
#include "ramq/model_family.h"
#include "evaluate/llama_forward.h"
#include "evaluate/weights.h"
#include "ramq/error.h"
#include "ramq/gguf.h"
#include "ramq/safetensors.h"
#include "ramq/tokenizer.h"
#include "write/gguf_model_card.h"
#include "write/gguf_naming.h"
#include "write/gguf_vocab.h"

namespace fs = std::filesystem;

namespace ramq::fuzz {

namespace {

[[noreturn]] void broken(const std::string& what) {
  std::fprintf(stderr, "ramq fuzz: invariant broken: %s\n", what.c_str());
  std::abort();
}

std::string_view as_text(Bytes b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// A scratch directory for this process (in /dev/shm when there is one: no disk traffic), removed
// at exit.
const fs::path& scratch_dir() {
  static const fs::path dir = [] {
    std::error_code ec;
    fs::path base = fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0 ? fs::path("/dev/shm")
                                                                                       : fs::temp_directory_path();
    fs::path d = base / ("ramq-fuzz-" + std::to_string(::getpid()));
    fs::remove_all(d, ec);
    fs::create_directories(d);
    std::atexit([] {
      std::error_code ec2;
      fs::remove_all(scratch_dir(), ec2);
    });
    return d;
  }();
  return dir;
}

void write_bytes(const fs::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) broken("cannot write scratch file " + p.string());
}

std::string le_u64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xffu);
  return s;
}

// A tiny but valid safetensors file: header JSON + data bytes (the caller makes them agree).
std::string safetensors_file(const std::string& header, const std::string& data) {
  return le_u64(header.size()) + header + data;
}

// What every successfully parsed safetensors header promises (include/ramq/safetensors.h).
void check_header_invariants(const SafetensorsHeader& h, std::uint64_t file_size) {
  std::uint64_t prev_end = 0;
  for (const auto& t : h.tensors) {
    if (t.offset > file_size || t.nbytes > file_size - t.offset) broken("tensor '" + t.name + "' lies outside the file");
    std::uint64_t n = 1;
    for (const auto d : t.shape) {
      if (d < 0) broken("negative dimension in '" + t.name + "'");
      n *= static_cast<std::uint64_t>(d);
    }
    if (n * dtype_size(t.dtype) != t.nbytes) broken("byte size of '" + t.name + "' does not match its shape");
    if (t.nbytes > 0 && t.offset < prev_end) broken("tensor '" + t.name + "' overlaps an earlier tensor");
    if (t.nbytes > 0) prev_end = t.offset + t.nbytes;
  }
}

void use_tokenizer(const Tokenizer& tok) {
  static const std::string_view kSamples[] = {"", "Hello world! 123", " <s>\n\t\xc3\xa9\xe2\x96\x81 x", "\xff\xfe ab"};
  for (const auto text : kSamples) {
    for (const bool bos : {false, true}) {
      const auto ids = tok.encode(text, bos);
      (void)tok.decode(ids);
    }
  }
  (void)tok.bos_id();
}

}  // namespace

void safetensors_header(Bytes input) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(input.data()), input.size());
  const SafetensorsHeader h = parse_safetensors_header(bytes, "fuzz.safetensors");
  check_header_invariants(h, input.size());
  for (const auto& t : h.tensors) {
    if (!is_float_weight_dtype(t.dtype) || t.nbytes > (1u << 20)) continue;
    std::vector<float> out(t.nbytes / dtype_size(t.dtype));
    convert_to_f32(t.dtype, bytes.subspan(static_cast<std::size_t>(t.offset), static_cast<std::size_t>(t.nbytes)), out);
  }
}

void safetensors_index(Bytes input) {
  // A fixed model directory with two valid shards; only the index changes between inputs.
  static const fs::path dir = [] {
    const fs::path d = scratch_dir() / "model";
    fs::create_directories(d);
    write_bytes(d / "config.json",
                R"({"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":4,"intermediate_size":8,)"
                R"("num_hidden_layers":1,"num_attention_heads":2,"vocab_size":8,"max_position_embeddings":16})");
    write_bytes(d / "model-00001-of-00002.safetensors",
                safetensors_file(R"({"a.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                                 R"("b.weight":{"dtype":"F16","shape":[2],"data_offsets":[16,20]}})",
                                 std::string(20, '\x01')));
    write_bytes(d / "model-00002-of-00002.safetensors",
                safetensors_file(R"({"c.weight":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]},)"
                                 R"("__metadata__":{"format":"pt"}})",
                                 std::string(8, '\x02')));
    return d;
  }();
  write_bytes(dir / "model.safetensors.index.json", as_text(input));
  const ModelReader model(dir);
  (void)model.input_files();
  for (const auto& t : model.tensors()) {
    if (model.find(t.name) != &t) broken("find() does not return tensor '" + t.name + "'");
    const auto v = model.load_f32(t);
    if (static_cast<std::int64_t>(v.size()) != t.numel()) broken("load_f32 size of '" + t.name + "'");
  }
}

void model_config(Bytes input) {
  const ModelConfig c = parse_model_config(std::string(as_text(input)), "config.json");
  if (c.hidden_size <= 0 || c.num_attention_heads <= 0 || c.num_key_value_heads <= 0 || c.head_dim <= 0 ||
      c.vocab_size <= 0 || c.num_hidden_layers <= 0)
    broken("parse_model_config accepted a non-positive size");
  // Each later reader of the same config may refuse it, but only with a ramq::Error.
  const auto guarded = [](auto&& fn) {
    try {
      fn();
    } catch (const Error&) {
    }
  };
  guarded([&] { (void)eval::llama_spec(c, "config.json", 256); });
  guarded([&] {
    const ModelFamily& family = family_for(c, "config.json", "GGUF output");
    (void)llama_gguf_metadata(c, family, "fuzz", 15, c.vocab_size, "config.json");
    (void)llama3_rope_factors(c);
  });
}

void gguf(Bytes input) {
  const fs::path file = scratch_dir() / "fuzz.gguf";
  write_bytes(file, as_text(input));
  {
    const GgufReader reader(file);
    for (const auto& t : reader.tensors()) {
      const auto data = reader.data(t);
      if (data.size() != t.nbytes || t.offset + t.nbytes > input.size()) broken("tensor '" + t.name + "' outside the file");
      if (t.nbytes <= (1u << 16)) (void)reader.load_f32(t);
    }
    try {
      (void)model_config_from_gguf(reader, file.string());
    } catch (const Error&) {
    }
  }
  // The evaluator's view of the file (what `ramq eval FILE.gguf` loads).
  const auto weights = eval::open_gguf_weights(file);
  (void)eval::llama_spec(weights->config(), weights->config_file(), 256);
}

void tokenizer_json(Bytes input) {
  const fs::path file = scratch_dir() / "tokenizer.json";
  write_bytes(file, as_text(input));
  std::string why;
  try {
    (void)vocab_from_tokenizer_json(file, &why);
  } catch (const Error&) {
  }
  const auto tok = load_hf_tokenizer_json(file);
  use_tokenizer(*tok);
}

void llama2c_tokenizer(Bytes input) {
  const fs::path file = scratch_dir() / "tok.bin";
  write_bytes(file, as_text(input));
  try {
    (void)vocab_from_llama2c(file);
  } catch (const Error&) {
  }
  const auto tok = load_llama2c_tokenizer(file);
  use_tokenizer(*tok);
}

// A README.md: its front matter and the GGUF naming keys from it never throw (a bad card is a note).
void model_card(Bytes input) {
  const ModelCard card = parse_model_card(std::string(as_text(input)));
  if (!card.fields.is_object()) broken("model card fields are not an object");
  (void)gguf_naming({"Fuzz-7B-Instruct-v0.1", nlohmann::json::object(), card.fields, {7000000000, 7000000000, 0, 0}, ""});
}

std::span<const Target> targets() {
  static constexpr std::array<Target, 7> kTargets = {{
      {"safetensors_header", &safetensors_header},
      {"safetensors_index", &safetensors_index},
      {"model_config", &model_config},
      {"gguf", &gguf},
      {"tokenizer_json", &tokenizer_json},
      {"llama2c_tokenizer", &llama2c_tokenizer},
      {"model_card", &model_card},
  }};
  return kTargets;
}

const Target* find_target(std::string_view name) {
  for (const auto& t : targets())
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace ramq::fuzz
