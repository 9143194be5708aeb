// llama_peer: loading the llama.cpp libraries of the npm package and checking their ABI (see
// llama_abi.h), and the RAII wrappers.
#include "llama_abi.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstring>

namespace llama_peer {

[[noreturn]] void abi_mismatch(const std::string& what) {
  throw std::runtime_error("llama.cpp ABI check failed: " + what +
                           " -- these libraries are not the llama.cpp " + abi::kLlamaTag +
                           " that llama_peer's declarations were written for (node-llama-cpp 3.22.1)");
}

// ------------------------------------------------------------------------------------------
// Loading the libraries
// ------------------------------------------------------------------------------------------
namespace fs = std::filesystem;

namespace {

// Finds `stem.so` or `stem.v<version>.so` in dir.
fs::path find_lib(const fs::path& dir, const std::string& stem) {
  if (fs::exists(dir / (stem + ".so"))) return dir / (stem + ".so");
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(stem + ".v", 0) == 0 && name.size() > 3 && name.compare(name.size() - 3, 3, ".so") == 0) {
      found.push_back(e.path());
    }
  }
  if (found.size() != 1) {
    throw std::runtime_error("expected exactly one " + stem + ".so or " + stem + ".v*.so in " + dir.string() +
                             ", found " + std::to_string(found.size()));
  }
  return found.front();
}

void* open_lib(const fs::path& path) {
  void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!h) throw std::runtime_error(std::string("dlopen failed: ") + ::dlerror());
  return h;
}

template <class F>
void bind(void* lib, F& fn, const char* name) {
  void* sym = ::dlsym(lib, name);
  if (!sym) throw std::runtime_error(std::string("symbol not found in the llama.cpp libraries: ") + name);
  static_assert(sizeof(F) == sizeof(void*));
  std::memcpy(&fn, &sym, sizeof fn);
}

std::int32_t g_last_level = 0;

void log_cb(std::int32_t level, const char* text, void* /*user_data*/) {
  if (level != abi::GGML_LOG_LEVEL_CONT) g_last_level = level;
  if (g_verbose || g_last_level >= abi::GGML_LOG_LEVEL_WARN) std::fputs(text, stderr);
}

// A default-params function called with a hidden result pointer into an over-sized buffer
// pre-filled with a sentinel (see the strategy note in llama_abi.h).
template <class T>
abi::Padded<T> defaults(void* (*fn)(void*), const char* name) {
  abi::Padded<T> buf;
  std::memset(&buf, abi::kSentinel, sizeof buf);
  void* ret = fn(&buf);
  if (ret != &buf) abi_mismatch(std::string(name) + " did not return its hidden result pointer");
  for (unsigned char c : buf.tail) {
    if (c != abi::kSentinel) abi_mismatch(std::string(name) + " wrote past " + std::to_string(sizeof(T)) + " bytes");
  }
  return buf;
}

bool byte_is(const void* p, std::size_t off, unsigned char v) { return static_cast<const unsigned char*>(p)[off] == v; }

}  // namespace

bool g_verbose = false;

