#include "ramq/mlx_writer.h"
#include "ramq/module_weight.h"

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "ramq/atomic_output.h"
#include "ramq/chat_template.h"
#include "ramq/error.h"
#include "ramq/mlx_affine.h"
#include "ramq/model_family.h"
#include "ramq/parallel.h"
#include "ramq/progress.h"
#include "ramq/safetensors_writer.h"
#include "ramq/tensor_role.h"
#include "write/mlx_hybrid.h"

namespace fs = std::filesystem;

namespace ramq {

namespace {

// Source float data held by one batch of tensors processed in parallel (one tensor always fits).
constexpr std::uint64_t kBatchBudgetBytes = 1ULL << 30;

// One source tensor, or the routed experts of one projection in one layer (in expert order), and
// the output tensors they become (sorted by name). A stack's outputs are the experts' outputs
// concatenated, shape [experts, ...]: every encoding works row by row, so the concatenation of
// the per-expert encodings is the encoding of the stacked tensor.
struct Unit {
  std::string key;  // the first source's name: what the distributed hooks and messages use
  std::vector<const TensorDecision*> decisions;
  std::vector<const TensorInfo*> infos;
  std::vector<OutTensorSpec> outs;
  std::uint64_t bytes = 0;         // output bytes
  std::uint64_t source_bytes = 0;  // bytes of the sources
  std::int64_t numel = 0;
  bool f32_to_f16 = false;
  MlxEncoder encoder = MlxEncoder::Search;  // Options::mlx_encoder
  MlxSourceLayout layout;  // hybrid families: + 1, reshaped or split (write/mlx_hybrid.h); else as is
};

struct OutData {
  std::string name;
  std::vector<std::byte> bytes;
};

struct Shard {
  std::string file;
  std::vector<OutTensorSpec> specs;  // sorted by name
};

// The model tensor of a decision, checked against the decision (what an MLX output can hold).
const TensorInfo& checked_source(const ModelReader& model, const TensorDecision& d) {
  const TensorInfo* info = model.find(d.name);
  if (info == nullptr) throw Error(model.dir().string(), d.name, "tensor of the plan is not in the model");
  if (d.encoding.ggml_type())
    throw Error("", d.name, "the plan gives a GGUF type (" + d.encoding.name() + "); MLX output needs an MLX plan");
  if (d.shape != info->shape)
    throw Error(info->file, d.name,
                "plan shape " + shape_text(d.shape) + " does not match the model's " + shape_text(info->shape));
  if (!d.quantized()) return *info;
  if (!is_module_weight(d.name)) throw Error(info->file, d.name, "only tensors named '*.weight' can be quantized");
  if (!is_float_weight_dtype(info->dtype))
    throw Error(info->file, d.name, "cannot quantize a tensor of dtype " + std::string(dtype_name(info->dtype)));
  if (!mlx_bits_supported(d.bits()))
    throw Error(info->file, d.name, "MLX does not support " + std::to_string(d.bits()) + "-bit quantization");
  if (!mlx_group_supported(d.encoding.group()))
    throw Error(info->file, d.name, "MLX does not support group size " + std::to_string(d.encoding.group()));
  const auto& shp = info->shape;
  if (shp.size() != 2 && shp.size() != 3)
    throw Error(info->file, d.name, "only 2-D matrices and 3-D expert stacks can be quantized, not " +
                                        shape_text(shp));
  const std::int64_t cols = shp.back();
  if (cols <= 0 || cols % d.encoding.group() != 0)
    throw Error(info->file, d.name,
                "row length " + std::to_string(cols) + " is not a multiple of group size " +
                    std::to_string(d.encoding.group()));
  return *info;
}

// The output specs of a weight `name` of float shape `shape`: biases, scales and packed codes
// when quantized, else the float data in `float_dtype`.
void add_outs(std::vector<OutTensorSpec>& outs, const TensorDecision& d, DType source, DType float_dtype,
              const std::string& name, const std::vector<std::int64_t>& shape) {
  if (!d.quantized()) {
    outs.push_back({name, float_dtype, shape});
    return;
  }
  const std::int64_t cols = shape.back();
  const std::string prefix = name.substr(0, name.size() - 7);
  const DType sdt = mlx_scale_dtype(source);
  std::vector<std::int64_t> wshape = shape, sshape = shape;
  wshape.back() = cols * d.bits() / 32;
  sshape.back() = cols / d.encoding.group();
  outs.push_back({prefix + ".biases", sdt, sshape});
  outs.push_back({prefix + ".scales", sdt, sshape});
  outs.push_back({name, DType::U32, wshape});
}

// `group`: one decision, or the experts 0..E-1 of one projection (their outputs stacked);
// `out_name`: the output name of the weight (mlx_lm's parameter path); `hybrid`: a hybrid
// linear-attention family (write/mlx_hybrid.h).
Unit make_unit(const ModelReader& model, const std::vector<const TensorDecision*>& group, const std::string& out_name,
               const WriteOptions& opt, bool keep_dtype, bool stacked, bool hybrid) {
  Unit u;
  u.key = group.front()->name;
  u.decisions = group;
  u.encoder = opt.mlx_encoder;
  for (const TensorDecision* d : group) {
    u.infos.push_back(&checked_source(model, *d));
    const TensorInfo& first = *u.infos.front();
    if (!(d->encoding == group.front()->encoding) || u.infos.back()->dtype != first.dtype ||
        u.infos.back()->shape != first.shape)
      throw Error(u.infos.back()->file, d->name,
                  "experts of one projection must share dtype, shape and encoding to be stacked into '" + out_name +
                      "' (this one differs from " + group.front()->name + ")");
    u.source_bytes += u.infos.back()->nbytes;
    u.numel += u.infos.back()->numel();
  }
  const TensorDecision& d = *group.front();
  const TensorInfo& info = *u.infos.front();
  u.layout.shape = info.shape;
  if (hybrid) u.layout = mlx_hybrid_layout(info, out_name);
  // Linear attention's A_log / dt_bias keep their dtype in every MLX output (plan decision_bytes).
  u.layout.keep_f32 = classify_tensor(d.name).role == TensorRole::SsmParam;
  if (d.quantized() && u.layout.plus_one)
    throw Error(info.file, d.name, "a zero-centred norm is stored + 1 for mlx_lm and cannot be quantized");
  std::vector<std::int64_t> shp = u.layout.shape;
  if (stacked) shp.insert(shp.begin(), static_cast<std::int64_t>(group.size()));
  DType out = info.dtype;
  if (out == DType::F32 && !keep_dtype && !u.layout.keep_f32) {
    out = DType::F16;
    u.f32_to_f16 = !d.quantized();
  }
  add_outs(u.outs, d, info.dtype, out, out_name, shp);
  for (const auto& o : u.outs) u.bytes += o.nbytes();
  return u;
}

// The outputs of one source tensor (biases, scales, packed codes; or the float data).
EncodedParts encode_source(const ModelReader& model, const TensorDecision& d, const TensorInfo& info,
                           const Unit& u) {
  const std::int64_t cols = info.shape.empty() ? 1 : info.shape.back();
  if (!d.quantized() && !u.f32_to_f16 && !u.layout.plus_one) {
    EncodedParts parts{model.dtype_bytes(info)};  // block-scaled sources: decoded to info.dtype
    model.release(info);
    return parts;
  }
  std::vector<float> w = model.load_f32(info);
  model.release(info);
  if (u.layout.plus_one)
    for (float& x : w) x += 1.0f;
  if (d.quantized()) {
    try {
      return d.encoding.encode(w.data(), static_cast<std::int64_t>(w.size()) / cols, cols,
                               EncodeContext{info.dtype, u.encoder, false});
    } catch (const Error& e) {
      throw Error(info.file, info.name, e.problem());
    }
  }
  const DType out = u.f32_to_f16 ? DType::F16 : info.dtype;
  if (out == DType::F16)
    for (const float x : w)
      if (std::fabs(x) >= 65520.0f)
        throw Error(info.file, info.name, "value " + std::to_string(x) + " does not fit in F16; keep the F32 dtype (--keep-dtype)");
  EncodedParts p = Encoding::float_copy().encode(w.data(), 1, static_cast<std::int64_t>(w.size()),
                                                 EncodeContext{out, u.encoder, /*keep_dtype=*/true});
  p.resize(1);
  return p;
}

std::vector<OutData> encode_unit(const ModelReader& model, const Unit& u) {
  std::vector<OutData> out;
  for (const auto& spec : u.outs) out.push_back({spec.name, {}});
  for (std::size_t i = 0; i < u.infos.size(); ++i) {
    EncodedParts parts = encode_source(model, *u.decisions[i], *u.infos[i], u);
    if (parts.size() != out.size()) throw std::logic_error("encode_unit: wrong number of encoded parts");
    for (std::size_t k = 0; k < parts.size(); ++k) {
      if (i == 0) {
        out[k].bytes = std::move(parts[k]);
        out[k].bytes.reserve(u.outs[k].nbytes());
      } else {
        out[k].bytes.insert(out[k].bytes.end(), parts[k].begin(), parts[k].end());
      }
    }
  }
  return out;
}

std::uint64_t write_text_file(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw Error(path.string(), "", "cannot create file");
  f.write(text.data(), static_cast<std::streamsize>(text.size()));
  f.close();
  if (f.fail()) throw Error(path.string(), "", "write failed (disk full?)");
  return text.size();
}

// True when `inner` is `outer` or lies inside it (after resolving symlinks where possible).
bool same_or_inside(const fs::path& inner, const fs::path& outer) {
  std::error_code ec;
  auto components = [&ec](const fs::path& p) {
    std::vector<std::string> c;
    for (const auto& part : fs::weakly_canonical(fs::absolute(p, ec), ec).lexically_normal())
      if (!part.empty()) c.push_back(part.string());
    return c;
  };
  const auto a = components(inner);
  const auto b = components(outer);
  if (ec) return false;
  return b.size() <= a.size() && std::equal(b.begin(), b.end(), a.begin());
}

std::vector<Shard> assign_shards(const std::vector<Unit>& units, std::uint64_t max_shard_bytes) {
  std::vector<Shard> shards(1);
  std::uint64_t used = 0;
  for (const auto& u : units) {
    if (!shards.back().specs.empty() && used + u.bytes > max_shard_bytes) {
      shards.emplace_back();
      used = 0;
    }
    for (const auto& o : u.outs) shards.back().specs.push_back(o);
    used += u.bytes;
  }
  const std::size_t n = shards.size();
  for (std::size_t i = 0; i < n; ++i) {
    auto& s = shards[i];
    std::sort(s.specs.begin(), s.specs.end(), [](const OutTensorSpec& x, const OutTensorSpec& y) { return x.name < y.name; });
    if (n == 1) {
      s.file = "model.safetensors";
    } else {
      char buf[64];
      std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, n);
      s.file = buf;
    }
  }
  return shards;
}

// The plan as output units (validated: every model tensor has exactly one decision, every
// decision fits its tensor), and their shards.
struct Layout {
  std::vector<Unit> units;
  std::vector<Shard> shards;
  std::uint64_t tensor_bytes = 0;
  std::int64_t params = 0;
  bool converted = false;  // some F32 tensor is written as F16
};

// mlx_lm's parameter path of a Hugging Face tensor name for the model's family (the name itself
// for families whose sanitize() renames nothing, and for model types ramq does not know).
MlxPathFn mlx_path_of(const ModelReader& model) {
  const ModelFamily* f = find_family(model.config().model_type);
  return f != nullptr ? f->mlx_path : nullptr;
}

// Per-layer buffers llama.cpp and mlx_lm have no use for ("self_attn.rotary_emb.inv_freq"), left
// out of mixture-of-experts outputs: mlx_lm's sanitize() of those families (models/mixtral.py,
// qwen2_moe.py, qwen3_moe.py) does not drop them, and its strict load_weights refuses a
// parameter the model lacks. Dense outputs keep them (their sanitize() drops them).
bool dropped_by_sanitize(const ModelFamily* family, std::string_view name) {
  if (family != nullptr && family->mlx_path != nullptr && family->mlx_path(name).empty()) return true;
  if (family == nullptr || family->moe == nullptr || family->names == nullptr) return false;
  if (!name.starts_with(family->names->hf_layer_prefix)) return false;
  name.remove_prefix(family->names->hf_layer_prefix.size());
  if (!take_layer_index(name)) return false;
  const auto& unused = family->names->unused;
  return std::find(unused.begin(), unused.end(), name) != unused.end();
}

// The plan's decisions grouped into units (those dropped_by_sanitize left out): one per tensor,
// except the routed experts of one
// projection in one layer (names "...experts.<E>...", same mlx_lm path), which form one unit at
// the place of their first decision, in expert order; their indices must be 0..count-1.
std::vector<std::pair<std::string, std::vector<const TensorDecision*>>> group_decisions(const Plan& plan,
                                                                                        const ModelFamily* family) {
  const MlxPathFn mlx_path = family != nullptr ? family->mlx_path : nullptr;
  std::vector<std::pair<std::string, std::vector<const TensorDecision*>>> groups;
  std::map<std::string, std::size_t> stack_of;  // stacked output name -> group
  std::map<std::string, std::vector<std::pair<std::int64_t, const TensorDecision*>>> experts;
  for (const auto& d : plan.tensors) {
    if (dropped_by_sanitize(family, d.name)) continue;
    std::int64_t e = -1;
    if (mlx_path != nullptr) expert_stack_key(d.name, &e);
    const std::string out = mlx_path != nullptr ? mlx_path(d.name) : d.name;
    if (e < 0) {
      groups.push_back({out, {&d}});
      continue;
    }
    if (stack_of.emplace(out, groups.size()).second) groups.push_back({out, {}});
    experts[out].push_back({e, &d});
  }
  for (auto& [out, list] : experts) {
    std::sort(list.begin(), list.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    auto& g = groups[stack_of.at(out)].second;
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (list[i].first != static_cast<std::int64_t>(i))
        throw Error("", list[i].second->name,
                    "routed experts of '" + out + "' must be numbered 0.." + std::to_string(list.size() - 1) +
                        " to be stacked (expert " + std::to_string(i) + " is missing)");
      g.push_back(list[i].second);
    }
  }
  return groups;
}

Layout layout_mlx_model(const ModelReader& model, const Plan& plan, const WriteOptions& opt) {
  std::set<std::string> planned;
  for (const auto& d : plan.tensors) {
    if (!planned.insert(d.name).second) throw Error("", d.name, "tensor appears twice in the plan");
  }
  for (const auto& t : model.tensors())
    if (!planned.count(t.name) && !is_left_out(model.config().model_type, t.name))
      throw Error(t.file, t.name, "model tensor has no decision in the plan");
  Layout L;
  const ModelFamily* family = find_family(model.config().model_type);
  const MlxPathFn mlx_path = family != nullptr ? family->mlx_path : nullptr;
  std::set<std::string> out_names;
  for (const auto& [out, group] : group_decisions(plan, family)) {
    std::int64_t e = -1;
    expert_stack_key(group.front()->name, &e);
    L.units.push_back(make_unit(model, group, out, opt, plan.keep_dtype, mlx_path != nullptr && e >= 0,
                                family != nullptr && family->hybrid_attention));
    const Unit& u = L.units.back();
    for (const auto& o : u.outs)
      if (!out_names.insert(o.name).second)
        throw Error(u.infos.front()->file, u.key, "output tensor name '" + o.name + "' is produced twice");
    L.tensor_bytes += u.bytes;
    L.params += u.numel;
    L.converted = L.converted || u.f32_to_f16;
  }
  L.shards = assign_shards(L.units, opt.max_shard_bytes > 0 ? opt.max_shard_bytes : 1);
  return L;
}

const std::map<std::string, std::string>& mlx_metadata() {
  static const std::map<std::string, std::string> m{{"format", "mlx"}};
  return m;
}

// The order the writer needs the units in: by shard, then by the place of a unit's first output
// in its shard (output names sorted). Every process of a distributed run computes the same.
std::vector<std::size_t> need_order(const Layout& L) {
  std::map<std::string, std::pair<std::size_t, std::size_t>> place;  // output name -> (shard, position)
  for (std::size_t s = 0; s < L.shards.size(); ++s)
    for (std::size_t p = 0; p < L.shards[s].specs.size(); ++p) place[L.shards[s].specs[p].name] = {s, p};
  std::vector<std::pair<std::pair<std::size_t, std::size_t>, std::size_t>> keyed;
  for (std::size_t u = 0; u < L.units.size(); ++u) {
    std::pair<std::size_t, std::size_t> first{SIZE_MAX, SIZE_MAX};
    for (const auto& o : L.units[u].outs) first = std::min(first, place.at(o.name));
    keyed.push_back({first, u});
  }
  std::sort(keyed.begin(), keyed.end());
  std::vector<std::size_t> order;
  for (const auto& k : keyed) order.push_back(k.second);
  return order;
}

// Encodes units[todo[k]] in that order, in parallel batches (at most `threads` units and about
// kBatchBudgetBytes of source floats each), and hands each unit's outputs to emit(unit, outputs)
// in order once its batch is done.
void encode_units(const ModelReader& model, const std::vector<Unit>& units, const std::vector<std::size_t>& todo,
                  unsigned threads, const std::function<void(std::size_t, std::vector<OutData>&&)>& emit) {
  for (std::size_t start = 0; start < todo.size();) {
    std::size_t end = start;
    std::uint64_t budget = 0;
    while (end < todo.size() && end - start < threads) {
      const std::uint64_t need = static_cast<std::uint64_t>(units[todo[end]].numel) * 4;
      if (end > start && budget + need > kBatchBudgetBytes) break;
      budget += need;
      ++end;
    }
    std::vector<std::vector<OutData>> results(end - start);
    parallel_for(end - start, threads, [&](std::size_t i) { results[i] = encode_unit(model, units[todo[start + i]]); });
    for (std::size_t i = 0; i < results.size(); ++i) emit(todo[start + i], std::move(results[i]));
    start = end;
  }
}

// The model's additional_chat_templates/*.jinja (regular files), byte for byte, into the same
// folder of the output (mlx_lm and transformers read named templates there). Returns the bytes.
std::uint64_t copy_additional_chat_templates(const fs::path& model_dir, const fs::path& out_dir) {
  const fs::path from = model_dir / kAdditionalChatTemplatesDir, to = out_dir / kAdditionalChatTemplatesDir;
  std::error_code ec;
  if (!fs::is_directory(from, ec)) return 0;
  std::vector<std::string> names;
  for (fs::directory_iterator it(from, ec), e; !ec && it != e; it.increment(ec))
    if (it->path().extension() == ".jinja" && fs::is_regular_file(it->path())) names.push_back(it->path().filename().string());
  if (ec) throw Error(from.string(), "", "cannot list the directory: " + ec.message());
  if (names.empty()) return 0;
  std::sort(names.begin(), names.end());
  fs::create_directory(to, ec);
  if (ec) throw Error(to.string(), "", "cannot create the directory: " + ec.message());
  std::uint64_t bytes = 0;
  for (const auto& n : names) {
    fs::copy_file(from / n, to / n, fs::copy_options::overwrite_existing, ec);
    if (ec) throw Error((from / n).string(), "", "cannot copy into the output: " + ec.message());
    bytes += fs::file_size(to / n, ec);
  }
  return bytes;
}

}  // namespace

