// llama_peer: unmodified llama.cpp, as the prebuilt shared libraries of the npm package
// @node-llama-cpp/linux-x64@3.22.1, used as an independent reference for ramq's tests and
// benchmarks. The libraries are dlopen()ed at run time (the package ships no headers), so every
// llama.cpp / ggml declaration used here is written out by hand below.
//
//   llama_peer ppl MODEL.gguf TOKENS.u32 [--ctx 256] [--threads N] [--max-tokens N] [--lib-dir DIR]
//   llama_peer quantize IN.gguf OUT.gguf TYPE [--threads N] [--lib-dir DIR]
//   llama_peer info MODEL.gguf [--lib-dir DIR]
//
// Common option: --verbose (pass llama.cpp's INFO/DEBUG log lines through to stderr).
// Exit status: 0 success, 1 runtime error (message on stderr), 2 usage error.
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#if !defined(__x86_64__) || !defined(__linux__)
#error "llama_peer relies on the x86-64 System V ABI (the npm package is linux-x64 only)"
#endif

#ifndef LLAMA_PEER_DEFAULT_LIB_DIR
#error "LLAMA_PEER_DEFAULT_LIB_DIR must be defined by the build"
#endif

namespace {

// ============================================================================================
// ABI of the llama.cpp inside @node-llama-cpp/linux-x64@3.22.1.
//
// Version: node-llama-cpp 3.22.1's llama/llama.cpp.info.json says
//   {"tag": "v0.5.0", "llamaCppGithubRepo": "ggml-org/llama.cpp"},
// llama/binariesGithubRelease.json says {"release": "v0.5.0"}, and the prebuilt package's
// bins/linux-x64/_nlcBuildMetadata.json says llamaCpp {"repo": "ggml-org/llama.cpp",
// "release": "v0.5.0"}; the libraries are libllama.v0.5.0.so / libggml.v0.5.0.so and
// llama_version() returns "0.5.0-dev".
// Source read: include/llama.h, ggml/include/ggml.h, ggml/include/ggml-backend.h and the
// default-parameter functions in src/llama-model.cpp, src/llama-context.cpp and
// src/llama-quant.cpp of llama.cpp tag v0.5.0, i.e. the source tree node-llama-cpp 3.22.1 builds
// its binaries from (llama/gitRelease.bundle in the node-llama-cpp npm package, HEAD commit
// de3ff815ea7d559ee917f063901b8986f038abc6).
//
// Struct-passing strategy (x86-64 System V):
//  * llama_model_params (80 bytes), llama_context_params (160) and llama_model_quantize_params
//    (64) are all larger than 16 bytes, i.e. of class MEMORY. A function returning one takes the
//    address to write it to in %rdi and returns that address in %rax; we call the
//    *_default_params() functions exactly that way (as `void *f(void *out)`) into a buffer that
//    is much larger than the struct and pre-filled with a sentinel, so a struct that is larger
//    than we think is detected (the sentinel past our size gets overwritten) instead of
//    corrupting memory.
//  * A MEMORY-class argument is copied onto the stack. llama_model_load_from_file(path, params)
//    and llama_init_from_model(model, params) have it as their only stack argument (the other
//    argument is a pointer in %rdi), so passing the over-sized buffer by value puts the real
//    struct at the same place; the extra trailing bytes are never read.
//  * llama_model_quantize takes the params by pointer.
//  * We only ever write the fields listed below; everything else keeps llama.cpp's own defaults.
//    Before writing, every field of each default struct is compared with the documented default
//    values (a layout fingerprint); after creating the context, llama_n_batch / llama_n_ubatch /
//    llama_n_threads / llama_n_threads_batch are read back to confirm the written offsets.
// ============================================================================================
namespace abi {

constexpr const char* kLlamaTag = "v0.5.0";
constexpr const char* kLlamaVersionPrefix = "0.5.0";  // llama_version() is "0.5.0-dev"

using llama_token = std::int32_t;
using llama_pos = std::int32_t;
using llama_seq_id = std::int32_t;
struct llama_model;
struct llama_context;
struct llama_vocab;
struct llama_memory_i;
using llama_memory_t = llama_memory_i*;
struct ggml_backend_device;
using ggml_backend_dev_t = ggml_backend_device*;

// enum llama_ftype (llama.h)
constexpr std::int32_t LLAMA_FTYPE_ALL_F32 = 0;
constexpr std::int32_t LLAMA_FTYPE_MOSTLY_F16 = 1;
constexpr std::int32_t LLAMA_FTYPE_MOSTLY_Q4_0 = 2;
constexpr std::int32_t LLAMA_FTYPE_MOSTLY_Q8_0 = 7;
constexpr std::int32_t LLAMA_FTYPE_MOSTLY_Q5_0 = 8;
constexpr std::int32_t LLAMA_FTYPE_MOSTLY_Q2_K = 10;
constexpr std::int32_t LLAMA_FTYPE_MOSTLY_Q3_K_S = 11;
constexpr std::int32_t LLAMA_FTYPE_MOSTLY_Q3_K_M = 12;
constexpr std::int32_t LLAMA_FTYPE_MOSTLY_Q3_K_L = 13;
constexpr std::int32_t LLAMA_FTYPE_MOSTLY_Q4_K_S = 14;
constexpr std::int32_t LLAMA_FTYPE_MOSTLY_Q4_K_M = 15;
constexpr std::int32_t LLAMA_FTYPE_MOSTLY_Q5_K_S = 16;
constexpr std::int32_t LLAMA_FTYPE_MOSTLY_Q5_K_M = 17;
constexpr std::int32_t LLAMA_FTYPE_MOSTLY_Q6_K = 18;
constexpr std::int32_t LLAMA_FTYPE_MOSTLY_BF16 = 32;

// Other enum values used by the default-value checks.
constexpr std::int32_t LLAMA_SPLIT_MODE_LAYER = 1;
constexpr std::int32_t LLAMA_LOAD_MODE_AUTO = -1;
constexpr std::int32_t LLAMA_LOAD_MODE_NONE = 0;  // read tensors into memory, no mmap
constexpr std::int32_t LLAMA_LAZY_MODE_AUTO = 1;
constexpr std::int32_t GGML_TYPE_F16 = 1;
constexpr std::int32_t GGML_TYPE_COUNT = 43;
constexpr std::int32_t GGML_DEFAULT_N_THREADS = 4;
constexpr std::int32_t GGML_BACKEND_DEVICE_TYPE_CPU = 0;
constexpr std::int32_t GGML_LOG_LEVEL_WARN = 3;
constexpr std::int32_t GGML_LOG_LEVEL_CONT = 5;

// struct llama_model_params (llama.h, v0.5.0)
struct ModelParams {
  void* devices;                      // ggml_backend_dev_t *
  const void* tensor_buft_overrides;  // const struct llama_model_tensor_buft_override *
  std::int32_t n_gpu_layers;          // WRITTEN (0)
  std::int32_t split_mode;            // enum llama_split_mode
  std::int32_t load_mode;             // enum llama_load_mode; WRITTEN (LLAMA_LOAD_MODE_NONE)
  std::int32_t lazy_mode;             // enum llama_lazy_mode
  std::int32_t main_gpu;
  const float* tensor_split;
  void* progress_callback;  // llama_progress_callback
  void* progress_callback_user_data;
  const void* kv_overrides;  // const struct llama_model_kv_override *
  bool vocab_only;
  bool check_tensors;
  bool use_extra_bufts;
  bool no_host;
  bool no_alloc;
  bool load_mtp;
};
static_assert(offsetof(ModelParams, n_gpu_layers) == 16);
static_assert(offsetof(ModelParams, load_mode) == 24);
static_assert(offsetof(ModelParams, tensor_split) == 40);
static_assert(offsetof(ModelParams, vocab_only) == 72);
static_assert(sizeof(ModelParams) == 80);

// struct llama_context_params (llama.h, v0.5.0)
struct ContextParams {
  std::uint32_t n_ctx;     // WRITTEN
  std::uint32_t n_batch;   // WRITTEN
  std::uint32_t n_ubatch;  // WRITTEN
  std::uint32_t n_seq_max;
  std::uint32_t n_rs_seq;
  std::uint32_t n_outputs_max;
  std::uint32_t n_outputs_max_per_seq;
  std::int32_t n_threads;        // WRITTEN
  std::int32_t n_threads_batch;  // WRITTEN
  std::int32_t ctx_type;
  std::int32_t rope_scaling_type;
  std::int32_t pooling_type;
  std::int32_t attention_type;
  std::int32_t flash_attn_type;
  float rope_freq_base;
  float rope_freq_scale;
  float yarn_ext_factor;
  float yarn_attn_factor;
  float yarn_beta_fast;
  float yarn_beta_slow;
  std::uint32_t yarn_orig_ctx;
  float defrag_thold;
  void* cb_eval;
  void* cb_eval_user_data;
  std::int32_t type_k;  // enum ggml_type
  std::int32_t type_v;
  void* abort_callback;
  void* abort_callback_data;
  bool embeddings;
  bool offload_kqv;
  bool no_perf;
  bool op_offload;
  bool swa_full;
  bool kv_unified;
  void* samplers;  // struct llama_sampler_seq_config *
  std::size_t n_samplers;
  void* ctx_other;  // struct llama_context *
};
static_assert(offsetof(ContextParams, n_threads) == 28);
static_assert(offsetof(ContextParams, n_threads_batch) == 32);
static_assert(offsetof(ContextParams, rope_freq_base) == 56);
static_assert(offsetof(ContextParams, cb_eval) == 88);
static_assert(offsetof(ContextParams, type_k) == 104);
static_assert(offsetof(ContextParams, embeddings) == 128);
static_assert(offsetof(ContextParams, samplers) == 136);
static_assert(sizeof(ContextParams) == 160);

// struct llama_model_quantize_params (llama.h, v0.5.0)
struct QuantizeParams {
  std::int32_t nthread;  // WRITTEN
  std::int32_t ftype;    // enum llama_ftype; WRITTEN
  std::int32_t output_tensor_type;
  std::int32_t token_embedding_type;
  bool allow_requantize;
  bool quantize_output_tensor;
  bool only_copy;
  bool pure;
  bool keep_split;
  bool dry_run;
  const void* imatrix;
  const void* kv_overrides;
  const void* tt_overrides;
  const std::int32_t* prune_layers;
  std::size_t max_buf_size;
};
static_assert(offsetof(QuantizeParams, allow_requantize) == 16);
static_assert(offsetof(QuantizeParams, imatrix) == 24);
static_assert(sizeof(QuantizeParams) == 64);

// struct llama_batch (llama.h, v0.5.0): 56 bytes, class MEMORY, passed/returned as such.
struct Batch {
  std::int32_t n_tokens;
  llama_token* token;
  float* embd;
  llama_pos* pos;
  std::int32_t* n_seq_id;
  llama_seq_id** seq_id;
  std::int8_t* logits;  // non-zero: output the logits of this token
};
static_assert(sizeof(Batch) == 56);

// A params struct followed by a generous tail (see the strategy note above).
constexpr std::size_t kTail = 1024;
constexpr unsigned char kSentinel = 0xA5;
template <class T>
struct Padded {
  T p;
  unsigned char tail[kTail];
};

using log_callback = void (*)(std::int32_t level, const char* text, void* user_data);

// Function pointer types; a comment gives the llama.h / ggml-backend.h prototype when ours differs.
struct Api {
  // libggml
  void (*ggml_backend_load_all_from_path)(const char* dir_path) = nullptr;
  std::size_t (*ggml_backend_dev_count)() = nullptr;
  ggml_backend_dev_t (*ggml_backend_dev_get)(std::size_t index) = nullptr;
  ggml_backend_dev_t (*ggml_backend_dev_by_type)(std::int32_t type) = nullptr;
  const char* (*ggml_backend_dev_name)(ggml_backend_dev_t device) = nullptr;
  const char* (*ggml_backend_dev_description)(ggml_backend_dev_t device) = nullptr;
  // libllama
  const char* (*llama_version)() = nullptr;
  std::size_t (*llama_max_devices)() = nullptr;
  void (*llama_log_set)(log_callback cb, void* user_data) = nullptr;
  void (*llama_backend_init)() = nullptr;
  void (*llama_backend_free)() = nullptr;
  // struct llama_model_params llama_model_default_params(void);  (hidden return pointer)
  void* (*llama_model_default_params)(void* out) = nullptr;
  // struct llama_context_params llama_context_default_params(void);  (hidden return pointer)
  void* (*llama_context_default_params)(void* out) = nullptr;
  // struct llama_model_quantize_params llama_model_quantize_default_params(void);  (hidden ptr)
  void* (*llama_model_quantize_default_params)(void* out) = nullptr;
  // struct llama_model * llama_model_load_from_file(const char *, struct llama_model_params);
  llama_model* (*llama_model_load_from_file)(const char* path, Padded<ModelParams> params) = nullptr;
  void (*llama_model_free)(llama_model* model) = nullptr;
  // struct llama_context * llama_init_from_model(struct llama_model *, struct llama_context_params);
  llama_context* (*llama_init_from_model)(llama_model* model, Padded<ContextParams> params) = nullptr;
  void (*llama_free)(llama_context* ctx) = nullptr;
  std::uint32_t (*llama_n_ctx)(const llama_context* ctx) = nullptr;
  std::uint32_t (*llama_n_batch)(const llama_context* ctx) = nullptr;
  std::uint32_t (*llama_n_ubatch)(const llama_context* ctx) = nullptr;
  std::int32_t (*llama_n_threads)(llama_context* ctx) = nullptr;
  std::int32_t (*llama_n_threads_batch)(llama_context* ctx) = nullptr;
  const llama_vocab* (*llama_model_get_vocab)(const llama_model* model) = nullptr;
  std::int32_t (*llama_vocab_n_tokens)(const llama_vocab* vocab) = nullptr;
  std::int32_t (*llama_model_n_ctx_train)(const llama_model* model) = nullptr;
  std::int32_t (*llama_model_n_embd)(const llama_model* model) = nullptr;
  std::int32_t (*llama_model_n_layer)(const llama_model* model) = nullptr;
  std::int32_t (*llama_model_n_head)(const llama_model* model) = nullptr;
  std::int32_t (*llama_model_n_head_kv)(const llama_model* model) = nullptr;
  std::int32_t (*llama_model_desc)(const llama_model* model, char* buf, std::size_t buf_size) = nullptr;
  std::int32_t (*llama_model_ftype)(const llama_model* model) = nullptr;  // enum llama_ftype
  const char* (*llama_ftype_name)(std::int32_t ftype) = nullptr;
  std::uint64_t (*llama_model_size)(const llama_model* model) = nullptr;
  std::uint64_t (*llama_model_n_params)(const llama_model* model) = nullptr;
  std::uint32_t (*llama_model_quantize)(const char* in, const char* out, const QuantizeParams* params) = nullptr;
  llama_memory_t (*llama_get_memory)(const llama_context* ctx) = nullptr;
  void (*llama_memory_clear)(llama_memory_t mem, bool data) = nullptr;
  Batch (*llama_batch_init)(std::int32_t n_tokens, std::int32_t embd, std::int32_t n_seq_max) = nullptr;
  void (*llama_batch_free)(Batch batch) = nullptr;
  std::int32_t (*llama_decode)(llama_context* ctx, Batch batch) = nullptr;
  float* (*llama_get_logits_ith)(llama_context* ctx, std::int32_t i) = nullptr;
};

}  // namespace abi

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void abi_mismatch(const std::string& what) {
  throw std::runtime_error("llama.cpp ABI check failed: " + what +
                           " -- these libraries are not the llama.cpp " + abi::kLlamaTag +
                           " that llama_peer's declarations were written for (node-llama-cpp 3.22.1)");
}

// ------------------------------------------------------------------------------------------
// Loading the libraries
// ------------------------------------------------------------------------------------------
namespace fs = std::filesystem;

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

bool g_verbose = false;
std::int32_t g_last_level = 0;

void log_cb(std::int32_t level, const char* text, void* /*user_data*/) {
  if (level != abi::GGML_LOG_LEVEL_CONT) g_last_level = level;
  if (g_verbose || g_last_level >= abi::GGML_LOG_LEVEL_WARN) std::fputs(text, stderr);
}

class Llama {
 public:
  explicit Llama(const fs::path& dir) {
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

  ~Llama() { a.llama_backend_free(); }  // the libraries stay loaded until exit
  Llama(const Llama&) = delete;
  Llama& operator=(const Llama&) = delete;

  const std::string& version() const { return version_; }

  std::vector<std::string> devices() const {
    std::vector<std::string> out;
    const std::size_t n = a.ggml_backend_dev_count();
    for (std::size_t i = 0; i < n; ++i) {
      auto* d = a.ggml_backend_dev_get(i);
      out.push_back(std::string(a.ggml_backend_dev_name(d)) + ": " + a.ggml_backend_dev_description(d));
    }
    return out;
  }

  abi::Padded<abi::ModelParams> model_defaults() const {
    return defaults<abi::ModelParams>(a.llama_model_default_params, "llama_model_default_params");
  }
  abi::Padded<abi::ContextParams> context_defaults() const {
    return defaults<abi::ContextParams>(a.llama_context_default_params, "llama_context_default_params");
  }
  abi::Padded<abi::QuantizeParams> quantize_defaults() const {
    return defaults<abi::QuantizeParams>(a.llama_model_quantize_default_params,
                                         "llama_model_quantize_default_params");
  }

  abi::Api a;

 private:
  template <class T>
  static abi::Padded<T> defaults(void* (*fn)(void*), const char* name) {
    abi::Padded<T> buf;
    std::memset(&buf, abi::kSentinel, sizeof buf);
    void* ret = fn(&buf);
    if (ret != &buf) abi_mismatch(std::string(name) + " did not return its hidden result pointer");
    for (unsigned char c : buf.tail) {
      if (c != abi::kSentinel) abi_mismatch(std::string(name) + " wrote past " + std::to_string(sizeof(T)) + " bytes");
    }
    return buf;
  }

  static bool byte_is(const void* p, std::size_t off, unsigned char v) {
    return static_cast<const unsigned char*>(p)[off] == v;
  }

  // Layout fingerprint: every field of the three default structs has the value that
  // llama.cpp v0.5.0's llama_*_default_params() sets (bools read as raw bytes).
  void check_default_params() const {
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

  void* base_ = nullptr;
  void* ggml_ = nullptr;
  void* llama_ = nullptr;
  std::string version_;
};

// ------------------------------------------------------------------------------------------
// RAII wrappers
// ------------------------------------------------------------------------------------------
class Model {
 public:
  Model(const Llama& L, const std::string& path) : L_(L) {
    auto mp = L.model_defaults();
    mp.p.n_gpu_layers = 0;                       // CPU only
    mp.p.load_mode = abi::LLAMA_LOAD_MODE_NONE;  // read the file, no mmap
    m_ = L.a.llama_model_load_from_file(path.c_str(), mp);
    if (!m_) throw std::runtime_error("llama.cpp failed to load model " + path + " (run with --verbose for details)");
  }
  ~Model() { L_.a.llama_model_free(m_); }
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  abi::llama_model* get() const { return m_; }

 private:
  const Llama& L_;
  abi::llama_model* m_ = nullptr;
};

class Context {
 public:
  Context(const Llama& L, const Model& model, std::uint32_t n_ctx, std::int32_t threads) : L_(L) {
    auto cp = L.context_defaults();
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
  ~Context() { L_.a.llama_free(c_); }
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  abi::llama_context* get() const { return c_; }

 private:
  const Llama& L_;
  abi::llama_context* c_ = nullptr;
};

class BatchHolder {
 public:
  BatchHolder(const Llama& L, std::int32_t n) : L_(L), b_(L.a.llama_batch_init(n, 0, 1)) {
    if (b_.n_tokens != 0 || b_.embd != nullptr || !b_.token || !b_.pos || !b_.n_seq_id || !b_.seq_id || !b_.logits ||
        !b_.seq_id[0] || b_.seq_id[n] != nullptr) {
      abi_mismatch("llama_batch_init returned an unexpected llama_batch");
    }
  }
  ~BatchHolder() { L_.a.llama_batch_free(b_); }
  BatchHolder(const BatchHolder&) = delete;
  BatchHolder& operator=(const BatchHolder&) = delete;
  abi::Batch& get() { return b_; }

 private:
  const Llama& L_;
  abi::Batch b_;
};

// ------------------------------------------------------------------------------------------
// Command line
// ------------------------------------------------------------------------------------------
struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;  // --name value
};

Args parse_args(int argc, char** argv, const std::vector<std::string>& value_options) {
  Args a;
  for (int i = 2; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "--verbose") {
      g_verbose = true;
    } else if (s.rfind("--", 0) == 0) {
      std::string value;
      const auto eq = s.find('=');
      if (eq != std::string::npos) {
        value = s.substr(eq + 1);
        s = s.substr(0, eq);
      } else {
        if (i + 1 >= argc) throw UsageError("option " + s + " needs a value");
        value = argv[++i];
      }
      if (std::find(value_options.begin(), value_options.end(), s) == value_options.end()) {
        throw UsageError("unknown option " + s);
      }
      a.options[s] = value;
    } else {
      a.positional.push_back(s);
    }
  }
  return a;
}

long long parse_int(const std::string& s, const std::string& what, long long lo, long long hi) {
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
    throw UsageError(what + " must be an integer, got '" + s + "'");
  }
  if (used != s.size() || v < lo || v > hi) {
    throw UsageError(what + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" +
                     s + "'");
  }
  return v;
}

std::int32_t threads_option(const Args& a) {
  if (auto it = a.options.find("--threads"); it != a.options.end()) {
    return static_cast<std::int32_t>(parse_int(it->second, "--threads", 1, 1024));
  }
  return static_cast<std::int32_t>(std::max(1u, std::thread::hardware_concurrency()));
}

fs::path lib_dir_option(const Args& a) {
  if (auto it = a.options.find("--lib-dir"); it != a.options.end()) return it->second;
  return LLAMA_PEER_DEFAULT_LIB_DIR;
}

std::vector<std::int32_t> read_tokens(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open token file " + path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() % 4 != 0) throw std::runtime_error("token file size is not a multiple of 4: " + path);
  std::vector<std::int32_t> t(bytes.size() / 4);
  for (std::size_t i = 0; i < t.size(); ++i) {
    std::uint32_t v = 0;
    for (int b = 3; b >= 0; --b) v = (v << 8) | static_cast<unsigned char>(bytes[4 * i + static_cast<std::size_t>(b)]);
    if (v > 0x7fffffffu) throw std::runtime_error("token id out of range in " + path);
    t[i] = static_cast<std::int32_t>(v);
  }
  return t;
}

// ------------------------------------------------------------------------------------------
// Subcommands
// ------------------------------------------------------------------------------------------
int cmd_info(int argc, char** argv) {
  const Args args = parse_args(argc, argv, {"--lib-dir"});
  if (args.positional.size() != 1) throw UsageError("info takes exactly one argument: MODEL.gguf");
  Llama L(lib_dir_option(args));
  Model model(L, args.positional[0]);
  auto* m = model.get();
  char desc[256] = {};
  L.a.llama_model_desc(m, desc, sizeof desc);
  const std::int32_t ftype = L.a.llama_model_ftype(m);
  const char* ftype_name = L.a.llama_ftype_name(ftype);
  nlohmann::json j = {
      {"n_vocab", L.a.llama_vocab_n_tokens(L.a.llama_model_get_vocab(m))},
      {"n_ctx_train", L.a.llama_model_n_ctx_train(m)},
      {"n_embd", L.a.llama_model_n_embd(m)},
      {"n_layer", L.a.llama_model_n_layer(m)},
      {"n_head", L.a.llama_model_n_head(m)},
      {"n_head_kv", L.a.llama_model_n_head_kv(m)},
      {"n_params", L.a.llama_model_n_params(m)},
      {"size_bytes", L.a.llama_model_size(m)},
      {"ftype", ftype},
      {"ftype_name", ftype_name ? ftype_name : ""},
      {"desc", std::string(desc)},
      {"llama_version", L.version()},
      {"devices", L.devices()},
  };
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

double median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int cmd_ppl(int argc, char** argv) {
  const Args args = parse_args(argc, argv, {"--lib-dir", "--ctx", "--threads", "--max-tokens"});
  if (args.positional.size() != 2) throw UsageError("ppl takes exactly two arguments: MODEL.gguf TOKENS.u32");
  std::uint32_t n_ctx = 256;
  if (auto it = args.options.find("--ctx"); it != args.options.end()) {
    n_ctx = static_cast<std::uint32_t>(parse_int(it->second, "--ctx", 2, 1 << 20));
  }
  const std::int32_t threads = threads_option(args);
  std::vector<std::int32_t> tokens = read_tokens(args.positional[1]);
  if (auto it = args.options.find("--max-tokens"); it != args.options.end()) {
    const auto max_tokens = static_cast<std::size_t>(parse_int(it->second, "--max-tokens", 0, 1LL << 40));
    if (tokens.size() > max_tokens) tokens.resize(max_tokens);
  }

  Llama L(lib_dir_option(args));
  Model model(L, args.positional[0]);
  const std::int32_t n_vocab = L.a.llama_vocab_n_tokens(L.a.llama_model_get_vocab(model.get()));
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] >= n_vocab) {
      throw std::runtime_error("token " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                               " is outside the model's vocabulary (" + std::to_string(n_vocab) + ")");
    }
  }
  Context ctx(L, model, n_ctx, threads);
  BatchHolder holder(L, static_cast<std::int32_t>(n_ctx));
  abi::Batch& batch = holder.get();

  double total_nll = 0.0;
  std::size_t scored = 0;
  std::vector<double> window_ppl;
  for (std::size_t start = 0; start < tokens.size(); start += n_ctx) {
    const std::size_t n = std::min<std::size_t>(n_ctx, tokens.size() - start);
    if (n < 2) break;  // a final window shorter than 2 tokens is dropped
    L.a.llama_memory_clear(L.a.llama_get_memory(ctx.get()), true);  // fresh context per window
    const auto n_in = static_cast<std::int32_t>(n - 1);
    batch.n_tokens = n_in;
    for (std::int32_t i = 0; i < n_in; ++i) {
      batch.token[i] = tokens[start + static_cast<std::size_t>(i)];
      batch.pos[i] = i;
      batch.n_seq_id[i] = 1;
      batch.seq_id[i][0] = 0;
      batch.logits[i] = 1;
    }
    if (const std::int32_t rc = L.a.llama_decode(ctx.get(), batch); rc != 0) {
      throw std::runtime_error("llama_decode failed with status " + std::to_string(rc) + " on the window at token " +
                               std::to_string(start));
    }
    double window_nll = 0.0;
    for (std::int32_t i = 0; i < n_in; ++i) {
      const float* logits = L.a.llama_get_logits_ith(ctx.get(), i);
      if (!logits) throw std::runtime_error("llama_get_logits_ith returned no logits for output " + std::to_string(i));
      double mx = -std::numeric_limits<double>::infinity();
      for (std::int32_t v = 0; v < n_vocab; ++v) mx = std::max(mx, static_cast<double>(logits[v]));
      double sum = 0.0;
      for (std::int32_t v = 0; v < n_vocab; ++v) sum += std::exp(static_cast<double>(logits[v]) - mx);
      const std::int32_t target = tokens[start + static_cast<std::size_t>(i) + 1];
      window_nll -= static_cast<double>(logits[target]) - mx - std::log(sum);
    }
    total_nll += window_nll;
    scored += static_cast<std::size_t>(n_in);
    window_ppl.push_back(std::exp(window_nll / n_in));
  }
  if (scored == 0) throw std::runtime_error("no tokens to score (need at least 2 tokens)");
  const double mean_nll = total_nll / static_cast<double>(scored);
  const nlohmann::json j = {
      {"scored_tokens", scored},
      {"windows", window_ppl.size()},
      {"ppl", std::exp(mean_nll)},
      {"median_window_ppl", median(window_ppl)},
      {"mean_nll", mean_nll},
  };
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

