// config.json pieces of the MLX writer: the "quantization" block and the files copied as-is.
#include <map>
#include <string>
#include <utility>

#include "ramq/module_weight.h"
#include "ramq/error.h"
#include "ramq/mlx_writer.h"

namespace ramq {

namespace {
bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

std::int64_t decision_params(const TensorDecision& d) {
  if (d.numel > 0 || d.shape.empty()) return d.numel;
  std::int64_t n = 1;
  for (const auto v : d.shape) n *= v;
  return n;
}
}  // namespace

nlohmann::json mlx_quantization_config(const Plan& plan, MlxPathFn mlx_path) {
  // A tensor whose mlx path is "" is left out of the output (mlx_lm's sanitize drops it).
  const auto dropped = [&](const TensorDecision& d) { return mlx_path != nullptr && mlx_path(d.name).empty(); };
  std::map<std::pair<int, int>, std::int64_t> params;  // (bits, group) -> parameters, ascending keys
  for (const auto& d : plan.tensors) {
    if (!d.quantized() || dropped(d)) continue;
    if (!is_module_weight(d.name)) throw Error("", d.name, "a quantized tensor's name must end in '.weight'");
    params[{d.bits(), d.encoding.group()}] += decision_params(d);
  }
  if (params.empty()) return nullptr;
  // Most parameters wins; ascending key order with a strict comparison keeps the smaller
  // (bits, group) on ties.
  auto best = params.begin();
  for (auto it = params.begin(); it != params.end(); ++it)
    if (it->second > best->second) best = it;
  const int bits = best->first.first;
  const int group = best->first.second;

  nlohmann::json q = nlohmann::json::object();
  q["group_size"] = group;
  q["bits"] = bits;
  for (const auto& d : plan.tensors) {
    if (!d.quantized() || dropped(d) || (d.bits() == bits && d.encoding.group() == group)) continue;
    const std::string path = mlx_path != nullptr ? mlx_path(d.name) : d.name;
    if (!path.ends_with(".weight"))
      throw Error("", d.name, "its mlx_lm path '" + path + "' does not end in '.weight'");
    const std::string module = path.substr(0, path.size() - 7);
    const nlohmann::json entry = {{"group_size", d.encoding.group()}, {"bits", d.bits()}};
    if (q.contains(module) && q[module] != entry)
      throw Error("", d.name,
                  "the routed experts of mlx_lm module '" + module + "' have different encodings; mlx_lm needs one");
    q[module] = entry;
  }
  return q;
}

bool is_mlx_passthrough_file(const std::string& n) {
  static const char* const kNames[] = {
      "tokenizer.json",          "tokenizer_config.json", "tokenizer.model",   "special_tokens_map.json",
      "generation_config.json",  "vocab.json",            "merges.txt",        "added_tokens.json",
      "chat_template.jinja",     "chat_template.json",    "tekken.json",  // Mistral's tokenizer
  };
  for (const char* k : kNames)
    if (n == k) return true;
  if (starts_with(n, "tok") && n.ends_with(".bin")) return true;  // llama2.c tokenizers (tok512.bin)
  if (n.ends_with(".tiktoken") && n.size() > 9) return true;
  return false;
}

}  // namespace ramq
