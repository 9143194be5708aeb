// Phi-3's longrope rope scaling (ramq/longrope.h).
#include "ramq/longrope.h"

#include <cmath>

#include "ramq/family_config.h"

namespace ramq {

namespace {

using json = nlohmann::json;

std::vector<float> factor_list(const ConfigFields& f, const RopeScaling& rope, const char* key, std::int64_t n) {
  const std::string field = rope.field + "." + key;
  const auto it = rope.object->find(key);
  if (it == rope.object->end() || !it->is_array())
    f.fail(field, "must be a list of head_dim / 2 = " + std::to_string(n) + " numbers (rope type '" + rope.type + "')");
  if (static_cast<std::int64_t>(it->size()) != n)
    f.fail(field, "holds " + std::to_string(it->size()) + " numbers, not head_dim / 2 = " + std::to_string(n));
  std::vector<float> out;
  for (const json& v : *it) {
    if (!v.is_number() || !(v.get<double>() > 0) || !std::isfinite(v.get<double>()))
      f.fail(field, "holds a value that is not a positive finite number");
    out.push_back(v.get<float>());
  }
  return out;
}

}  // namespace

bool is_longrope_type(const std::string& t) { return t == "longrope" || t == "su"; }

std::optional<std::int64_t> original_context_length(const ConfigFields& f) {
  if (const auto rope = read_rope(f))
    if (const auto v = rope->integer("original_max_position_embeddings")) return *v;
  if (const json* j = f.find("original_max_position_embeddings"); j != nullptr && j->is_number_integer())
    return j->get<std::int64_t>();
  return std::nullopt;
}

std::optional<LongRope> read_longrope(const ConfigFields& f, const ModelConfig& c) {
  const auto rope = read_rope(f);
  if (!rope || !is_longrope_type(rope->type)) return std::nullopt;
  LongRope r;
  const std::int64_t n = c.head_dim / 2;
  r.short_factor = factor_list(f, *rope, "short_factor", n);
  r.long_factor = factor_list(f, *rope, "long_factor", n);
  const auto orig = original_context_length(f);
  if (!orig || *orig <= 0)
    f.fail("original_max_position_embeddings", "must be a positive integer (needed by rope type '" + rope->type + "')");
  r.original_context = *orig;
  if (const auto af = rope->number(f, "attention_factor")) {
    r.attention_factor = *af;
  } else {
    const double scale = static_cast<double>(c.max_position_embeddings) / static_cast<double>(r.original_context);
    if (scale > 1.0)
      r.attention_factor = std::sqrt(1.0 + std::log(scale) / std::log(static_cast<double>(r.original_context)));
  }
  return r;
}

}  // namespace ramq