std::uint64_t mlx_weight_files_bytes(const ModelReader& model, const Plan& plan, const WriteOptions& opt) {
  const Layout L = layout_mlx_model(model, plan, opt);
  std::uint64_t bytes = L.tensor_bytes;
  for (const auto& s : L.shards) bytes += safetensors_header_bytes(s.specs, mlx_metadata()).size();
  return bytes;
}

WriteSummary write_mlx_model(const ModelReader& model, const Plan& plan, const WriteOptions& opt,
                             const fs::path& out_dir, const std::function<void(const fs::path&)>& before_commit,
                             const MlxRemote* remote) {
  // --- validate everything before anything is written
  if (same_or_inside(model.dir(), out_dir))
    throw Error(out_dir.string(), "", "the output directory would replace the input model directory");
  Layout L = layout_mlx_model(model, plan, opt);
  const std::vector<Unit>& units = L.units;
  const std::vector<Shard>& shards = L.shards;
  const bool converted = L.converted;
  WriteSummary summary;
  summary.tensor_bytes = L.tensor_bytes;
  summary.params = L.params;

  const ModelFamily* family = find_family(model.config().model_type);
  nlohmann::json config = model.config().raw.is_object() ? model.config().raw : nlohmann::json::object();
  if (family != nullptr && family->hybrid_attention)
    config = mlx_hybrid_config(model.config(), *family, (model.dir() / "config.json").string());
  const nlohmann::json quant = mlx_quantization_config(plan, mlx_path_of(model));
  config.erase("quantization");
  config.erase("quantization_config");
  if (!quant.is_null()) {
    config["quantization"] = quant;
    config["quantization_config"] = quant;
  }
  if (converted) {
    config["torch_dtype"] = "float16";
    if (config.contains("dtype")) config["dtype"] = "float16";
  }

  // --- write
  install_cleanup_signal_handlers();
  AtomicOutput output(out_dir, /*is_directory=*/true);
  const fs::path dir = output.temp_path();
  const std::map<std::string, std::string>& metadata = mlx_metadata();

  std::map<std::string, std::vector<std::byte>> pending;  // encoded, waiting for their turn
  std::map<std::string, std::size_t> unit_of;             // output name -> unit
  for (std::size_t u = 0; u < units.size(); ++u)
    for (const auto& o : units[u].outs) unit_of[o.name] = u;
  auto is_remote = [&](std::size_t u) { return remote && remote->is_remote && remote->is_remote(units[u].key); };
  if (remote && remote->is_remote && !remote->receive) throw std::logic_error("write_mlx_model: remote tensors without receive");
  std::uint64_t source_bytes = 0;
  for (const auto& u : units) source_bytes += u.source_bytes;
  ProgressScope progress(opt.progress, {"write", "tensors", units.size(), source_bytes, ""});
  std::size_t shard_i = 0, pos = 0;
  std::unique_ptr<SafetensorsStreamWriter> writer =
      std::make_unique<SafetensorsStreamWriter>(dir / shards[0].file, shards[0].specs, metadata);
  // Writes what is pending in shard order; a remote unit is received when its first output is
  // next (it is then the next remote unit in need order); stops at a local one not encoded yet.
  auto flush = [&] {
    while (shard_i < shards.size()) {
      const Shard& s = shards[shard_i];
      if (pos == s.specs.size()) {
        writer->finish();
        summary.total_bytes += writer->file_bytes();
        summary.model_bytes += writer->file_bytes();
        writer.reset();
        ++shard_i;
        pos = 0;
        if (shard_i < shards.size())
          writer = std::make_unique<SafetensorsStreamWriter>(dir / shards[shard_i].file, shards[shard_i].specs, metadata);
        continue;
      }
      auto it = pending.find(s.specs[pos].name);
      if (it == pending.end()) {
        const std::size_t u = unit_of.at(s.specs[pos].name);
        if (!is_remote(u)) return;
        std::vector<std::vector<std::byte>> parts = remote->receive(units[u].key, units[u].outs);
        if (parts.size() != units[u].outs.size()) throw std::logic_error("write_mlx_model: wrong number of received outputs");
        for (std::size_t k = 0; k < parts.size(); ++k) {
          if (parts[k].size() != units[u].outs[k].nbytes())
            throw std::logic_error("write_mlx_model: received " + std::to_string(parts[k].size()) + " bytes for " +
                                   units[u].outs[k].name + ", expected " + std::to_string(units[u].outs[k].nbytes()));
          pending.emplace(units[u].outs[k].name, std::move(parts[k]));
        }
        progress.advance(1, units[u].source_bytes);
        continue;
      }
      writer->write_next(it->first, it->second);
      pending.erase(it);
      ++pos;
    }
  };

  // This process's units in need order, encoded in parallel batches; the others received.
  std::vector<std::size_t> local;
  for (const std::size_t u : need_order(L))
    if (!is_remote(u)) local.push_back(u);
  encode_units(model, units, local, resolve_threads(opt.threads), [&](std::size_t u, std::vector<OutData>&& outs) {
    for (auto& o : outs) pending.emplace(std::move(o.name), std::move(o.bytes));
    progress.advance(1, units[u].source_bytes);
    flush();
  });
  flush();
  if (shard_i != shards.size() || !pending.empty())
    throw std::logic_error("write_mlx_model: not every tensor was written");
  progress.done();

  nlohmann::json weight_map = nlohmann::json::object();
  for (const auto& s : shards)
    for (const auto& t : s.specs) weight_map[t.name] = s.file;
  const nlohmann::json index = {{"metadata", {{"total_size", summary.tensor_bytes}}}, {"weight_map", weight_map}};
  summary.total_bytes += write_text_file(dir / "model.safetensors.index.json", index.dump(2));
  summary.total_bytes += write_text_file(dir / "config.json", config.dump(2));

  // Tokenizer and generation files, byte for byte.
  std::vector<std::string> extra;
  std::error_code ec;
  for (fs::directory_iterator it(model.dir(), ec), e; !ec && it != e; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (is_mlx_passthrough_file(n) && fs::is_regular_file(it->path())) extra.push_back(n);
  }
  if (ec) throw Error(model.dir().string(), "", "cannot list the model directory: " + ec.message());
  std::sort(extra.begin(), extra.end());
  for (const auto& n : extra) {
    fs::copy_file(model.dir() / n, dir / n, fs::copy_options::overwrite_existing, ec);
    if (ec) throw Error((model.dir() / n).string(), "", "cannot copy into the output: " + ec.message());
    summary.total_bytes += fs::file_size(dir / n, ec);
  }

  summary.total_bytes += copy_additional_chat_templates(model.dir(), dir);

  if (before_commit) before_commit(dir);
  output.commit();
  summary.output = out_dir;
  summary.shards = static_cast<int>(shards.size());
  summary.average_bits =
      summary.params > 0 ? 8.0 * static_cast<double>(summary.tensor_bytes) / static_cast<double>(summary.params) : 0.0;
  return summary;
}

void encode_mlx_tensors(const ModelReader& model, const Plan& plan, const WriteOptions& opt,
                        const std::function<bool(const std::string&)>& mine,
                        const std::function<void(const std::string&, std::vector<std::vector<std::byte>>&&)>& send) {
  const Layout L = layout_mlx_model(model, plan, opt);
  std::vector<std::size_t> todo;
  for (const std::size_t u : need_order(L))
    if (mine(L.units[u].key)) todo.push_back(u);
  encode_units(model, L.units, todo, resolve_threads(opt.threads), [&](std::size_t u, std::vector<OutData>&& outs) {
    // In the order of the unit's output specs (what write_mlx_model's receive returns).
    std::vector<std::vector<std::byte>> parts;
    for (const auto& spec : L.units[u].outs) {
      const auto it = std::find_if(outs.begin(), outs.end(), [&](const OutData& o) { return o.name == spec.name; });
      if (it == outs.end()) throw std::logic_error("encode_mlx_tensors: output " + spec.name + " missing");
      parts.push_back(std::move(it->bytes));
    }
    send(L.units[u].key, std::move(parts));
  });
}

}  // namespace ramq
