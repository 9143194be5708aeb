// write_llama_gguf: a Hugging Face checkpoint of a family ramq knows -> one GGUF file for llama.cpp.
// Tensors are loaded (and q/k permuted) in parallel per batch, encoded in parallel by row
// chunks, and written strictly in order, so the bytes do not depend on the thread count.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <functional>
#include <optional>
#include <thread>
#include <utility>
#include <stdexcept>
#include <string_view>
#include <tuple>

#include "ramq/config_fields.h"
#include "ramq/family_config.h"
#include "ramq/gguf_metadata.h"
#include "ramq/gguf_names.h"
#include "ramq/longrope.h"
#include "ramq/model_family.h"
#include "ramq/qk_permute.h"
#include "ramq/atomic_output.h"
#include "ramq/error.h"
#include "ramq/gguf.h"
#include "ramq/parallel.h"
#include "ramq/progress.h"
#include "write/gguf_llama_writer.h"
#include "write/gguf_chat_template.h"
#include "write/gguf_hybrid.h"
#include "write/gguf_naming.h"
#include "write/gguf_sampling.h"
#include "write/gguf_vocab.h"

namespace fs = std::filesystem;

namespace ramq {

namespace {

struct Entry {
  const TensorInfo* src = nullptr;  // nullptr: generated (rope_freqs); a stack: its expert 0
  std::vector<const TensorInfo*> experts;  // a stack of routed experts, by index; empty otherwise
  std::vector<float> generated;
  GgufTensorSpec spec;
  std::int64_t heads = 0;  // q/k permutation heads, 0 = none
  GgufSourceLayout layout;  // hybrid families: + 1, -exp, re-tiled (write/gguf_hybrid.h); else as is
  std::int64_t group = 0, block = 0, rank = 0;  // sort key
};


// The converter's general.sampling.* and naming keys (Metadata.set_gguf_meta_model) take the place
// of the family's general.name, after general.architecture and general.type, as in its files.
void splice_model_metadata(std::vector<GgufKV>& kvs, std::vector<GgufKV> model_kvs) {
  const auto name = std::find_if(kvs.begin(), kvs.end(), [](const GgufKV& kv) { return kv.key == "general.name"; });
  const auto at = kvs.erase(name);
  kvs.insert(at, std::make_move_iterator(model_kvs.begin()), std::make_move_iterator(model_kvs.end()));
}

struct Layout {
  std::vector<Entry> entries;
  std::vector<GgufKV> kvs;
  GgufWriteSummary summary;  // architecture, file type, tokenizer
};

std::int64_t spec_numel(const GgufTensorSpec& spec) {
  std::int64_t n = 1;
  for (const auto d : spec.ne) n *= d;
  return n;
}

// Routed expert `t` (index `expert`) into the stack of its projection, whose type it must share.
void add_expert(Entry& stack, const TensorInfo& t, std::int64_t expert, const std::map<std::string, GgmlType>& types) {
  const auto it = types.find(t.name);
  if (it == types.end()) throw Error(t.file, t.name, "has no ggml type in the plan");
  if (it->second != stack.spec.type)
    throw Error(t.file, t.name,
                "has ggml type " + std::string(ggml_type_info(it->second).name) + " in the plan but " +
                    stack.src->name + " has " + std::string(ggml_type_info(stack.spec.type).name) +
                    ": the experts of one projection are one GGUF tensor and share one type");
  if (t.shape != stack.src->shape)
    throw Error(t.file, t.name, "has shape " + shape_text(t.shape) + " but " + stack.src->name + " has " +
                                    shape_text(stack.src->shape));
  const auto slot = static_cast<std::size_t>(expert);
  if (stack.experts.size() <= slot) stack.experts.resize(slot + 1, nullptr);
  stack.experts[slot] = &t;
}

// A complete stack: experts 0..E-1 all present, ne [in, out, E], named by expert 0.
void finish_stack(Entry& e, const std::string& gguf_name) {
  for (std::size_t i = 0; i < e.experts.size(); ++i)
    if (e.experts[i] == nullptr)
      throw Error(e.src->file, expert_stack_key(e.src->name),
                  "has no expert " + std::to_string(i) + " (needed for " + gguf_name + " of " +
                      std::to_string(e.experts.size()) + " experts)");
  e.src = e.experts.front();
  e.spec.ne.push_back(static_cast<std::int64_t>(e.experts.size()));
}

// Elements and stored bytes of an entry's sources (all experts of a stack).
std::uint64_t source_numel(const Entry& e) {
  if (!e.src) return e.generated.size();
  if (e.experts.empty()) return static_cast<std::uint64_t>(e.src->numel());
  return static_cast<std::uint64_t>(e.src->numel()) * e.experts.size();
}
std::uint64_t source_bytes(const Entry& e) {
  if (!e.src) return 0;
  if (e.experts.empty()) return e.src->nbytes;
  std::uint64_t n = 0;
  for (const TensorInfo* t : e.experts) n += t->nbytes;
  return n;
}

std::vector<GgufTensorSpec> specs_of(const std::vector<Entry>& entries) {
  std::vector<GgufTensorSpec> specs;
  for (const auto& e : entries) specs.push_back(e.spec);
  return specs;
}

// Steps 1-3 of writing: every tensor's GGUF name, type and place, and the metadata.
Layout layout_llama_gguf(const ModelReader& model, const std::map<std::string, GgmlType>& types,
                         const GgufWriteOptions& opt) {
  Layout L;
  std::vector<Entry>& entries = L.entries;
  GgufWriteSummary& sum = L.summary;
  std::vector<GgufKV>& kvs = L.kvs;
  const ModelConfig& cfg = model.config();
  const std::string config_file = (model.dir() / "config.json").string();
  const ModelFamily& family = family_for(cfg, config_file, "GGUF output");
  const std::string arch(family.gguf_architecture);
  std::optional<LinearAttentionFields> linear;  // hybrid families: read once for every tensor's layout
  if (family.hybrid_attention) linear = read_family_fields(ConfigFields(cfg.raw, config_file), cfg, family).linear;

  const std::string embed_name = gguf_to_hf_tensor_name(family, "token_embd.weight").value();  // llama.cpp needs it
  const TensorInfo* embed = model.find(embed_name);
  if (!embed) throw Error(model.dir().string(), embed_name, "is missing (needed for token_embd)");
  if (embed->shape.size() != 2) throw Error(embed->file, embed->name, "is not a matrix: " + shape_text(embed->shape));
  const std::int64_t n_vocab = embed->shape[0];

  // 1. Every tensor: GGUF name, shape check, type, sort key; routed experts join their stack.
  std::map<std::string, std::string> written;  // GGUF name -> HF name
  std::map<std::string, std::size_t> stacks;   // GGUF name of a stack -> its entry
  for (const auto& t : model.tensors()) {
    const std::string g = hf_to_gguf_tensor_name(family, t.name, t.file);
    if (g.empty()) continue;
    std::int64_t expert = -1;
    expert_stack_key(t.name, &expert);
    if (expert >= 0 && stacks.count(g)) {
      add_expert(entries[stacks[g]], t, expert, types);
      sum.written_types[t.name] = entries[stacks[g]].spec.type;
      continue;
    }
    Entry e;
    e.src = &t;
    const std::string_view block_prefix = family.names->gguf_layer_prefix;  // "blk."
    std::string local = g;  // the name after "blk.N."
    if (g.starts_with(block_prefix)) {
      const auto dot = g.find('.', block_prefix.size());
      e.block = std::stoll(g.substr(block_prefix.size(), dot - block_prefix.size()));
      local = g.substr(dot + 1);
      if (e.block >= cfg.num_hidden_layers)
        throw Error(t.file, t.name,
                    "belongs to layer " + std::to_string(e.block) + " but config.json has num_hidden_layers " +
                        std::to_string(cfg.num_hidden_layers));
      e.group = 2;
      e.rank = gguf_block_rank(family, local);
    } else {
      e.group = g == "token_embd.weight" ? 0 : g == "output_norm.weight" ? 3 : 4;
    }
    // The same rule as validate_config_against_tensors (include/ramq/config_check.h).
    const auto want = family.expected_shape(cfg, t.name);
    if (want && t.shape != want->shape)
      throw Error(t.file, t.name, "has shape " + shape_text(t.shape) + " but config.json implies " + want->formula +
                                      " = " + shape_text(want->shape));
    e.spec.name = g;
    e.spec.ne = gguf_ne_from_shape(t.shape);
    if (t.shape.size() == 1) {
      e.spec.type = GgmlType::F32;
    } else {
      const auto it = types.find(t.name);
      if (it == types.end()) throw Error(t.file, t.name, "has no ggml type in the plan");
      e.spec.type = it->second;
      const auto& info = ggml_type_info(e.spec.type);
      if (e.spec.ne[0] % info.block_size != 0)
        throw Error(t.file, t.name,
                    "row length " + std::to_string(e.spec.ne[0]) + " is not a multiple of the " +
                        std::string(info.name) + " block size " + std::to_string(info.block_size));
    }
    e.heads = qk_permute_heads(family, cfg, t.name);
    if (family.hybrid_attention) {
      e.layout = gguf_hybrid_layout(family, *linear, t, local);
      if (!e.layout.ne.empty()) e.spec.ne = e.layout.ne;
      if (e.layout.force_f32) e.spec.type = GgmlType::F32;
    }
    // Gemma 3's RMSNorms scale by 1 + w; llama.cpp's converter stores w + 1 (conversion/gemma.py
    // Gemma3Model.norm_shift, every name ending "norm.weight").
    if (family.gemma && local.ends_with("norm.weight")) e.layout.values = GgufSourceLayout::Values::PlusOne;
    if (expert >= 0) {
      stacks[g] = entries.size();
      e.experts.assign(static_cast<std::size_t>(expert) + 1, nullptr);
      e.experts[static_cast<std::size_t>(expert)] = &t;
    }
    written[g] = t.name;
    sum.written_types[t.name] = e.spec.type;
    entries.push_back(std::move(e));
  }

  for (const auto& [g, i] : stacks) finish_stack(entries[i], g);

  // 2. Tensors llama.cpp requires.
  for (const auto& r : required_gguf_tensors(family, cfg.num_hidden_layers))
    if (!written.count(r))
      throw Error(model.dir().string(), gguf_to_hf_tensor_name(family, r).value_or(r),
                  "is missing (llama.cpp's " + arch + " architecture needs it as '" + r + "')");

  if (auto factors = llama3_rope_factors(cfg)) {
    Entry e;
    e.spec = {"rope_freqs.weight", GgmlType::F32, {static_cast<std::int64_t>(factors->size())}};
    e.generated = std::move(*factors);
    e.group = 1;
    entries.push_back(std::move(e));
  }
  // Phi-3's longrope, as llama.cpp's converter writes it: the long, then the short factors.
  if (auto longrope = family.phi3_rope ? read_longrope(ConfigFields(cfg.raw, config_file), cfg) : std::nullopt) {
    const std::pair<const char*, std::vector<float>*> factor_tensors[] = {
        {"rope_factors_long.weight", &longrope->long_factor}, {"rope_factors_short.weight", &longrope->short_factor}};
    for (const auto& [name, factors] : factor_tensors) {
      Entry e;
      e.spec = {name, GgmlType::F32, {static_cast<std::int64_t>(factors->size())}};
      e.generated = std::move(*factors);
      e.group = 1;
      entries.push_back(std::move(e));
    }
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.group, a.block, a.rank, a.spec.name) < std::tie(b.group, b.block, b.rank, b.spec.name);
  });

