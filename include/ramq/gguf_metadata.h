// arch: a family's general.* and [arch].* GGUF metadata, both ways: written from config.json for
// llama.cpp, and read back from a GGUF file into a ModelConfig (the evaluator).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ramq/model_family.h"
#include "ramq/gguf.h"
#include "ramq/safetensors.h"

namespace ramq {

// general.* and [arch].* key/values (without the tokenizer), in a fixed order. n_vocab is the
// embedding row count. Throws Error(config_file, ...) for unsupported rope_scaling settings.
std::vector<GgufKV> llama_gguf_metadata(const ModelConfig& cfg, const ModelFamily& family, const std::string& model_name,
                                        std::uint32_t file_type, std::int64_t n_vocab, const std::string& config_file);

// The inverse, for reading a GGUF file back (the evaluator): a ModelConfig from general.* and
// [arch].* metadata (model_type = the architecture, head_dim = key_length or embedding/heads,
// tie_word_embeddings = no output.weight tensor, vocab_size = [arch].vocab_size, else the
// token list length, else token_embd's rows). raw holds the same fields as config.json would.
// Throws Error(file, "", ...) naming a missing or mistyped key or an unsupported architecture.
ModelConfig model_config_from_gguf(const GgufReader& gguf, const std::string& file);
// config.raw key under which model_config_from_gguf puts the rope_freqs.weight factors (Llama 3
// rope scaling in GGUF): the evaluator divides rotary frequency i by factor i, as llama.cpp does.
inline constexpr const char* kRopeFreqFactorsKey = "ramq_rope_freq_factors";

// Llama 3 rope scaling ("rope_type": "llama3"): the rope_freqs.weight factors (head_dim/2
// floats), or nullopt when config.json asks for none.
std::optional<std::vector<float>> llama3_rope_factors(const ModelConfig& cfg);

}  // namespace ramq
