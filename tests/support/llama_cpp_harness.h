// Test support: tests against real llama.cpp (the prebuilt libllama from npm, driven by
// tests/peer's llama_peer binary). The including test target defines LLAMA_PEER_BINARY (the
// llama_peer executable) and LLAMA_PEER_LIB_DIR (where libllama is installed), as
// tests/e2e/CMakeLists.txt does.
#pragma once

#include <map>
#include <set>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramq/ggml_types.h"
#include "ramq/gguf.h"
#include "ramq/gguf_names.h"
#include "ramq/model_family.h"
#include "support/run_ramq.h"
#include "support/safetensors_builder.h"

namespace ramq::testkit {

inline bool llama_available() {
  return std::filesystem::exists(std::filesystem::path(LLAMA_PEER_LIB_DIR) / "libllama.v0.5.0.so");
}

// At the top of a test: fails it if the llama.cpp libraries are missing, or skips it when
// RAMQ_ALLOW_MISSING_LLAMA=1.
#define REQUIRE_LLAMA()                                                                                   \
  do {                                                                                                    \
    if (!::ramq::testkit::llama_available()) {                                                            \
      const char* allow = std::getenv("RAMQ_ALLOW_MISSING_LLAMA");                                        \
      if (allow && std::string(allow) == "1") GTEST_SKIP() << "llama.cpp libraries not installed";         \
      FAIL() << "llama.cpp libraries missing in " << LLAMA_PEER_LIB_DIR << ": run `cd tests/peer && npm ci`"; \
    }                                                                                                     \
  } while (0)

// Tensor types of a GGUF file, by llama.cpp tensor name.
inline std::map<std::string, std::string> gguf_types(const std::filesystem::path& file) {
  GgufReader r(file);
  std::map<std::string, std::string> m;
  for (const auto& t : r.tensors()) m[t.name] = std::string(ggml_type_info(t.type).name);
  return m;
}

// An unsigned metadata value of a GGUF file (0 if absent or of another type).
inline std::uint64_t gguf_metadata_u64(const std::filesystem::path& file, const std::string& key) {
  GgufReader r(file);
  const GgufValue* v = r.find(key);
  return v && std::holds_alternative<std::uint64_t>(v->v) ? std::get<std::uint64_t>(v->v) : 0;
}

// The JSON that `llama_peer ARGS...` prints; an empty object (and a test failure) if it fails.
inline nlohmann::json peer_json(const std::vector<std::string>& args) {
  const auto r = run_program(LLAMA_PEER_BINARY, args);
  EXPECT_EQ(r.status, 0) << r.err;
  return r.status == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
}

// The JSON that `ramq ARGS...` prints (--json); an empty object (and a test failure) if it fails.
inline nlohmann::json ramq_json(const std::vector<std::string>& args) {
  const auto r = run_ramq(args);
  EXPECT_EQ(r.status, 0) << r.err;
  return r.status == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
}

// llama.cpp's perplexity of a GGUF over a token file (`llama_peer ppl`, llama.cpp's default
// attention, one thread): {"ppl", "scored_tokens", ...}.
inline nlohmann::json llama_cpp_ppl(const std::filesystem::path& gguf, const std::filesystem::path& tokens, int ctx) {
  return peer_json({"ppl", gguf.string(), tokens.string(), "--ctx", std::to_string(ctx), "--threads", "1"});
}

// A token file (.u32: little-endian uint32 ids).
inline void write_tokens(const std::filesystem::path& p, const std::vector<std::uint32_t>& t) {
  write_file(p, std::string(reinterpret_cast<const char*>(t.data()), t.size() * 4));
}

// llama.cpp's logits for the first n tokens of a token file, as one window from position 0
// (`llama_peer logits --f32-attention`: F32 KV cache, no flash attention, one thread), n x vocab
// row-major. Empty, with a test failure, if llama_peer fails or returns another shape.
inline std::vector<float> llama_cpp_logits(const std::filesystem::path& gguf, const std::filesystem::path& tokens,
                                           std::size_t n, std::size_t vocab) {
  const nlohmann::json ref = peer_json({"logits", gguf.string(), tokens.string(), "--n", std::to_string(n), "--threads",
                                        "1", "--f32-attention"});
  std::vector<float> out;
  if (ref.value("n", 0u) != n || ref.value("n_vocab", 0u) != vocab || !ref.contains("logits") ||
      ref["logits"].size() != n) {
    ADD_FAILURE() << "llama_peer logits of " << gguf << ": n " << ref.value("n", 0u) << ", n_vocab "
                  << ref.value("n_vocab", 0u) << ", want " << n << " x " << vocab;
    return {};
  }
  for (const auto& row : ref["logits"]) {
    const auto r = row.get<std::vector<float>>();
    if (r.size() != vocab) {
      ADD_FAILURE() << "llama_peer logits of " << gguf << ": a row of " << r.size() << " logits, want " << vocab;
      return {};
    }
    out.insert(out.end(), r.begin(), r.end());
  }
  return out;
}

// max |a[i] - b[i]| (infinity if the sizes differ), and max |a[i]|.
inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - double(b[i])));
  return m;
}
inline double max_abs(const std::vector<float>& a) {
  double m = 0;
  for (const float x : a) m = std::max(m, std::fabs(double(x)));
  return m;
}