  // 3. Metadata and tokenizer.
  std::map<GgmlType, std::int64_t> by_type;
  for (const auto& e : entries)
    if (e.spec.ne.size() >= 2) by_type[e.spec.type] += spec_numel(e.spec);
  sum.architecture = arch;
  sum.file_type = opt.file_type ? *opt.file_type : llama_file_type(by_type);
  const GgufVocab vocab = load_model_vocab(model.dir(), cfg, n_vocab, opt.pre_tokenizer);
  sum.tokenizer = vocab.model + (vocab.source.empty() ? "" : " from " + vocab.source) + " (" +
                  std::to_string(vocab.model == "none" ? n_vocab : static_cast<std::int64_t>(vocab.tokens.size())) +
                  " tokens)" + (vocab.note.empty() ? "" : "; " + vocab.note);
  kvs = llama_gguf_metadata(cfg, family, "", sum.file_type, n_vocab, config_file);
  std::vector<GgufKV> model_kvs;
  append_sampling_kvs(model.dir(), model_kvs);
  GgufNaming naming = gguf_naming_for_directory(model.dir(), cfg.raw, gguf_parameter_counts(specs_of(entries)), opt.model_name);
  model_kvs.insert(model_kvs.end(), naming.kvs.begin(), naming.kvs.end());
  splice_model_metadata(kvs, std::move(model_kvs));
  sum.metadata_note = naming.note;
  // Without a tokenizer llama.cpp makes [arch].vocab_size dummy tokens: the key is needed then.
  const std::string vocab_size_key = arch + ".vocab_size";
  if (vocab.model == "none" && std::none_of(kvs.begin(), kvs.end(), [&](const GgufKV& kv) { return kv.key == vocab_size_key; }))
    kvs.push_back({vocab_size_key, GgufValue::u32(static_cast<std::uint32_t>(n_vocab))});
  append_vocab_kvs(vocab, kvs);
  append_chat_template_kvs(read_chat_templates(model.dir()), kvs);
  return L;
}

