// llama_peer's view of llama.cpp: the hand-written ABI of the llama.cpp inside the npm package
// @node-llama-cpp/linux-x64@3.22.1 (the package ships no headers), the loader that dlopen()s its
// libraries and checks that ABI, and RAII wrappers for models, contexts and batches. The
// commands are in llama_peer.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#if !defined(__x86_64__) || !defined(__linux__)
#error "llama_peer relies on the x86-64 System V ABI (the npm package is linux-x64 only)"
#endif

namespace llama_peer {

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

// enum llama_vocab_type (llama.h)
constexpr std::int32_t LLAMA_VOCAB_TYPE_NONE = 0;
constexpr std::int32_t LLAMA_VOCAB_TYPE_SPM = 1;
constexpr std::int32_t LLAMA_VOCAB_TYPE_BPE = 2;
constexpr std::int32_t LLAMA_VOCAB_TYPE_WPM = 3;
constexpr std::int32_t LLAMA_VOCAB_TYPE_UGM = 4;
constexpr std::int32_t LLAMA_VOCAB_TYPE_RWKV = 5;
constexpr std::int32_t LLAMA_VOCAB_TYPE_PLAMO2 = 6;

// Other enum values used by the default-value checks.
constexpr std::int32_t LLAMA_SPLIT_MODE_LAYER = 1;
constexpr std::int32_t LLAMA_LOAD_MODE_AUTO = -1;
constexpr std::int32_t LLAMA_LOAD_MODE_NONE = 0;  // read tensors into memory, no mmap
constexpr std::int32_t LLAMA_LAZY_MODE_AUTO = 1;
constexpr std::int32_t LLAMA_FLASH_ATTN_TYPE_DISABLED = 0;
constexpr std::int32_t GGML_TYPE_F32 = 0;
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
  bool vocab_only;  // WRITTEN (tokenize: true)
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
  std::int32_t flash_attn_type;  // WRITTEN (logits --f32-attention)
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
  std::int32_t type_k;  // enum ggml_type; WRITTEN (logits --f32-attention)
  std::int32_t type_v;  // WRITTEN (logits --f32-attention)
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

// struct llama_chat_message (llama.h, v0.5.0): two pointers, passed by pointer only.
struct ChatMessage {
  const char* role;
  const char* content;
};
static_assert(sizeof(ChatMessage) == 16);

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
  // Tokenizer and metadata queries (prototypes from the public include/llama.h; only pointers and
  // scalars, so no struct layout is involved).
  // int32_t llama_tokenize(const struct llama_vocab *, const char * text, int32_t text_len,
  //                        llama_token * tokens, int32_t n_tokens_max, bool add_special, bool parse_special);
  std::int32_t (*llama_tokenize)(const llama_vocab* vocab, const char* text, std::int32_t text_len,
                                 llama_token* tokens, std::int32_t n_tokens_max, bool add_special,
                                 bool parse_special) = nullptr;
  std::int32_t (*llama_vocab_type)(const llama_vocab* vocab) = nullptr;  // enum llama_vocab_type
  std::int32_t (*llama_model_meta_val_str)(const llama_model* model, const char* key, char* buf,
                                           std::size_t buf_size) = nullptr;
  // Chat templates (llama.h; src/llama-model.cpp, src/llama.cpp):
  // const char * llama_model_chat_template(const struct llama_model * model, const char * name);
  const char* (*llama_model_chat_template)(const llama_model* model, const char* name) = nullptr;
  // int32_t llama_chat_apply_template(const char * tmpl, const struct llama_chat_message * chat,
  //                                   size_t n_msg, bool add_ass, char * buf, int32_t length);
  std::int32_t (*llama_chat_apply_template)(const char* tmpl, const ChatMessage* chat, std::size_t n_msg, bool add_ass,
                                            char* buf, std::int32_t length) = nullptr;
};

}  // namespace abi

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws a runtime_error saying the libraries are not the llama.cpp these declarations describe.
[[noreturn]] void abi_mismatch(const std::string& what);

// --verbose: pass llama.cpp's INFO/DEBUG log lines through to stderr (warnings always are).
extern bool g_verbose;

// The three libraries of one npm package directory, loaded and checked: llama_version() has the
// expected prefix, the CPU backend is found, and every field of the three default parameter
// structs has llama.cpp's documented default value (a layout fingerprint).
class Llama {
 public:
  explicit Llama(const std::filesystem::path& dir);
  ~Llama();  // llama_backend_free; the libraries stay loaded until exit
  Llama(const Llama&) = delete;
  Llama& operator=(const Llama&) = delete;

  const std::string& version() const { return version_; }
  std::vector<std::string> devices() const;  // "name: description" of every ggml device

  abi::Padded<abi::ModelParams> model_defaults() const;
  abi::Padded<abi::ContextParams> context_defaults() const;
  abi::Padded<abi::QuantizeParams> quantize_defaults() const;

  abi::Api a;

 private:
  void check_default_params() const;

  void* base_ = nullptr;
  void* ggml_ = nullptr;
  void* llama_ = nullptr;
  std::string version_;
};

// A model on the CPU, read into memory (no mmap). Throws if llama.cpp cannot load it.
class Model {
 public:
  // vocab_only: the vocabulary without the weights (llama_model_params.vocab_only).
  Model(const Llama& L, const std::string& path, bool vocab_only = false);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  abi::llama_model* get() const { return m_; }

 private:
  const Llama& L_;
  abi::llama_model* m_ = nullptr;
};

// A context whose n_ctx, n_batch and n_ubatch are all n_ctx (one llama_decode per window); the
// written fields are read back through the API. f32_attention: an F32 KV cache and no flash
// attention (llama.cpp's defaults are an F16 cache and flash attention "auto", which on the CPU
// computes attention in F16 whatever the cache type).
class Context {
 public:
  Context(const Llama& L, const Model& model, std::uint32_t n_ctx, std::int32_t threads, bool f32_attention = false);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  abi::llama_context* get() const { return c_; }

 private:
  const Llama& L_;
  abi::llama_context* c_ = nullptr;
};

// llama_batch_init(n, 0, 1) / llama_batch_free.
class BatchHolder {
 public:
  BatchHolder(const Llama& L, std::int32_t n);
  ~BatchHolder();
  BatchHolder(const BatchHolder&) = delete;
  BatchHolder& operator=(const BatchHolder&) = delete;
  abi::Batch& get() { return b_; }

 private:
  const Llama& L_;
  abi::Batch b_;
};

}  // namespace llama_peer
