// `ramq inspect`: safetensors files and model directories (Hugging Face or ramq MLX) and GGUF
// files, through the same validating readers the pipeline uses.
#include "ramq/inspect.h"

#include <algorithm>
#include <map>

#include "ramq/error.h"
#include "ramq/gguf.h"
#include "read/mapped_file.h"
#include "ramq/safetensors.h"

namespace ramq {

std::string_view inspect_kind_name(InspectKind k) {
  switch (k) {
    case InspectKind::SafetensorsModel: return "safetensors model";
    case InspectKind::MlxModel: return "mlx model";
    case InspectKind::Gguf: return "gguf";
    case InspectKind::Safetensors: break;
  }
  return "safetensors";
}

namespace {

namespace fs = std::filesystem;

nlohmann::json gguf_value_json(const GgufValue& v) {
  if (v.type == GgufValueType::ARRAY) {
    const auto& arr = std::get<std::shared_ptr<GgufArray>>(v.v);
    if (arr->items.size() > 16) return "[array of " + std::to_string(arr->items.size()) + " values]";
    nlohmann::json a = nlohmann::json::array();
    for (const auto& x : arr->items) a.push_back(gguf_value_json(x));
    return a;
  }
  return std::visit(
      [](const auto& x) -> nlohmann::json {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::shared_ptr<GgufArray>>) {
          return nullptr;
        } else {
          return x;
        }
      },
      v.v);
}

InspectReport inspect_gguf(const fs::path& path) {
  GgufReader g(path);
  InspectReport r;
  r.kind = InspectKind::Gguf;
  r.metadata = nlohmann::json::object();
  r.metadata["gguf.version"] = g.version();
  for (const auto& kv : g.metadata()) r.metadata[kv.key] = gguf_value_json(kv.value);
  for (const auto& t : g.tensors()) {
    InspectedTensor it;
    it.name = t.name;
    it.shape = t.ne;
    it.type = std::string(ggml_type_info(t.type).name);
    it.bytes = t.nbytes;
    it.params = 1;
    for (auto d : t.ne) it.params *= d;
    r.tensors.push_back(std::move(it));
  }
  return r;
}

void add_safetensors_tensors(const std::vector<TensorInfo>& infos, InspectReport& r) {
  for (const auto& t : infos) {
    InspectedTensor it;
    it.name = t.name;
    it.shape = t.shape;
    it.type = t.source_dtype();  // "F8_E4M3" / "MXFP4" for a block-scaled pair
    it.bytes = t.nbytes + (t.scales ? t.scales->nbytes : 0);
    it.params = t.numel();
    r.tensors.push_back(std::move(it));
  }
}

// MLX packed weights hold bits-wide values in uint32 words: the logical count is words * 32 /
// bits, with bits from config.json's quantization block (default, or the module's entry).
void count_mlx_params(const nlohmann::json& quant, InspectReport& r) {
  std::map<std::string, InspectedTensor*> by_name;
  for (auto& t : r.tensors) by_name[t.name] = &t;
  for (auto& t : r.tensors) {
    if (t.name.ends_with(".scales") || t.name.ends_with(".biases")) {
      const std::string mod = t.name.substr(0, t.name.size() - 7);
      if (by_name.count(mod + ".weight") && by_name[mod + ".weight"]->type == "U32") t.params = 0;
      continue;
    }
    if (t.type != "U32" || !t.name.ends_with(".weight")) continue;
    const std::string mod = t.name.substr(0, t.name.size() - 7);
    const auto& q = quant.contains(mod) && quant[mod].is_object() ? quant[mod] : quant;
    if (!q.contains("bits") || !q["bits"].is_number_integer() || q["bits"].get<int>() <= 0)
      throw Error("config.json", t.name, "quantized weight without a valid 'bits' in the quantization block");
    t.params = t.params * 32 / q["bits"].get<int>();
  }
}

InspectReport inspect_directory(const fs::path& dir) {
  ModelReader model(dir);
  InspectReport r;
  const auto& raw = model.config().raw;
  const bool mlx = raw.contains("quantization") && raw["quantization"].is_object();
  r.kind = mlx ? InspectKind::MlxModel : InspectKind::SafetensorsModel;
  r.metadata = {{"architecture", model.config().architecture},
                {"model_type", model.config().model_type},
                {"num_hidden_layers", model.config().num_hidden_layers},
                {"hidden_size", model.config().hidden_size},
                {"files", model.input_files()}};
  if (mlx) r.metadata["quantization"] = raw["quantization"];
  add_safetensors_tensors(model.tensors(), r);
  if (mlx) count_mlx_params(raw["quantization"], r);
  return r;
}

InspectReport inspect_safetensors_file(const fs::path& file) {
  MappedFile f(file.string());
  const auto header = parse_safetensors_header(f.bytes(), file.string());
  InspectReport r;
  r.kind = InspectKind::Safetensors;
  r.metadata = header.metadata;
  auto infos = header.tensors;
  std::sort(infos.begin(), infos.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  add_safetensors_tensors(infos, r);
  return r;
}

bool has_gguf_magic(const fs::path& p) {
  MappedFile f(p.string());
  const auto b = f.bytes();
  return b.size() >= 4 && static_cast<char>(b[0]) == 'G' && static_cast<char>(b[1]) == 'G' &&
         static_cast<char>(b[2]) == 'U' && static_cast<char>(b[3]) == 'F';
}

}  // namespace

InspectReport inspect_path(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path.string(), "", "no such file or directory");
  InspectReport r;
  if (fs::is_directory(path, ec)) {
    r = inspect_directory(path);
  } else if (path.extension() == ".gguf" || has_gguf_magic(path)) {
    r = inspect_gguf(path);
  } else {
    r = inspect_safetensors_file(path);
  }
  r.path = path.string();
  for (const auto& t : r.tensors) {
    r.total_bytes += t.bytes;
    r.total_params += t.params;
  }
  r.bits_per_weight =
      r.total_params > 0 ? 8.0 * static_cast<double>(r.total_bytes) / static_cast<double>(r.total_params) : 0.0;
  return r;
}

nlohmann::json inspect_to_json(const InspectReport& r) {
  nlohmann::json j = {{"kind", inspect_kind_name(r.kind)},
                      {"path", r.path},
                      {"metadata", r.metadata},
                      {"tensor_count", r.tensors.size()},
                      {"total_bytes", r.total_bytes},
                      {"total_params", r.total_params},
                      {"bits_per_weight", r.bits_per_weight}};
  auto& arr = j["tensors"] = nlohmann::json::array();
  for (const auto& t : r.tensors)
    arr.push_back({{"name", t.name}, {"shape", t.shape}, {"type", t.type}, {"bytes", t.bytes}, {"params", t.params}});
  return j;
}

}  // namespace ramq