// The number of positions (rows of `vocab` logits) at which two logit matrices of the same
// shape predict the same token (argmax); 0, with a test failure, if the shapes differ.
inline std::size_t argmax_agreement(const std::vector<float>& a, const std::vector<float>& b, std::size_t vocab) {
  if (vocab == 0 || a.size() != b.size() || a.size() % vocab != 0) {
    ADD_FAILURE() << "argmax_agreement: " << a.size() << " and " << b.size() << " logits, vocab " << vocab;
    return 0;
  }
  std::size_t agree = 0;
  for (std::size_t i = 0; i < a.size() / vocab; ++i) {
    const auto x = a.begin() + static_cast<std::ptrdiff_t>(i * vocab);
    const auto y = b.begin() + static_cast<std::ptrdiff_t>(i * vocab);
    agree += std::max_element(x, x + static_cast<std::ptrdiff_t>(vocab)) - x ==
             std::max_element(y, y + static_cast<std::ptrdiff_t>(vocab)) - y;
  }
  return agree;
}

// llama.cpp's logits (theirs) against ramq's (ours) for an F32 file and a quantized file of the
// same model, n positions each: real logits (scale above 1); within 1e-3 of the logit scale for
// F32 and 3e-2 for the quantized file (llama.cpp rounds activations to 8 bits in its quantized
// dot products; ramq keeps float32); argmax agreement on every position for F32 and 90 % for the
// quantized file; and llama.cpp's difference from ramq on the quantized file under a third of what
// weight quantization itself moves ramq's logits by.
inline void expect_logits_agree(std::map<std::string, std::vector<float>>& ours,
                                std::map<std::string, std::vector<float>>& theirs, const std::string& f32_file,
                                const std::string& quantized_file, std::size_t n, std::size_t vocab) {
  const double quantization_effect = max_abs_diff(ours[quantized_file], ours[f32_file]);
  for (const std::string& f : {f32_file, quantized_file}) {
    const double scale = max_abs(theirs[f]), diff = max_abs_diff(theirs[f], ours[f]);
    const std::size_t agree = argmax_agreement(theirs[f], ours[f], vocab);
    const bool f32 = f == f32_file;
    std::printf("%-10s logit scale %.4f, max |llama.cpp - ramq| %.3e (%.3e of scale), argmax agreement %zu/%zu\n",
                f.c_str(), scale, diff, diff / scale, agree, n);
    EXPECT_GT(scale, 1.0) << f;  // real logits, not an all-zero output
    EXPECT_LT(diff, (f32 ? 1e-3 : 3e-2) * scale) << f;
    EXPECT_GE(10 * agree, 9 * n) << f;
    if (f32) {
      EXPECT_EQ(agree, n);
    }
  }
  std::printf("weight quantization moves ramq's logits by up to %.3e\n", quantization_effect);
  EXPECT_LT(max_abs_diff(theirs[quantized_file], ours[quantized_file]), quantization_effect / 3);
}

// --policy llama-mix against llama_model_quantize of ramq's F16 GGUF `f16` of `model_dir` (analysis
// `analysis`, family `family`), for five mixes, in `tmp`: every GGUF tensor of llama.cpp's file
// has the type ramq's plan gives (all experts of a stack alike; ssm_conv1d, which ramq keeps F32 in
// every file as llama.cpp's converter does, F32), the plan decides no tensor the file leaves out,
// and ramq's file written from the plan has llama.cpp's types.
inline void expect_llama_mix_matches_llama_quantize(const std::filesystem::path& model_dir,
                                                    const std::filesystem::path& analysis,
                                                    const std::filesystem::path& f16, const ModelFamily& family,
                                                    const std::filesystem::path& tmp) {
  for (const std::string mix : {"Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0"}) {
    const std::filesystem::path q = tmp / (mix + ".gguf"), plan = tmp / (mix + ".plan.json");
    const auto qr = run_program(LLAMA_PEER_BINARY, {"quantize", f16.string(), q.string(), mix, "--threads", "2"});
    ASSERT_EQ(qr.status, 0) << qr.err;
    const auto want = gguf_types(q);
    ASSERT_EQ(run_ramq({"plan", analysis.string(), "--format", "gguf", "--policy", "llama-mix", "--mix", mix, "-o",
                        plan.string()})
                  .status,
              0);
    std::set<std::string> compared;  // GGUF tensors (a stack of experts is one)
    const nlohmann::json mix_plan = nlohmann::json::parse(slurp(plan));
    for (const auto& d : mix_plan["tensors"]) {
      const std::string g = hf_to_gguf_tensor_name(family, d["name"].get<std::string>(), "plan");
      if (g.empty() && d["name"].get<std::string>().ends_with("rotary_emb.inv_freq")) continue;
      ASSERT_FALSE(g.empty()) << "a decision for a tensor no output carries: " << d["name"];
      ASSERT_TRUE(want.count(g)) << g;
      EXPECT_EQ(g.ends_with("ssm_conv1d.weight") ? "F32" : d["gguf_type"].get<std::string>(), want.at(g))
          << mix << " " << d["name"];
      compared.insert(g);
    }
    EXPECT_EQ(compared.size(), want.size()) << mix;
    const std::filesystem::path mine = tmp / (mix + ".ramq.gguf");
    const auto r = run_ramq({"quantize", model_dir.string(), "--format", "gguf", "--plan", plan.string(), "-o", mine.string()});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(gguf_types(mine), want) << mix;
  }
}

}  // namespace ramq::testkit
