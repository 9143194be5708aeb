// ramq_make_synthetic: writes a deterministic, Llama-shaped Hugging Face checkpoint
// (config.json, model-0000K-of-0000N.safetensors shards, model.safetensors.index.json,
// synthetic.json) with pseudo-random weights (bench/synthetic_weights.h), for benchmarks.
//
//   ramq_make_synthetic --preset 1b -o DIR            [--dtype BF16|F16|F32] [--shard-gb 4] [--seed N]
//   ramq_make_synthetic --preset 30gb --dry-run       (shapes, parameters, bytes; writes nothing)
//   overrides: --hidden --layers --heads --kv-heads --ffn --vocab --tied/--untied
//
// Streams: every tensor is generated in fixed chunks of 2^18 elements (the same bytes for any
// --threads), a few MB in flight. When DIR exists with the same synthetic.json stamp
// (shape, dtype, shards, seed, generator version) nothing is written, so a large model is made
// once and reused. The model is built under DIR.tmp-synthetic and renamed into place at the end.
// Exit status: 0 success, 1 error (message on stderr), 2 bad command line.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "ramq/dtype.h"
#include "ramq/parallel.h"
#include "synthetic_model.h"
#include "synthetic_weights.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kGeneratorVersion = 1;
constexpr std::int64_t kChunkElems = std::int64_t{1} << 18;
constexpr std::uint64_t kOverheadBytes = 512ULL << 20;  // the fixed 512 MB (taken as MiB)

struct Shard {
  std::vector<std::size_t> tensors;  // indices into the tensor list
  std::uint64_t bytes = 0;
};

std::string shard_name(std::size_t k, std::size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", k + 1, n);
  return buf;
}

std::string gb(std::uint64_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f GB (%.3f GiB)", static_cast<double>(bytes) / 1e9,
                static_cast<double>(bytes) / static_cast<double>(1ULL << 30));
  return buf;
}

// Greedy: tensors in order, a new shard when the next tensor would overflow a non-empty one.
std::vector<Shard> assign_shards(const std::vector<ramq::bench::TensorSpec>& t, std::size_t dsize,
                                 std::uint64_t shard_bytes) {
  std::vector<Shard> shards(1);
  for (std::size_t i = 0; i < t.size(); ++i) {
    const auto b = static_cast<std::uint64_t>(t[i].numel()) * dsize;
    if (!shards.back().tensors.empty() && shards.back().bytes + b > shard_bytes) shards.emplace_back();
    shards.back().tensors.push_back(i);
    shards.back().bytes += b;
  }
  return shards;
}

// Writes batches of chunks on a background thread while the next batch is generated.
class OverlappedWriter {
 public:
  explicit OverlappedWriter(const fs::path& path) : path_(path), out_(path, std::ios::binary | std::ios::trunc) {
    if (!out_) throw std::runtime_error("cannot create " + path.string());
  }
  void write_now(const std::string& s) {
    wait();
    put(s.data(), s.size());
  }
  // Starts writing the first n bytes of buf (owned until the next call) after the previous write
  // has finished; returns the previous write's buffer for reuse.
  std::vector<std::byte> write_async(std::vector<std::byte>&& buf, std::size_t n) {
    wait();
    std::vector<std::byte> old = std::move(pending_buf_);
    pending_buf_ = std::move(buf);
    pending_ = std::async(std::launch::async, [this, n] { put(reinterpret_cast<const char*>(pending_buf_.data()), n); });
    return old;
  }
  void wait() {
    if (pending_.valid()) pending_.get();
  }
  void close() {
    wait();
    out_.close();
    if (!out_) throw std::runtime_error("error writing " + path_.string());
  }

 private:
  void put(const char* p, std::size_t n) {
    out_.write(p, static_cast<std::streamsize>(n));
    if (!out_) throw std::runtime_error("error writing " + path_.string() + " (disk full?)");
  }
  fs::path path_;
  std::ofstream out_;
  std::future<void> pending_;
  std::vector<std::byte> pending_buf_;
};

