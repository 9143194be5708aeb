// arch: config.json's Gemma 3 fields (ModelFamily::gemma), read and checked in one place for the
// GGUF metadata and the evaluator, and read back from a GGUF file's gemma3.* keys
// (src/arch/gemma3_config.cpp). Facts: transformers' Gemma3TextConfig (defaults), llama.cpp's
// conversion/gemma.py Gemma3Model.set_gguf_parameters and src/models/gemma3.cpp
// load_arch_hparams.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ramq/config_fields.h"
#include "ramq/gguf.h"
#include "ramq/safetensors.h"

namespace ramq {

struct Gemma3Fields {
  // Per layer: true for a sliding-window ("local") layer. layer_types ("sliding_attention" /
  // "full_attention") when given, else layer i slides iff (i + 1) % sliding_window_pattern != 0
  // (default 6: five local layers, then a global one).
  std::vector<bool> sliding_layer;
  // The period p of that pattern (layer i global iff (i + 1) % p == 0), 0 when layer_types
  // follows no such period; llama.cpp's loader assumes 6 unless the GGUF says otherwise.
  std::int64_t pattern = 6;
  std::int64_t sliding_window = 4096;       // tokens a local layer attends to, itself included
  double rope_local_base = 10000.0;         // rope_local_base_freq: local layers, no scaling
  double query_pre_attn_scalar = 256.0;     // attention scale query_pre_attn_scalar^-0.5
  std::optional<double> final_logit_softcapping;  // logits = cap * tanh(logits / cap)
};

// Throws Error(f.file(), "", "field '...' ...") for values Gemma 3 does not have
// (attn_logit_softcapping other than null, a layer_types entry of another kind or count).
Gemma3Fields read_gemma3_fields(const ConfigFields& f, const ModelConfig& c);

// The gemma3.* keys llama.cpp's converter writes beyond the common decoder keys:
// attention.sliding_window, rope.freq_base_swa, final_logit_softcapping, and
// attention.sliding_window_pattern when the layers do not follow llama.cpp's default period 6.
// Refuses what llama.cpp's gemma3 graph would compute differently: a query_pre_attn_scalar other
// than its fixed scale (head_dim; hidden_size / num_attention_heads for 62 layers), layer kinds of
// no period.
void append_gemma3_gguf_metadata(const ModelConfig& cfg, const std::string& config_file, std::vector<GgufKV>& kvs);

// The Gemma 3 config.json fields of a GGUF file written for llama.cpp's gemma3 architecture,
// into c.raw, as llama.cpp's loader reads them (defaults: pattern 6, freq_base_swa 10000).
void read_gemma3_gguf_fields(const GgufReader& gguf, const std::string& a,
                             const std::function<std::int64_t(const std::string&)>& uint, ModelConfig& c);

}  // namespace ramq
