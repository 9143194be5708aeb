// arch: Phi-3's "longrope" rope scaling (rope_scaling {"type": "longrope" (or "su"),
// "short_factor", "long_factor"}), as transformers' _compute_longrope_parameters reads it and
// llama.cpp's Phi3MiniModel converter writes it (rope_factors_short/long.weight,
// [arch].rope.scaling.attn_factor, [arch].rope.scaling.original_context_length).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ramq/config_fields.h"
#include "ramq/safetensors.h"

namespace ramq {

struct LongRope {
  std::vector<float> short_factor, long_factor;  // head_dim / 2 divisors of the frequencies each
  std::int64_t original_context = 0;             // original_max_position_embeddings
  // cos and sin are multiplied by it: rope_scaling's attention_factor, else
  // sqrt(1 + ln(s) / ln(original)) with s = max_position_embeddings / original (1 when s <= 1).
  double attention_factor = 1.0;

  // The factors in use over windows of ctx positions: long beyond the original context (as
  // transformers decides by sequence length and llama.cpp by its context size), else short.
  const std::vector<float>& factors_for(std::int64_t ctx) const {
    return ctx > original_context ? long_factor : short_factor;
  }
};

// Whether rope scaling type `t` is longrope ("su" is its older name).
bool is_longrope_type(const std::string& t);
// config.json's longrope, nullopt for other rope scaling. original_max_position_embeddings is
// read from the rope object, else the top level. Throws Error naming the field when the factors
// are not head_dim / 2 positive finite numbers each or the original context is missing.
std::optional<LongRope> read_longrope(const ConfigFields& f, const ModelConfig& c);
// original_max_position_embeddings (the rope object's, else the top level's), nullopt if absent.
std::optional<std::int64_t> original_context_length(const ConfigFields& f);

}  // namespace ramq
