// llama_peer: unmodified llama.cpp, as the prebuilt shared libraries of the npm package
// @node-llama-cpp/linux-x64@3.22.1, used as an independent reference for ramq's tests and
// benchmarks. The libraries are dlopen()ed at run time (the package ships no headers); every
// llama.cpp / ggml declaration used is written out by hand in llama_abi.h.
//
//   llama_peer ppl MODEL.gguf TOKENS.u32 [--ctx 256] [--threads N] [--max-tokens N] [--lib-dir DIR]
//   llama_peer logits MODEL.gguf TOKENS.u32 --n N [--threads N] [--f32-attention] [--lib-dir DIR]
//   llama_peer greedy MODEL.gguf TOKENS.u32 --n N [--threads N] [--f32-attention] [--lib-dir DIR]
//   llama_peer tokenize MODEL.gguf TEXT_FILE [--add-special] [--lib-dir DIR]
//   llama_peer quantize IN.gguf OUT.gguf TYPE [--threads N] [--lib-dir DIR]
//   llama_peer info MODEL.gguf [--lib-dir DIR]
//   llama_peer chat MODEL.gguf CHAT.json [--name NAME] [--lib-dir DIR]
//
// Common option: --verbose (pass llama.cpp's INFO/DEBUG log lines through to stderr).
// Exit status: 0 success, 1 runtime error (message on stderr), 2 usage error.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "llama_abi.h"

#ifndef LLAMA_PEER_DEFAULT_LIB_DIR
#error "LLAMA_PEER_DEFAULT_LIB_DIR must be defined by the build"
#endif