// ------------------------------------------------------------------------------------------
// Llama
// ------------------------------------------------------------------------------------------
Llama::Llama(const fs::path& dir) {
  if (!fs::is_directory(dir)) {
    throw std::runtime_error("llama.cpp library directory not found: " + dir.string() +
                             " (install it with: cd tests/peer && npm ci)");
  }
  base_ = open_lib(find_lib(dir, "libggml-base"));
  ggml_ = open_lib(find_lib(dir, "libggml"));
  llama_ = open_lib(find_lib(dir, "libllama"));
  bind(ggml_, a.ggml_backend_load_all_from_path, "ggml_backend_load_all_from_path");
  bind(ggml_, a.ggml_backend_dev_count, "ggml_backend_dev_count");
  bind(ggml_, a.ggml_backend_dev_get, "ggml_backend_dev_get");
  bind(ggml_, a.ggml_backend_dev_by_type, "ggml_backend_dev_by_type");
  bind(ggml_, a.ggml_backend_dev_name, "ggml_backend_dev_name");
  bind(ggml_, a.ggml_backend_dev_description, "ggml_backend_dev_description");
#define LLAMA_PEER_BIND(name) bind(llama_, a.name, #name)
  LLAMA_PEER_BIND(llama_version);
  LLAMA_PEER_BIND(llama_max_devices);
  LLAMA_PEER_BIND(llama_log_set);
  LLAMA_PEER_BIND(llama_backend_init);
  LLAMA_PEER_BIND(llama_backend_free);
  LLAMA_PEER_BIND(llama_model_default_params);
  LLAMA_PEER_BIND(llama_context_default_params);
  LLAMA_PEER_BIND(llama_model_quantize_default_params);
  LLAMA_PEER_BIND(llama_model_load_from_file);
  LLAMA_PEER_BIND(llama_model_free);
  LLAMA_PEER_BIND(llama_init_from_model);
  LLAMA_PEER_BIND(llama_free);
  LLAMA_PEER_BIND(llama_n_ctx);
  LLAMA_PEER_BIND(llama_n_batch);
  LLAMA_PEER_BIND(llama_n_ubatch);
  LLAMA_PEER_BIND(llama_n_threads);
  LLAMA_PEER_BIND(llama_n_threads_batch);
  LLAMA_PEER_BIND(llama_model_get_vocab);
  LLAMA_PEER_BIND(llama_vocab_n_tokens);
  LLAMA_PEER_BIND(llama_model_n_ctx_train);
  LLAMA_PEER_BIND(llama_model_n_embd);
  LLAMA_PEER_BIND(llama_model_n_layer);
  LLAMA_PEER_BIND(llama_model_n_head);
  LLAMA_PEER_BIND(llama_model_n_head_kv);
  LLAMA_PEER_BIND(llama_model_desc);
  LLAMA_PEER_BIND(llama_model_ftype);
  LLAMA_PEER_BIND(llama_ftype_name);
  LLAMA_PEER_BIND(llama_model_size);
  LLAMA_PEER_BIND(llama_model_n_params);
  LLAMA_PEER_BIND(llama_model_quantize);
  LLAMA_PEER_BIND(llama_get_memory);
  LLAMA_PEER_BIND(llama_memory_clear);
  LLAMA_PEER_BIND(llama_batch_init);
  LLAMA_PEER_BIND(llama_batch_free);
  LLAMA_PEER_BIND(llama_decode);
  LLAMA_PEER_BIND(llama_get_logits_ith);
  LLAMA_PEER_BIND(llama_tokenize);
  LLAMA_PEER_BIND(llama_vocab_type);
  LLAMA_PEER_BIND(llama_model_meta_val_str);
  LLAMA_PEER_BIND(llama_model_chat_template);
  LLAMA_PEER_BIND(llama_chat_apply_template);
#undef LLAMA_PEER_BIND

  const char* version = a.llama_version();
  version_ = version ? version : "";
  if (version_.rfind(abi::kLlamaVersionPrefix, 0) != 0) {
    abi_mismatch("llama_version() is \"" + version_ + "\", expected " + abi::kLlamaVersionPrefix + "*");
  }
  const std::size_t max_dev = a.llama_max_devices();
  if (max_dev < 1 || max_dev > 1024) abi_mismatch("llama_max_devices() = " + std::to_string(max_dev));

  a.llama_log_set(log_cb, nullptr);
  // node-llama-cpp builds ggml with GGML_BACKEND_DL=ON and GGML_CPU_ALL_VARIANTS=ON: libggml
  // registers no backend by itself, the CPU backend is one of the libggml-cpu-<arch>.so files
  // next to it. Like node-llama-cpp's addon (addonLoadBackends), let ggml pick the best variant
  // for this CPU from that directory.
  a.ggml_backend_load_all_from_path(dir.c_str());
  if (a.ggml_backend_dev_by_type(abi::GGML_BACKEND_DEVICE_TYPE_CPU) == nullptr) {
    throw std::runtime_error("ggml found no CPU backend (libggml-cpu-*.so) in " + dir.string());
  }
  a.llama_backend_init();
  check_default_params();
}

Llama::~Llama() { a.llama_backend_free(); }

std::vector<std::string> Llama::devices() const {
  std::vector<std::string> out;
  const std::size_t n = a.ggml_backend_dev_count();
  for (std::size_t i = 0; i < n; ++i) {
    auto* d = a.ggml_backend_dev_get(i);
    out.push_back(std::string(a.ggml_backend_dev_name(d)) + ": " + a.ggml_backend_dev_description(d));
  }
  return out;
}

abi::Padded<abi::ModelParams> Llama::model_defaults() const {
  return defaults<abi::ModelParams>(a.llama_model_default_params, "llama_model_default_params");
}
abi::Padded<abi::ContextParams> Llama::context_defaults() const {
  return defaults<abi::ContextParams>(a.llama_context_default_params, "llama_context_default_params");
}
abi::Padded<abi::QuantizeParams> Llama::quantize_defaults() const {
  return defaults<abi::QuantizeParams>(a.llama_model_quantize_default_params, "llama_model_quantize_default_params");
}