const std::map<std::string, std::int32_t>& ftype_table() {
  static const std::map<std::string, std::int32_t> t = {
      {"F32", abi::LLAMA_FTYPE_ALL_F32},         {"F16", abi::LLAMA_FTYPE_MOSTLY_F16},
      {"BF16", abi::LLAMA_FTYPE_MOSTLY_BF16},    {"Q8_0", abi::LLAMA_FTYPE_MOSTLY_Q8_0},
      {"Q4_0", abi::LLAMA_FTYPE_MOSTLY_Q4_0},    {"Q5_0", abi::LLAMA_FTYPE_MOSTLY_Q5_0},
      {"Q2_K", abi::LLAMA_FTYPE_MOSTLY_Q2_K},    {"Q3_K_S", abi::LLAMA_FTYPE_MOSTLY_Q3_K_S},
      {"Q3_K_M", abi::LLAMA_FTYPE_MOSTLY_Q3_K_M}, {"Q3_K_L", abi::LLAMA_FTYPE_MOSTLY_Q3_K_L},
      {"Q4_K_S", abi::LLAMA_FTYPE_MOSTLY_Q4_K_S}, {"Q4_K_M", abi::LLAMA_FTYPE_MOSTLY_Q4_K_M},
      {"Q5_K_S", abi::LLAMA_FTYPE_MOSTLY_Q5_K_S}, {"Q5_K_M", abi::LLAMA_FTYPE_MOSTLY_Q5_K_M},
      {"Q6_K", abi::LLAMA_FTYPE_MOSTLY_Q6_K},
  };
  return t;
}

