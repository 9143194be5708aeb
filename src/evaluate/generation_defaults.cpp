// evaluate stage: a model's generation defaults, end-of-sequence ids, special-token texts and
// chat template, from a model directory or a GGUF file (include/ramq/generate.h).
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "evaluate/weights.h"
#include "ramq/chat_template.h"
#include "ramq/error.h"
#include "ramq/generate.h"
#include "ramq/gguf.h"
#include "ramq/json_io.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ramq {

namespace {

void add_stop_id(const json& v, const std::string& file, GenerationDefaults& out) {
  if (!v.is_number_unsigned() || v.get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max())
    throw Error(file, "", "'eos_token_id' must be a token id or a list of them, not " + v.dump());
  out.stop_ids.push_back(static_cast<std::uint32_t>(v.get<std::uint64_t>()));
}

// eos_token_id: a number, a list of numbers, or null.
void add_stop_ids(const json& doc, const std::string& file, GenerationDefaults& out) {
  const auto it = doc.find("eos_token_id");
  if (it == doc.end() || it->is_null()) return;
  if (it->is_array()) {
    for (const json& v : *it) add_stop_id(v, file, out);
  } else {
    add_stop_id(*it, file, out);
  }
}

json read_object_if_present(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return json::object();
  json doc = read_json_file(file);
  if (!doc.is_object()) throw Error(file.string(), "", "must hold a JSON object");
  return doc;
}

// generation_config.json's temperature and top_k (absent or null: no default).
void read_sampling(const json& doc, const std::string& file, GenerationDefaults& out) {
  if (const auto t = doc.find("temperature"); t != doc.end() && !t->is_null()) {
    if (!t->is_number() || !std::isfinite(t->get<double>()) || t->get<double>() < 0)
      throw Error(file, "", "'temperature' must be a number >= 0, not " + t->dump());
    out.temperature = t->get<double>();
  }
  if (const auto k = doc.find("top_k"); k != doc.end() && !k->is_null()) {
    if (!k->is_number_integer() || k->get<std::int64_t>() < 0 || k->get<std::int64_t>() > (1 << 30))
      throw Error(file, "", "'top_k' must be a whole number >= 0, not " + k->dump());
    out.top_k = static_cast<int>(k->get<std::int64_t>());
  }
}

// tokenizer_config.json's bos_token / eos_token: a string or {"content": string}.
std::string special_token_text(const json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) return (*it)["content"].get<std::string>();
  return "";
}

GenerationDefaults directory_defaults(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw Error(dir.string(), "", "does not exist");
  if (!fs::is_directory(dir, ec)) throw Error(dir.string(), "", "is neither a model directory nor a .gguf file");
  GenerationDefaults out;
  const fs::path generation = dir / "generation_config.json", config = dir / "config.json";
  const json gen = read_object_if_present(generation);
  add_stop_ids(gen, generation.string(), out);
  read_sampling(gen, generation.string(), out);
  add_stop_ids(read_object_if_present(config), config.string(), out);
  const json tok = read_object_if_present(dir / "tokenizer_config.json");
  out.bos_token = special_token_text(tok, "bos_token");
  out.eos_token = special_token_text(tok, "eos_token");
  out.chat_template = read_chat_templates(dir).main;
  out.chat_template_file = (dir / "tokenizer_config.json").string();
  return out;
}

std::optional<std::uint64_t> gguf_integer(const GgufReader& r, const char* key) {
  const GgufValue* v = r.find(key);
  if (v == nullptr) return std::nullopt;
  if (const auto* u = std::get_if<std::uint64_t>(&v->v)) return *u;
  if (const auto* i = std::get_if<std::int64_t>(&v->v); i && *i >= 0) return static_cast<std::uint64_t>(*i);
  return std::nullopt;
}

std::string gguf_token_text(const GgufReader& r, std::optional<std::uint64_t> id) {
  const GgufValue* tokens = r.find("tokenizer.ggml.tokens");
  if (!id || tokens == nullptr) return "";
  const auto* list = std::get_if<std::shared_ptr<GgufArray>>(&tokens->v);
  if (list == nullptr || !*list || *id >= (*list)->items.size()) return "";
  const auto* text = std::get_if<std::string>(&(*list)->items[*id].v);
  return text ? *text : "";
}

GenerationDefaults gguf_defaults(const fs::path& file) {
  GenerationDefaults out;
  const GgufReader r(file);
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"})
    if (const auto id = gguf_integer(r, key); id && *id <= std::numeric_limits<std::uint32_t>::max())
      out.stop_ids.push_back(static_cast<std::uint32_t>(*id));
  if (const GgufValue* t = r.find("general.sampling.temp"))
    if (const auto* d = std::get_if<double>(&t->v); d && std::isfinite(*d) && *d >= 0) out.temperature = *d;
  if (const auto k = gguf_integer(r, "general.sampling.top_k"); k && *k <= (1u << 30)) out.top_k = static_cast<int>(*k);
  out.bos_token = gguf_token_text(r, gguf_integer(r, "tokenizer.ggml.bos_token_id"));
  out.eos_token = gguf_token_text(r, gguf_integer(r, "tokenizer.ggml.eos_token_id"));
  if (const GgufValue* t = r.find("tokenizer.chat_template"))
    if (const auto* s = std::get_if<std::string>(&t->v)) out.chat_template = *s;
  out.chat_template_file = file.string();
  return out;
}

}  // namespace

GenerationDefaults read_generation_defaults(const fs::path& model) {
  GenerationDefaults out = eval::is_gguf_path(model) ? gguf_defaults(model) : directory_defaults(model);
  std::sort(out.stop_ids.begin(), out.stop_ids.end());
  out.stop_ids.erase(std::unique(out.stop_ids.begin(), out.stop_ids.end()), out.stop_ids.end());
  return out;
}

}  // namespace ramq