// Layout fingerprint: every field of the three default structs has the value that
// llama.cpp v0.5.0's llama_*_default_params() sets (bools read as raw bytes).
void Llama::check_default_params() const {
  std::vector<std::string> bad;
  auto expect = [&bad](bool ok, const char* what) {
    if (!ok) bad.emplace_back(what);
  };
  {
    const auto buf = model_defaults();
    const abi::ModelParams& m = buf.p;
    using M = abi::ModelParams;
    expect(m.devices == nullptr && m.tensor_buft_overrides == nullptr, "model.devices/tensor_buft_overrides");
    expect(m.n_gpu_layers == -1, "model.n_gpu_layers == -1");
    expect(m.split_mode == abi::LLAMA_SPLIT_MODE_LAYER, "model.split_mode == LAYER");
    expect(m.load_mode == abi::LLAMA_LOAD_MODE_AUTO, "model.load_mode == AUTO");
    expect(m.lazy_mode == abi::LLAMA_LAZY_MODE_AUTO, "model.lazy_mode == AUTO");
    expect(m.main_gpu == 0 && m.tensor_split == nullptr, "model.main_gpu/tensor_split");
    expect(m.progress_callback == nullptr && m.progress_callback_user_data == nullptr && m.kv_overrides == nullptr,
           "model.progress_callback/kv_overrides");
    expect(byte_is(&m, offsetof(M, vocab_only), 0) && byte_is(&m, offsetof(M, check_tensors), 0) &&
               byte_is(&m, offsetof(M, use_extra_bufts), 1) && byte_is(&m, offsetof(M, no_host), 0) &&
               byte_is(&m, offsetof(M, no_alloc), 0) && byte_is(&m, offsetof(M, load_mtp), 0),
           "model bools (vocab_only..load_mtp == 0,0,1,0,0,0)");
  }
  {
    const auto buf = context_defaults();
    const abi::ContextParams& c = buf.p;
    using C = abi::ContextParams;
    expect(c.n_ctx == 512, "context.n_ctx == 512");
    expect(c.n_batch == 2048, "context.n_batch == 2048");
    expect(c.n_ubatch == 512, "context.n_ubatch == 512");
    expect(c.n_seq_max == 1 && c.n_rs_seq == 0 && c.n_outputs_max == 0 && c.n_outputs_max_per_seq == 1,
           "context.n_seq_max/n_rs_seq/n_outputs_max/n_outputs_max_per_seq == 1,0,0,1");
    expect(c.n_threads == abi::GGML_DEFAULT_N_THREADS && c.n_threads_batch == abi::GGML_DEFAULT_N_THREADS,
           "context.n_threads/n_threads_batch == 4");
    expect(c.ctx_type == 0 && c.rope_scaling_type == -1 && c.pooling_type == -1 && c.attention_type == -1 &&
               c.flash_attn_type == -1,
           "context enums (ctx_type..flash_attn_type == 0,-1,-1,-1,-1)");
    expect(c.rope_freq_base == 0.0f && c.rope_freq_scale == 0.0f && c.yarn_ext_factor == -1.0f &&
               c.yarn_attn_factor == -1.0f && c.yarn_beta_fast == -1.0f && c.yarn_beta_slow == -1.0f &&
               c.yarn_orig_ctx == 0 && c.defrag_thold == -1.0f,
           "context rope/yarn floats");
    expect(c.cb_eval == nullptr && c.cb_eval_user_data == nullptr, "context.cb_eval");
    expect(c.type_k == abi::GGML_TYPE_F16 && c.type_v == abi::GGML_TYPE_F16, "context.type_k/type_v == F16");
    expect(c.abort_callback == nullptr && c.abort_callback_data == nullptr, "context.abort_callback");
    expect(byte_is(&c, offsetof(C, embeddings), 0) && byte_is(&c, offsetof(C, offload_kqv), 1) &&
               byte_is(&c, offsetof(C, no_perf), 1) && byte_is(&c, offsetof(C, op_offload), 1) &&
               byte_is(&c, offsetof(C, swa_full), 1) && byte_is(&c, offsetof(C, kv_unified), 0),
           "context bools (embeddings..kv_unified == 0,1,1,1,1,0)");
    expect(c.samplers == nullptr && c.n_samplers == 0 && c.ctx_other == nullptr, "context.samplers/ctx_other");
  }
  {
    const auto buf = quantize_defaults();
    const abi::QuantizeParams& q = buf.p;
    using Q = abi::QuantizeParams;
    expect(q.nthread == 0, "quantize.nthread == 0");
    expect(q.ftype == abi::LLAMA_FTYPE_MOSTLY_Q8_0, "quantize.ftype == Q8_0");
    expect(q.output_tensor_type == abi::GGML_TYPE_COUNT && q.token_embedding_type == abi::GGML_TYPE_COUNT,
           "quantize.output_tensor_type/token_embedding_type == GGML_TYPE_COUNT (43)");
    expect(byte_is(&q, offsetof(Q, allow_requantize), 0) && byte_is(&q, offsetof(Q, quantize_output_tensor), 1) &&
               byte_is(&q, offsetof(Q, only_copy), 0) && byte_is(&q, offsetof(Q, pure), 0) &&
               byte_is(&q, offsetof(Q, keep_split), 0) && byte_is(&q, offsetof(Q, dry_run), 0),
           "quantize bools (allow_requantize..dry_run == 0,1,0,0,0,0)");
    expect(q.imatrix == nullptr && q.kv_overrides == nullptr && q.tt_overrides == nullptr &&
               q.prune_layers == nullptr,
           "quantize pointers");
    expect(q.max_buf_size == 8ull * 1024 * 1024 * 1024, "quantize.max_buf_size == 8 GiB");
  }
  if (!bad.empty()) {
    std::string msg = "default parameter values differ from llama.h " + std::string(abi::kLlamaTag) + ":";
    for (const auto& b : bad) msg += " [" + b + "]";
    abi_mismatch(msg);
  }
}