// A value the planned type cannot hold: an error, as in the MLX writer, never a silent Inf or zero.
[[noreturn]] void throw_unrepresentable(const Entry& e, float value, std::int64_t element) {
  const std::string type(ggml_type_info(e.spec.type).name);
  const bool is_float = e.spec.type == GgmlType::F16;
  char limit[32];
  std::snprintf(limit, sizeof limit, "%.6g", static_cast<double>(gguf_largest_value(e.spec.type)));
  throw Error(e.src ? e.src->file : "", e.src ? e.src->name : e.spec.name,
              "value " + std::to_string(value) + " at element " + std::to_string(element) + " does not fit " + type +
                  " (largest " + limit + (is_float ? "" : ", its block scales being F16") +
                  "); keep this tensor in F32 (gguf_type F32 in a plan" +
                  (is_float ? ", or --keep-dtype for an F32 source" : "") + ")");
}

}  // namespace

std::uint64_t llama_gguf_file_bytes(const ModelReader& model, const std::map<std::string, GgmlType>& types,
                                    const GgufWriteOptions& opt) {
  const Layout L = layout_llama_gguf(model, types, opt);
  return gguf_file_size(L.kvs, specs_of(L.entries), 32, model.dir().string());
}

namespace {

// A stack of experts larger than a batch: loaded and encoded one expert at a time, so that only
// one expert's floats are held beside the encoded stack (a Qwen3.5-397B stack is 8.6 GB as
// float32). The bytes equal a whole-stack encode: every row is encoded on its own.
std::vector<std::byte> encode_stack_by_expert(const ModelReader& model, const Entry& e, unsigned threads) {
  const GgufTensorSpec& spec = e.spec;
  const std::int64_t cols = spec.ne[0], per = e.src->numel(), rows = per / cols;
  const std::size_t row_bytes = ggml_row_bytes(spec.type, cols);
  std::vector<std::byte> out(static_cast<std::size_t>(spec.nbytes()));
  std::vector<float> w(static_cast<std::size_t>(per));
  const std::int64_t step = std::max<std::int64_t>(1, (std::int64_t{1} << 18) / std::max<std::int64_t>(cols, 1));
  const std::int64_t chunks = (rows + step - 1) / step;
  for (std::size_t x = 0; x < e.experts.size(); ++x) {
    model.load_f32_into(*e.experts[x], std::span<float>(w), threads);
    model.release(*e.experts[x]);
    std::byte* base = out.data() + x * static_cast<std::size_t>(rows) * row_bytes;
    parallel_for(static_cast<std::size_t>(chunks), threads, [&](std::size_t k) {
      const std::int64_t r0 = static_cast<std::int64_t>(k) * step, n = std::min(step, rows - r0);
      const float* src = w.data() + r0 * cols;
      if (const auto bad = gguf_first_unrepresentable(spec.type, src, n * cols))
        throw_unrepresentable(e, src[*bad], static_cast<std::int64_t>(x) * per + r0 * cols + *bad);
      gguf_encode_rows(spec.type, src, n, cols, base + static_cast<std::size_t>(r0) * row_bytes);
    });
  }
  return out;
}

// Loads (q/k permuted) and encodes entries[todo[k]] in that order, in parallel batches of about
// opt.batch_bytes of floats (row chunks of about 256K elements on all workers), and hands each
// tensor's bytes to emit(entry index, bytes) in order once its batch is encoded. The bytes do not
// depend on the thread count or the batches.
void encode_entries(const ModelReader& model, const std::vector<Entry>& entries, const std::vector<std::size_t>& todo,
                    const GgufWriteOptions& opt, const std::function<void(std::size_t, std::vector<std::byte>&)>& emit) {
  const unsigned threads = resolve_threads(opt.threads);
  const auto streamed_stack = [&](const Entry& e) { return !e.experts.empty() && source_numel(e) * 4 > opt.batch_bytes; };
  // Batches [first, second) of todo, each holding at most opt.batch_bytes of floats (or one tensor).
  std::vector<std::pair<std::size_t, std::size_t>> batches;
  for (std::size_t start = 0; start < todo.size();) {
    std::size_t end = start;
    std::uint64_t batch = 0;
    while (end < todo.size()) {
      const Entry& e = entries[todo[end]];
      const std::uint64_t bytes = source_numel(e) * 4;
      if (end > start && batch + bytes > opt.batch_bytes) break;
      batch += bytes;
      ++end;
    }
    batches.emplace_back(start, end);
    start = end;
  }
  const auto load = [&](std::pair<std::size_t, std::size_t> range) {
    const std::size_t start = range.first, n = range.second - range.first;
    std::vector<std::vector<float>> floats(n);
    parallel_for(n, threads, [&](std::size_t i) {
      const Entry& e = entries[todo[start + i]];
      if (!e.src) {
        floats[i] = e.generated;
        return;
      }
      if (streamed_stack(e)) return;  // encoded by encode_stack_by_expert
      if (!e.experts.empty()) {  // a stack: the experts one after another
        floats[i].resize(source_numel(e));
        const auto per = static_cast<std::size_t>(e.src->numel());
        for (std::size_t x = 0; x < e.experts.size(); ++x) {
          model.load_f32_into(*e.experts[x], std::span<float>(floats[i].data() + x * per, per), n == 1 ? threads : 1);
          model.release(*e.experts[x]);
        }
        return;
      }
      floats[i] = model.load_f32(*e.src, n == 1 ? threads : 1);  // a lone tensor: all workers convert it
      model.release(*e.src);
      apply_gguf_layout(e.layout, floats[i], e.src->shape.empty() ? 1 : e.src->shape.back());
      if (e.heads > 0) {
        std::vector<float> permuted(floats[i].size());
        const std::int64_t rows = e.src->shape[0], cols = e.src->shape.size() > 1 ? e.src->shape[1] : 1;
        if (rows % (2 * e.heads) != 0)
          throw Error(e.src->file, e.src->name,
                      std::to_string(rows) + " rows cannot be split into " + std::to_string(e.heads) + " heads");
        llama_permute_qk(floats[i].data(), permuted.data(), rows, cols, e.heads);
        floats[i].swap(permuted);
      }
    });
    return floats;
  };

  std::vector<std::vector<float>> floats = batches.empty() ? std::vector<std::vector<float>>{} : load(batches[0]);
  for (std::size_t b = 0; b < batches.size(); ++b) {
    const std::size_t start = batches[b].first, n = batches[b].second - start;
    // Encode by row chunks of about 256K elements.
    struct Chunk {
      std::size_t entry;
      std::int64_t row0, rows;
    };
    std::vector<Chunk> chunks;
    std::vector<std::vector<std::byte>> encoded(n);
    for (std::size_t i = 0; i < n; ++i) {
      const Entry& e = entries[todo[start + i]];
      if (streamed_stack(e)) {
        encoded[i] = encode_stack_by_expert(model, e, threads);
        continue;
      }
      const auto& spec = e.spec;
      encoded[i].resize(static_cast<std::size_t>(spec.nbytes()));
      const std::int64_t cols = spec.ne[0], rows = cols > 0 ? static_cast<std::int64_t>(floats[i].size()) / cols : 0;
      const std::int64_t step = std::max<std::int64_t>(1, (std::int64_t{1} << 18) / std::max<std::int64_t>(cols, 1));
      for (std::int64_t r = 0; r < rows; r += step) chunks.push_back({i, r, std::min(step, rows - r)});
    }
    parallel_for(chunks.size(), threads, [&](std::size_t k) {
      const Chunk& c = chunks[k];
      const auto& spec = entries[todo[start + c.entry]].spec;
      const std::int64_t cols = spec.ne[0];
      const std::size_t row_bytes = ggml_row_bytes(spec.type, cols);
      const float* src = floats[c.entry].data() + c.row0 * cols;
      std::byte* dst = encoded[c.entry].data() + static_cast<std::size_t>(c.row0) * row_bytes;
      if (const auto bad = gguf_first_unrepresentable(spec.type, src, c.rows * cols))
        throw_unrepresentable(entries[todo[start + c.entry]], src[*bad], c.row0 * cols + *bad);
      gguf_encode_rows(spec.type, src, c.rows, cols, dst);
    });
    floats.clear();  // only the encoded bytes are held while they are handed on
    // The next batch is read on a helper thread while this one is handed on (written, or sent
    // to rank 0) from this thread; the order of everything emitted is unchanged.
    std::exception_ptr load_error;
    {
      std::jthread next;
      if (b + 1 < batches.size()) {
        next = std::jthread([&, range = batches[b + 1]] {
          try {
            floats = load(range);
          } catch (...) {
            load_error = std::current_exception();
          }
        });
      }
      for (std::size_t i = 0; i < n; ++i) {
        emit(todo[start + i], encoded[i]);
        std::vector<std::byte>().swap(encoded[i]);
      }
    }  // joins the reader
    if (load_error) std::rethrow_exception(load_error);
  }
}

}  // namespace

