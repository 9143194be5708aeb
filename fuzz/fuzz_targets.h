// Fuzzing entry points: one function per parser of untrusted input. Each takes the raw bytes of
// one input, runs them through ramq's real loading code (writing them to a scratch file where the
// API takes a path) and checks the invariants the parser promises. Bad input must end in a
// ramq::Error; anything else (another exception, a crash, a sanitizer report, a broken invariant,
// which aborts) is a bug. The libFuzzer targets (fuzz_main.cpp) and the regression test
// (tests/fuzz/corpus_replay_test.cpp) call the same functions.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace ramq::fuzz {

using Bytes = std::span<const std::uint8_t>;

struct Target {
  std::string_view name;  // also the folder name under fuzz/corpus and fuzz/regressions
  void (*run)(Bytes input);
};

// Every target, in a fixed order.
std::span<const Target> targets();
// nullptr if unknown.
const Target* find_target(std::string_view name);

// The targets.
void safetensors_header(Bytes input);  // parse_safetensors_header on the bytes of a .safetensors file
void safetensors_index(Bytes input);   // ModelReader with the input as model.safetensors.index.json
void model_config(Bytes input);        // parse_model_config + the GGUF and evaluator config readers
void gguf(Bytes input);                // GgufReader, model_config_from_gguf, the evaluator's GGUF weights
void tokenizer_json(Bytes input);      // load_hf_tokenizer_json (+ encode/decode) and vocab_from_tokenizer_json
void llama2c_tokenizer(Bytes input);   // load_llama2c_tokenizer (+ encode/decode) and vocab_from_llama2c

}  // namespace ramq::fuzz