namespace llama_peer {
namespace {

namespace fs = std::filesystem;

// ------------------------------------------------------------------------------------------
// Command line
// ------------------------------------------------------------------------------------------
struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;  // --name value
  std::set<std::string> flags;                 // --name (no value)
};

Args parse_args(int argc, char** argv, const std::vector<std::string>& value_options,
                const std::vector<std::string>& flag_options = {}) {
  Args a;
  for (int i = 2; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "--verbose") {
      g_verbose = true;
    } else if (std::find(flag_options.begin(), flag_options.end(), s) != flag_options.end()) {
      a.flags.insert(s);
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
  const abi::llama_vocab* vocab = L.a.llama_model_get_vocab(m);
  const std::int32_t vocab_type = L.a.llama_vocab_type(vocab);
  static const char* const kVocabTypes[] = {"none", "spm", "bpe", "wpm", "ugm", "rwkv", "plamo2"};
  auto meta = [&](const char* key) {
    char buf[512] = {};
    return L.a.llama_model_meta_val_str(m, key, buf, sizeof buf) < 0 ? std::string() : std::string(buf);
  };
  nlohmann::json j = {
      {"n_vocab", L.a.llama_vocab_n_tokens(vocab)},
      {"vocab_type", vocab_type},
      {"vocab_type_name", vocab_type >= abi::LLAMA_VOCAB_TYPE_NONE && vocab_type <= abi::LLAMA_VOCAB_TYPE_PLAMO2
                              ? kVocabTypes[vocab_type]
                              : "?"},
      // the file's tokenizer metadata as llama.cpp read it (the load fails on an unknown pre type)
      {"tokenizer_model", meta("tokenizer.ggml.model")},
      {"tokenizer_pre", meta("tokenizer.ggml.pre")},
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
  // The scalar general.* naming keys as llama.cpp reads them (llama_model_meta_val_str; arrays
  // are not in its metadata map), those present.
  nlohmann::json general = nlohmann::json::object();
  for (const char* key : {"general.name", "general.author", "general.version", "general.organization",
                          "general.finetune", "general.basename", "general.size_label", "general.license",
                          "general.license.name", "general.license.link", "general.base_model.count",
                          "general.base_model.0.name", "general.base_model.0.organization",
                          "general.base_model.0.repo_url", "general.dataset.count"}) {
    char buf[512] = {};
    if (L.a.llama_model_meta_val_str(m, key, buf, sizeof buf) >= 0) general[key] = std::string(buf);
  }
  j["general"] = general;
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

// One window of the first --n tokens from position 0; the logits of every position.
int cmd_logits(int argc, char** argv) {
  const Args args = parse_args(argc, argv, {"--lib-dir", "--n", "--threads"}, {"--f32-attention"});
  if (args.positional.size() != 2) throw UsageError("logits takes exactly two arguments: MODEL.gguf TOKENS.u32");
  const auto n_it = args.options.find("--n");
  if (n_it == args.options.end()) throw UsageError("logits needs --n N (the number of positions)");
  const auto n = static_cast<std::int32_t>(parse_int(n_it->second, "--n", 1, 1 << 16));
  const std::int32_t threads = threads_option(args);
  const std::vector<std::int32_t> tokens = read_tokens(args.positional[1]);
  if (tokens.size() < static_cast<std::size_t>(n)) {
    throw std::runtime_error("token file " + args.positional[1] + " has " + std::to_string(tokens.size()) +
                             " tokens, fewer than --n " + std::to_string(n));
  }
  Llama L(lib_dir_option(args));
  Model model(L, args.positional[0]);
  const std::int32_t n_vocab = L.a.llama_vocab_n_tokens(L.a.llama_model_get_vocab(model.get()));
  for (std::int32_t i = 0; i < n; ++i) {
    if (tokens[static_cast<std::size_t>(i)] >= n_vocab) {
      throw std::runtime_error("token " + std::to_string(tokens[static_cast<std::size_t>(i)]) + " at index " +
                               std::to_string(i) + " is outside the model's vocabulary (" + std::to_string(n_vocab) +
                               ")");
    }
  }
  Context ctx(L, model, static_cast<std::uint32_t>(n), threads, args.flags.count("--f32-attention") > 0);
  BatchHolder holder(L, n);
  abi::Batch& batch = holder.get();
  batch.n_tokens = n;
  for (std::int32_t i = 0; i < n; ++i) {
    batch.token[i] = tokens[static_cast<std::size_t>(i)];
    batch.pos[i] = i;
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = 1;
  }
  if (const std::int32_t rc = L.a.llama_decode(ctx.get(), batch); rc != 0) {
    throw std::runtime_error("llama_decode failed with status " + std::to_string(rc));
  }
  nlohmann::json rows = nlohmann::json::array();
  for (std::int32_t i = 0; i < n; ++i) {
    const float* logits = L.a.llama_get_logits_ith(ctx.get(), i);
    if (!logits) throw std::runtime_error("llama_get_logits_ith returned no logits for output " + std::to_string(i));
    rows.push_back(std::vector<float>(logits, logits + n_vocab));
  }
  const nlohmann::json j = {{"n", n}, {"n_vocab", n_vocab}, {"logits", std::move(rows)}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

// Greedy decoding: the prompt (every id of TOKENS.u32) in one batch, then --n tokens, each the
// argmax of the last logits (ties to the lowest id) fed back one at a time through the KV cache.
// No end-of-sequence stop: the caller truncates. {"prompt": P, "tokens": [ids]}.
int cmd_greedy(int argc, char** argv) {
  const Args args = parse_args(argc, argv, {"--lib-dir", "--n", "--threads"}, {"--f32-attention"});
  if (args.positional.size() != 2) throw UsageError("greedy takes exactly two arguments: MODEL.gguf TOKENS.u32");
  const auto n_it = args.options.find("--n");
  if (n_it == args.options.end()) throw UsageError("greedy needs --n N (the number of tokens to generate)");
  const auto n = static_cast<std::int32_t>(parse_int(n_it->second, "--n", 1, 1 << 16));
  const std::vector<std::int32_t> prompt = read_tokens(args.positional[1]);
  if (prompt.empty()) throw std::runtime_error("token file " + args.positional[1] + " is empty");
  const auto p = static_cast<std::int32_t>(prompt.size());
  Llama L(lib_dir_option(args));
  Model model(L, args.positional[0]);
  const std::int32_t n_vocab = L.a.llama_vocab_n_tokens(L.a.llama_model_get_vocab(model.get()));
  for (const std::int32_t t : prompt)
    if (t >= n_vocab) throw std::runtime_error("token " + std::to_string(t) + " is outside the model's vocabulary");
  Context ctx(L, model, static_cast<std::uint32_t>(p + n), threads_option(args), args.flags.count("--f32-attention") > 0);
  BatchHolder holder(L, p);
  abi::Batch& batch = holder.get();
  const auto decode = [&](const std::int32_t* ids, std::int32_t count, std::int32_t pos0) {
    batch.n_tokens = count;
    for (std::int32_t i = 0; i < count; ++i) {
      batch.token[i] = ids[i];
      batch.pos[i] = pos0 + i;
      batch.n_seq_id[i] = 1;
      batch.seq_id[i][0] = 0;
      batch.logits[i] = i + 1 == count ? 1 : 0;
    }
    if (const std::int32_t rc = L.a.llama_decode(ctx.get(), batch); rc != 0)
      throw std::runtime_error("llama_decode failed with status " + std::to_string(rc));
    const float* logits = L.a.llama_get_logits_ith(ctx.get(), count - 1);
    if (!logits) throw std::runtime_error("llama_get_logits_ith returned no logits");
    std::int32_t best = 0;
    for (std::int32_t v = 1; v < n_vocab; ++v)
      if (logits[v] > logits[best]) best = v;
    return best;
  };
  std::vector<std::int32_t> out;
  std::int32_t next = decode(prompt.data(), p, 0);
  out.push_back(next);
  while (static_cast<std::int32_t>(out.size()) < n) {
    next = decode(&next, 1, p + static_cast<std::int32_t>(out.size()) - 1);
    out.push_back(next);
  }
  std::printf("%s\n", nlohmann::json{{"prompt", p}, {"tokens", out}}.dump().c_str());
  return 0;
}

// llama_tokenize of every string of a JSON array (add_special = false unless --add-special: then
// the vocabulary's BOS/EOS as its add_bos/add_eos say; parse_special = false).
int cmd_tokenize(int argc, char** argv) {
  const Args args = parse_args(argc, argv, {"--lib-dir"}, {"--add-special"});
  const bool add_special = args.flags.count("--add-special") > 0;
  if (args.positional.size() != 2) throw UsageError("tokenize takes exactly two arguments: MODEL.gguf TEXTS.json");
  std::ifstream in(args.positional[1], std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + args.positional[1]);
  const nlohmann::json texts = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!texts.is_array()) throw std::runtime_error(args.positional[1] + " is not a JSON array of strings");
  Llama L(lib_dir_option(args));
  Model model(L, args.positional[0], /*vocab_only=*/true);
  const abi::llama_vocab* vocab = L.a.llama_model_get_vocab(model.get());
  nlohmann::json out = nlohmann::json::array();
  for (const auto& t : texts) {
    if (!t.is_string()) throw std::runtime_error(args.positional[1] + " holds a value that is not a string");
    const std::string text = t.get<std::string>();
    if (text.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max() / 2)) {
      throw std::runtime_error("text too long");
    }
    const auto len = static_cast<std::int32_t>(text.size());
    std::vector<abi::llama_token> ids(text.size() + 8);
    std::int32_t got = L.a.llama_tokenize(vocab, text.data(), len, ids.data(), static_cast<std::int32_t>(ids.size()),
                                          add_special, /*parse_special=*/false);
    if (got < 0 && got != std::numeric_limits<std::int32_t>::min()) {  // buffer too small: -needed
      ids.resize(static_cast<std::size_t>(-got));
      got = L.a.llama_tokenize(vocab, text.data(), len, ids.data(), static_cast<std::int32_t>(ids.size()),
                               add_special, /*parse_special=*/false);
    }
    if (got < 0) throw std::runtime_error("llama_tokenize failed with status " + std::to_string(got));
    ids.resize(static_cast<std::size_t>(got));
    out.push_back(ids);
  }
  std::printf("%s\n", nlohmann::json{{"tokens", std::move(out)}}.dump().c_str());
  return 0;
}

// The model's chat template (llama_model_chat_template; --name NAME: the named one) and that
// template applied by llama_chat_apply_template to the messages of CHAT.json. llama.cpp does not
// run Jinja: it recognises the template as one of its built-in formats, and renders that.
int cmd_chat(int argc, char** argv) {
  const Args args = parse_args(argc, argv, {"--lib-dir", "--name"});
  if (args.positional.size() != 2) throw UsageError("chat takes exactly two arguments: MODEL.gguf CHAT.json");
  std::ifstream in(args.positional[1], std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + args.positional[1]);
  const nlohmann::json chat = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!chat.is_object() || !chat.contains("messages") || !chat["messages"].is_array())
    throw std::runtime_error(args.positional[1] + " is not an object with a \"messages\" array");
  std::vector<std::string> roles, contents;
  for (const auto& m : chat["messages"]) {
    roles.push_back(m.value("role", ""));
    contents.push_back(m.value("content", ""));
  }
  std::vector<abi::ChatMessage> messages;
  for (std::size_t i = 0; i < roles.size(); ++i) messages.push_back({roles[i].c_str(), contents[i].c_str()});
  const bool add_ass = chat.value("add_generation_prompt", false);

  Llama L(lib_dir_option(args));
  Model model(L, args.positional[0], /*vocab_only=*/true);
  const auto name = args.options.find("--name");
  const char* tmpl = L.a.llama_model_chat_template(model.get(), name == args.options.end() ? nullptr : name->second.c_str());
  nlohmann::json out = {{"template", nullptr}, {"rendered", nullptr}, {"status", 0}};
  if (tmpl != nullptr) {
    out["template"] = std::string(tmpl);
    std::int32_t n = L.a.llama_chat_apply_template(tmpl, messages.data(), messages.size(), add_ass, nullptr, 0);
    out["status"] = n;
    if (n >= 0) {
      std::vector<char> buf(static_cast<std::size_t>(n) + 1);
      n = L.a.llama_chat_apply_template(tmpl, messages.data(), messages.size(), add_ass, buf.data(),
                                        static_cast<std::int32_t>(buf.size()));
      out["rendered"] = std::string(buf.data(), static_cast<std::size_t>(n));
    }
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

constexpr const char* kUsage =
    "usage:\n"
    "  llama_peer ppl MODEL.gguf TOKENS.u32 [--ctx 256] [--threads N] [--max-tokens N]\n"
    "  llama_peer logits MODEL.gguf TOKENS.u32 --n N [--threads N] [--f32-attention]\n"
    "      one window of the first N tokens from position 0: {\"n\", \"n_vocab\", \"logits\": N arrays};\n"
    "      --f32-attention: F32 KV cache, no flash attention (default: llama.cpp's F16 cache, flash attention auto)\n"
    "  llama_peer greedy MODEL.gguf TOKENS.u32 --n N [--threads N] [--f32-attention]\n"
    "      the prompt TOKENS.u32, then N greedy tokens (argmax, ties to the lowest id; no EOS stop):\n"
    "      {\"prompt\": P, \"tokens\": [N ids]}\n"
    "  llama_peer tokenize MODEL.gguf TEXTS.json [--add-special]\n"
    "      TEXTS.json: a JSON array of strings; llama_tokenize without special tokens: {\"tokens\": [[ids]...]}\n"
    "  llama_peer quantize IN.gguf OUT.gguf TYPE [--threads N]\n"
    "      TYPE: F32 F16 BF16 Q8_0 Q4_0 Q5_0 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K\n"
    "  llama_peer info MODEL.gguf\n"
    "  llama_peer chat MODEL.gguf CHAT.json [--name NAME]\n"
    "      CHAT.json: {\"messages\": [{\"role\", \"content\"}...], \"add_generation_prompt\": bool};\n"
    "      {\"template\": llama_model_chat_template, \"rendered\": llama_chat_apply_template, \"status\"}\n"
    "common options: --lib-dir DIR (default " LLAMA_PEER_DEFAULT_LIB_DIR "), --verbose\n";

}  // namespace
}  // namespace llama_peer

int main(int argc, char** argv) {
  using namespace llama_peer;
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string_view cmd = argv[1];
  try {
    if (cmd == "ppl") return cmd_ppl(argc, argv);
    if (cmd == "logits") return cmd_logits(argc, argv);
    if (cmd == "greedy") return cmd_greedy(argc, argv);
    if (cmd == "tokenize") return cmd_tokenize(argc, argv);
    if (cmd == "quantize") return cmd_quantize(argc, argv);
    if (cmd == "info") return cmd_info(argc, argv);
    if (cmd == "chat") return cmd_chat(argc, argv);
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