// ------------------------------------------------------------------------------------------
// RAII wrappers
// ------------------------------------------------------------------------------------------
Model::Model(const Llama& L, const std::string& path, bool vocab_only) : L_(L) {
  auto mp = L.model_defaults();
  mp.p.n_gpu_layers = 0;                       // CPU only
  mp.p.load_mode = abi::LLAMA_LOAD_MODE_NONE;  // read the file, no mmap
  mp.p.vocab_only = vocab_only;
  m_ = L.a.llama_model_load_from_file(path.c_str(), mp);
  if (!m_) throw std::runtime_error("llama.cpp failed to load model " + path + " (run with --verbose for details)");
}

Model::~Model() { L_.a.llama_model_free(m_); }

Context::Context(const Llama& L, const Model& model, std::uint32_t n_ctx, std::int32_t threads, bool f32_attention)
    : L_(L) {
  auto cp = L.context_defaults();
  if (f32_attention) {
    cp.p.type_k = abi::GGML_TYPE_F32;
    cp.p.type_v = abi::GGML_TYPE_F32;
    cp.p.flash_attn_type = abi::LLAMA_FLASH_ATTN_TYPE_DISABLED;
  }
  cp.p.n_ctx = n_ctx;
  cp.p.n_batch = n_ctx;
  cp.p.n_ubatch = n_ctx;
  cp.p.n_threads = threads;
  cp.p.n_threads_batch = threads;
  c_ = L.a.llama_init_from_model(model.get(), cp);
  if (!c_) throw std::runtime_error("llama.cpp failed to create a context (run with --verbose for details)");
  // Read the written fields back through the API.
  if (L.a.llama_n_batch(c_) != n_ctx || L.a.llama_n_ubatch(c_) != n_ctx || L.a.llama_n_ctx(c_) < n_ctx ||
      L.a.llama_n_threads(c_) != threads || L.a.llama_n_threads_batch(c_) != threads) {
    abi_mismatch("context read-back: n_ctx " + std::to_string(L.a.llama_n_ctx(c_)) + ", n_batch " +
                 std::to_string(L.a.llama_n_batch(c_)) + ", n_ubatch " + std::to_string(L.a.llama_n_ubatch(c_)) +
                 ", n_threads " + std::to_string(L.a.llama_n_threads(c_)) + "/" +
                 std::to_string(L.a.llama_n_threads_batch(c_)) + " (requested ctx " + std::to_string(n_ctx) +
                 ", threads " + std::to_string(threads) + ")");
  }
}

Context::~Context() { L_.a.llama_free(c_); }

BatchHolder::BatchHolder(const Llama& L, std::int32_t n) : L_(L), b_(L.a.llama_batch_init(n, 0, 1)) {
  if (b_.n_tokens != 0 || b_.embd != nullptr || !b_.token || !b_.pos || !b_.n_seq_id || !b_.seq_id || !b_.logits ||
      !b_.seq_id[0] || b_.seq_id[n] != nullptr) {
    abi_mismatch("llama_batch_init returned an unexpected llama_batch");
  }
}

BatchHolder::~BatchHolder() { L_.a.llama_batch_free(b_); }

}  // namespace llama_peer