struct Generator {
  std::uint64_t seed = 0;
  ramq::DType dtype = ramq::DType::BF16;
  unsigned threads = 1;
  std::uint64_t done_bytes = 0, total_bytes = 0;
  std::vector<std::byte> buf;  // the batch being generated (another one is being written)
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now(), last_report = start;

  void tensor(OverlappedWriter& w, const ramq::bench::TensorSpec& spec, std::size_t index) {
    const std::size_t dsize = ramq::dtype_size(dtype);
    const std::int64_t n = spec.numel();
    const std::int64_t cols = spec.shape.back();
    const std::int64_t rows = spec.shape.size() >= 2 ? n / cols : 1;
    std::optional<ramq::bench::TensorGen> gen;
    if (!spec.norm) gen.emplace(seed, index, rows, cols);
    const std::int64_t chunks = (n + kChunkElems - 1) / kChunkElems;
    const std::int64_t batch = 4 * static_cast<std::int64_t>(threads);
    const std::size_t chunk_bytes = static_cast<std::size_t>(kChunkElems) * dsize;
    for (std::int64_t first = 0; first < chunks; first += batch) {
      const std::int64_t count = std::min(batch, chunks - first);
      buf.resize(static_cast<std::size_t>(count) * chunk_bytes);
      ramq::parallel_for(static_cast<std::size_t>(count), threads, [&](std::size_t ci) {
        thread_local std::vector<float> scratch;
        scratch.resize(static_cast<std::size_t>(kChunkElems));
        const std::int64_t begin = (first + static_cast<std::int64_t>(ci)) * kChunkElems;
        const std::int64_t len = std::min(kChunkElems, n - begin);
        if (gen) {
          gen->generate(begin, scratch.data(), len);
        } else {
          std::fill_n(scratch.begin(), len, 1.0f);
        }
        ramq::convert_from_f32(dtype, std::span<const float>(scratch.data(), static_cast<std::size_t>(len)),
                               std::span<std::byte>(buf.data() + ci * chunk_bytes, static_cast<std::size_t>(len) * dsize));
      });
      const std::int64_t elems = std::min(n, (first + count) * kChunkElems) - first * kChunkElems;
      const std::size_t bytes = static_cast<std::size_t>(elems) * dsize;
      buf = w.write_async(std::move(buf), bytes);
      done_bytes += bytes;
      report();
    }
  }

  void report() {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_report < std::chrono::seconds(5)) return;
    last_report = now;
    const double s = std::chrono::duration<double>(now - start).count();
    std::fprintf(stderr, "ramq_make_synthetic: %.1f%% (%.2f GB, %.0f MB/s)\n",
                 100.0 * static_cast<double>(done_bytes) / static_cast<double>(total_bytes),
                 static_cast<double>(done_bytes) / 1e9, static_cast<double>(done_bytes) / 1e6 / s);
  }
};

std::string safetensors_header(const std::vector<ramq::bench::TensorSpec>& t, const Shard& shard,
                               ramq::DType dtype) {
  json h = json::object();
  std::uint64_t off = 0;
  for (std::size_t i : shard.tensors) {
    const auto b = static_cast<std::uint64_t>(t[i].numel()) * ramq::dtype_size(dtype);
    h[t[i].name] = {{"dtype", std::string(ramq::dtype_name(dtype))}, {"shape", t[i].shape}, {"data_offsets", {off, off + b}}};
    off += b;
  }
  h["__metadata__"] = {{"format", "pt"}};
  std::string text = h.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  std::uint64_t len = text.size();
  for (int k = 0; k < 8; ++k) out[static_cast<std::size_t>(k)] = static_cast<char>((len >> (8 * k)) & 0xffU);
  return out + text;
}

void write_text(const fs::path& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << s;
  f.close();
  if (!f) throw std::runtime_error("error writing " + p.string());
}