GgufWriteSummary write_llama_gguf(const ModelReader& model, const std::map<std::string, GgmlType>& types,
                                  const fs::path& output, const GgufWriteOptions& opt) {
  Layout L = layout_llama_gguf(model, types, opt);
  std::vector<Entry>& entries = L.entries;
  GgufWriteSummary sum = L.summary;
  sum.output = output;
  const std::vector<GgufKV>& kvs = L.kvs;
  if (opt.remote && !opt.receive) throw std::logic_error("write_llama_gguf: remote tensors without receive");
  auto is_remote = [&](const Entry& e) { return opt.remote && e.src && opt.remote(e.src->name); };

  // 4. Stream the tensors: this process's own encoded in parallel batches, the others' received
  // (GgufWriteOptions::remote) one at a time, all written strictly in file order.
  const std::vector<GgufTensorSpec> specs = specs_of(entries);
  AtomicOutput out(output, /*is_directory=*/false);
  GgufStreamWriter writer(out.temp_path(), kvs, specs, 32);
  std::uint64_t input_bytes = 0;
  for (const auto& e : entries) input_bytes += source_bytes(e);
  ProgressScope progress(opt.progress, {"write", "tensors", entries.size(), input_bytes, ""});
  auto write_entry = [&](std::size_t i, const std::vector<std::byte>& bytes) {
    const Entry& e = entries[i];
    writer.write_next(e.spec.name, bytes);
    sum.tensor_bytes += bytes.size();
    sum.params += spec_numel(e.spec);
    progress.advance(1, source_bytes(e));
  };
  std::size_t next = 0;  // entries before it are written
  auto write_remote_until = [&](std::size_t end) {
    for (; next < end; ++next) {
      const Entry& e = entries[next];
      const std::vector<std::byte> bytes = opt.receive(e.src->name, e.spec.nbytes());
      if (bytes.size() != e.spec.nbytes())
        throw std::logic_error("write_llama_gguf: received " + std::to_string(bytes.size()) + " bytes for " +
                               e.spec.name + ", expected " + std::to_string(e.spec.nbytes()));
      write_entry(next, bytes);
    }
  };
  std::vector<std::size_t> local;
  for (std::size_t i = 0; i < entries.size(); ++i)
    if (!is_remote(entries[i])) local.push_back(i);
  encode_entries(model, entries, local, opt, [&](std::size_t i, std::vector<std::byte>& bytes) {
    write_remote_until(i);  // the tensors between the previous own one and this one are remote
    write_entry(i, bytes);
    next = i + 1;
  });
  write_remote_until(entries.size());
  writer.finish();
  progress.done();
  sum.file_bytes = writer.file_bytes();
  sum.tensors = entries.size();
  sum.average_bits = sum.params > 0 ? 8.0 * static_cast<double>(sum.tensor_bytes) / static_cast<double>(sum.params) : 0;
  if (opt.before_commit) out.attach(opt.before_commit(out.temp_path(), sum));
  out.commit();
  return sum;
}

void encode_llama_gguf_tensors(const ModelReader& model, const std::map<std::string, GgmlType>& types,
                               const GgufWriteOptions& opt, const std::function<bool(const std::string&)>& mine,
                               const std::function<void(const std::string&, std::vector<std::byte>&&)>& send) {
  const Layout L = layout_llama_gguf(model, types, opt);
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < L.entries.size(); ++i)
    if (L.entries[i].src && mine(L.entries[i].src->name)) todo.push_back(i);
  encode_entries(model, L.entries, todo, opt,
                 [&](std::size_t i, std::vector<std::byte>& bytes) { send(L.entries[i].src->name, std::move(bytes)); });
}

}  // namespace ramq