int cmd_quantize(int argc, char** argv) {
  const Args args = parse_args(argc, argv, {"--lib-dir", "--threads"});
  if (args.positional.size() != 3) throw UsageError("quantize takes exactly three arguments: IN.gguf OUT.gguf TYPE");
  const auto& table = ftype_table();
  const auto it = table.find(args.positional[2]);
  if (it == table.end()) {
    std::string known;
    for (const auto& [name, id] : table) known += (known.empty() ? "" : ", ") + name;
    throw UsageError("unknown quantization type '" + args.positional[2] + "' (known: " + known + ")");
  }
  const std::int32_t threads = threads_option(args);
  Llama L(lib_dir_option(args));
  auto qp = L.quantize_defaults();
  qp.p.ftype = it->second;
  qp.p.nthread = threads;
  const std::uint32_t rc = L.a.llama_model_quantize(args.positional[0].c_str(), args.positional[1].c_str(), &qp.p);
  if (rc != 0) {
    throw std::runtime_error("llama_model_quantize failed (status " + std::to_string(rc) + ") for " +
                             args.positional[0] + " -> " + args.positional[1]);
  }
  const char* name = L.a.llama_ftype_name(it->second);
  const nlohmann::json j = {{"output", args.positional[1]}, {"type", args.positional[2]}, {"ftype", it->second},
                            {"ftype_name", name ? name : ""}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

constexpr const char* kUsage =
    "usage:\n"
    "  llama_peer ppl MODEL.gguf TOKENS.u32 [--ctx 256] [--threads N] [--max-tokens N]\n"
    "  llama_peer quantize IN.gguf OUT.gguf TYPE [--threads N]\n"
    "      TYPE: F32 F16 BF16 Q8_0 Q4_0 Q5_0 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K\n"
    "  llama_peer info MODEL.gguf\n"
    "common options: --lib-dir DIR (default " LLAMA_PEER_DEFAULT_LIB_DIR "), --verbose\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string_view cmd = argv[1];
  try {
    if (cmd == "ppl") return cmd_ppl(argc, argv);
    if (cmd == "quantize") return cmd_quantize(argc, argv);
    if (cmd == "info") return cmd_info(argc, argv);
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    throw UsageError("unknown command '" + std::string(cmd) + "'");
  } catch (const UsageError& e) {
    std::fprintf(stderr, "llama_peer: usage error: %s\n%s", e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "llama_peer: error: %s\n", e.what());
    return 1;
  }
}