// Qwen3.5-MoE's config.json: the text model's fields under text_config, as released.
json qwen3_5_moe_config(const ramq::bench::ModelShape& s, const char* torch_dtype) {
  json layer_types = json::array();
  for (std::int64_t i = 0; i < s.layers; ++i)
    layer_types.push_back((i + 1) % s.full_attention_interval != 0 ? "linear_attention" : "full_attention");
  const json text = {
      {"model_type", "qwen3_5_moe_text"}, {"hidden_size", s.hidden}, {"num_hidden_layers", s.layers},
      {"num_attention_heads", s.heads}, {"num_key_value_heads", s.kv_heads}, {"head_dim", s.head_dim()},
      {"vocab_size", s.vocab}, {"max_position_embeddings", 262144}, {"rms_norm_eps", 1e-6}, {"hidden_act", "silu"},
      {"attention_bias", false}, {"linear_conv_kernel_dim", 4}, {"linear_key_head_dim", s.linear_head_dim},
      {"linear_value_head_dim", s.linear_head_dim}, {"linear_num_key_heads", s.linear_heads},
      {"linear_num_value_heads", s.linear_value_heads}, {"num_experts", s.experts},
      {"num_experts_per_tok", s.experts_per_tok}, {"moe_intermediate_size", s.expert_ffn},
      {"shared_expert_intermediate_size", s.expert_ffn}, {"full_attention_interval", s.full_attention_interval},
      {"layer_types", layer_types}, {"tie_word_embeddings", s.tied}, {"torch_dtype", torch_dtype},
      {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", 10000000.0}, {"partial_rotary_factor", 0.25},
                           {"mrope_section", {11, 11, 10}}, {"mrope_interleaved", true}}}};
  return {{"architectures", {"Qwen3_5MoeForConditionalGeneration"}}, {"model_type", "qwen3_5_moe"},
          {"text_config", text}, {"tie_word_embeddings", s.tied}};
}

json config_json(const ramq::bench::ModelShape& s, ramq::DType dtype) {
  const char* torch_dtype = dtype == ramq::DType::BF16 ? "bfloat16" : dtype == ramq::DType::F16 ? "float16" : "float32";
  json c = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_size", s.hidden},
            {"intermediate_size", s.ffn}, {"num_hidden_layers", s.layers}, {"num_attention_heads", s.heads},
            {"num_key_value_heads", s.kv_heads}, {"head_dim", s.head_dim()}, {"vocab_size", s.vocab},
            {"max_position_embeddings", 8192}, {"rms_norm_eps", 1e-5}, {"rope_theta", 500000.0},
            {"tie_word_embeddings", s.tied}, {"hidden_act", "silu"}, {"torch_dtype", torch_dtype}};
  if (s.hybrid) return qwen3_5_moe_config(s, torch_dtype);
  if (s.experts > 0) {  // Qwen3-MoE's fields
    c["architectures"] = {"Qwen3MoeForCausalLM"};
    c["model_type"] = "qwen3_moe";
    c["num_experts"] = s.experts;
    c["num_experts_per_tok"] = s.experts_per_tok;
    c["moe_intermediate_size"] = s.expert_ffn;
    c["norm_topk_prob"] = true;
    c["decoder_sparse_step"] = 1;
    c["mlp_only_layers"] = json::array();
    c["attention_bias"] = false;
  }
  return c;
}

int run(int argc, char** argv) {
  CLI::App app{"Writes a deterministic synthetic Llama-shaped Hugging Face checkpoint for ramq's benchmarks"};
  std::string preset = "1b", dtype_name = "BF16", output;
  ramq::bench::ModelShape o{};
  bool tied = false, untied = false, dry_run = false, force = false;
  double shard_gb = 4.0;
  std::uint64_t seed = 42;
  unsigned threads = 0;
  std::string presets;
  for (const auto& n : ramq::bench::preset_names()) presets += (presets.empty() ? "" : ", ") + n;
  app.add_option("--preset", preset, "Shape preset: " + presets)->capture_default_str();
  app.add_option("--hidden", o.hidden, "Override: hidden size");
  app.add_option("--layers", o.layers, "Override: number of layers");
  app.add_option("--heads", o.heads, "Override: attention heads");
  app.add_option("--kv-heads", o.kv_heads, "Override: key/value heads");
  app.add_option("--ffn", o.ffn, "Override: MLP intermediate size");
  app.add_option("--vocab", o.vocab, "Override: vocabulary size");
  app.add_flag("--tied", tied, "Override: tied embeddings (no lm_head)");
  app.add_flag("--untied", untied, "Override: separate lm_head");
  app.add_option("--dtype", dtype_name, "Weight dtype")->check(CLI::IsMember({"BF16", "F16", "F32"}))->capture_default_str();
  app.add_option("--shard-gb", shard_gb, "Largest shard, GB (10^9 bytes)")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--seed", seed, "Seed of the weights")->capture_default_str();
  app.add_option("--threads", threads, "Generator threads (0 = all cores); the bytes do not depend on it")->capture_default_str();
  app.add_option("-o,--output", output, "Output directory (required unless --dry-run)");
  app.add_flag("--dry-run", dry_run, "Print shapes, parameter count and bytes; write nothing");
  app.add_flag("--force", force, "Regenerate when OUTPUT holds a different synthetic model (synthetic.json)");
  try {
    app.parse(argc, argv);
    if (tied && untied) throw CLI::ValidationError("--tied and --untied exclude each other");
    if (!dry_run && output.empty()) throw CLI::RequiredError("--output");
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  auto shape_opt = ramq::bench::preset_shape(preset);
  if (!shape_opt) {
    std::fprintf(stderr, "ramq_make_synthetic: unknown preset '%s' (known: %s)\n", preset.c_str(), presets.c_str());
    return 2;
  }
  ramq::bench::ModelShape s = *shape_opt;
  for (auto [dst, v] : {std::pair{&s.hidden, o.hidden}, {&s.layers, o.layers}, {&s.heads, o.heads},
                        {&s.kv_heads, o.kv_heads}, {&s.ffn, o.ffn}, {&s.vocab, o.vocab}})
    if (v != 0) *dst = v;
  if (tied) s.tied = true;
  if (untied) s.tied = false;
  if (s.hidden <= 0 || s.layers <= 0 || s.heads <= 0 || s.kv_heads <= 0 || s.ffn <= 0 || s.vocab <= 0 ||
      s.hidden % s.heads != 0 || s.heads % s.kv_heads != 0) {
    std::fprintf(stderr, "ramq_make_synthetic: bad shape: sizes must be positive, heads must divide hidden and "
                         "kv-heads must divide heads\n");
    return 2;
  }
  const ramq::DType dtype = *ramq::parse_dtype(dtype_name);
  const std::size_t dsize = ramq::dtype_size(dtype);
  const auto shard_bytes = static_cast<std::uint64_t>(shard_gb * 1e9);
  const auto tensors = ramq::bench::llama_tensors(s);
  const auto shards = assign_shards(tensors, dsize, shard_bytes);
  std::uint64_t params = 0, largest = 0;
  std::string largest_name;
  for (const auto& t : tensors) {
    params += static_cast<std::uint64_t>(t.numel());
    if (static_cast<std::uint64_t>(t.numel()) > largest) largest = static_cast<std::uint64_t>(t.numel()), largest_name = t.name;
  }
  const std::uint64_t total = params * dsize;
  json stamp = {{"generator", "ramq_make_synthetic"}, {"version", kGeneratorVersion},
                      {"hidden", s.hidden}, {"layers", s.layers}, {"heads", s.heads}, {"kv_heads", s.kv_heads},
                      {"ffn", s.ffn}, {"vocab", s.vocab}, {"tied", s.tied}, {"dtype", dtype_name},
                      {"shard_bytes", shard_bytes}, {"seed", seed}, {"params", params}, {"bytes", total}};
  if (s.hybrid)
    stamp.update({{"hybrid", true}, {"linear_heads", s.linear_heads}, {"linear_value_heads", s.linear_value_heads},
                  {"linear_head_dim", s.linear_head_dim}, {"full_attention_interval", s.full_attention_interval}});
  if (s.experts > 0)
    stamp.update({{"experts", s.experts}, {"experts_per_tok", s.experts_per_tok}, {"expert_ffn", s.expert_ffn},
                    {"head_dim", s.head_dim()}});

  std::printf("shape: hidden %lld, layers %lld, heads %lld, kv-heads %lld (head_dim %lld), ffn %lld, vocab %lld, %s\n",
              static_cast<long long>(s.hidden), static_cast<long long>(s.layers), static_cast<long long>(s.heads),
              static_cast<long long>(s.kv_heads), static_cast<long long>(s.head_dim()), static_cast<long long>(s.ffn),
              static_cast<long long>(s.vocab), s.tied ? "tied embeddings" : "untied lm_head");
  if (dry_run) {
    std::map<std::string, std::pair<std::vector<std::int64_t>, int>> roles;  // role -> shape, count
    for (const auto& t : tensors) {
      std::string role = t.name;
      if (role.rfind("model.layers.", 0) == 0) role = "layers.N." + role.substr(role.find('.', 13) + 1);
      auto& r = roles[role];
      r.first = t.shape;
      ++r.second;
    }
    for (const auto& [role, r] : roles) {
      std::string dims;
      for (auto d : r.first) dims += (dims.empty() ? "" : " x ") + std::to_string(d);
      std::printf("  %-40s %-14s x%d\n", role.c_str(), dims.c_str(), r.second);
    }
  }
  std::printf("tensors: %zu, parameters: %llu (%.3f B), %s: %s in %zu shard(s)\n", tensors.size(),
              static_cast<unsigned long long>(params), static_cast<double>(params) / 1e9, dtype_name.c_str(),
              gb(total).c_str(), shards.size());
  std::printf("largest tensor: %s, %llu elements = %s as float32; memory bound 2 x that + 512 MiB = %s\n",
              largest_name.c_str(), static_cast<unsigned long long>(largest), gb(largest * 4).c_str(),
              gb(2 * largest * 4 + kOverheadBytes).c_str());
  if (dry_run) return 0;

  const fs::path out = output;
  if (fs::exists(out)) {
    const fs::path stamp_file = out / "synthetic.json";
    json existing;
    if (fs::exists(stamp_file)) {
      std::ifstream f(stamp_file);
      existing = json::parse(f, nullptr, /*allow_exceptions=*/false);
    }
    if (existing == stamp) {
      std::printf("%s is up to date (synthetic.json matches): nothing written\n", out.string().c_str());
      return 0;
    }
    if (!force || !fs::exists(stamp_file)) {
      std::fprintf(stderr, "ramq_make_synthetic: %s exists and %s\n", out.string().c_str(),
                   fs::exists(stamp_file) ? "holds a different synthetic model (use --force to replace it)"
                                          : "is not a synthetic model (no synthetic.json): not touched");
      return 1;
    }
    fs::remove_all(out);
  }
  const fs::path tmp = out.string() + ".tmp-synthetic";
  fs::remove_all(tmp);
  fs::create_directories(tmp);

  Generator g;
  g.seed = seed;
  g.dtype = dtype;
  g.threads = ramq::resolve_threads(threads);
  g.total_bytes = total;
  json weight_map = json::object();
  for (std::size_t k = 0; k < shards.size(); ++k) {
    const std::string name = shard_name(k, shards.size());
    OverlappedWriter w(tmp / name);
    w.write_now(safetensors_header(tensors, shards[k], dtype));
    for (std::size_t i : shards[k].tensors) {
      g.tensor(w, tensors[i], i);
      weight_map[tensors[i].name] = name;
    }
    w.close();
  }
  write_text(tmp / "model.safetensors.index.json",
             json{{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}}.dump(2) + "\n");
  write_text(tmp / "config.json", config_json(s, dtype).dump(2) + "\n");
  write_text(tmp / "synthetic.json", stamp.dump(2) + "\n");
  fs::rename(tmp, out);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - g.start).count();
  std::printf("wrote %s: %s in %.1f s (%.0f MB/s, %u threads)\n", out.string().c_str(), gb(total).c_str(), secs,
              static_cast<double>(total) / 1e6 / secs, g.threads);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ramq_make_synthetic: error: %s\n", e.what());
    return 1;
  }
}
