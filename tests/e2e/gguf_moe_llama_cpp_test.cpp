// Mixture-of-experts GGUF output against real llama.cpp (prebuilt libllama from npm, driven by
// tests/peer's llama_peer), for each MoE family ramq knows, on small synthetic F32 checkpoints
// with the family's real config.json fields and tensor names (2 layers, rows of 256 so that the
// K-quants fit, top-2 routing):
//  * mixtral: 8 experts "block_sparse_moe.experts.E.w1/w2/w3" (llama.cpp's "llama" architecture
//    with experts; 8 experts also switch on llama.cpp's 8-expert quantization rules);
//  * qwen2_moe: 4 experts plus the shared expert with its sigmoid gate, q/k/v biases,
//    norm_topk_prob false (llama.cpp's qwen2moe never renormalises);
//  * qwen3_moe: 4 experts, q/k norms, norm_topk_prob true (llama.cpp's qwen3moe always does).
// For each:
//  (a) ramq writes an F32 GGUF; llama.cpp loads it with the expert counts of config.json, and its
//      logits agree with ramq's forward pass on the Hugging Face directory (per-expert tensors)
//      and on the GGUF (stacked *_exps tensors);
//  (b) a quantized GGUF (--policy uniform --bits 4: Q4_K experts) loads, and llama.cpp's logits
//      on it agree with ramq's forward pass on the same file (expect_logits_agree);
//  (c) --policy llama-mix picks, tensor by tensor, the type llama_model_quantize picks from
//      ramq's F16 GGUF, expert tensors included, for five mixes;
//  (d) swan and budget plans give all experts of one projection one encoding, and their GGUFs load.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ramq/eval.h"
#include "ramq/gguf.h"
#include "ramq/gguf_names.h"
#include "ramq/model_family.h"
#include "support/llama_cpp_harness.h"
#include "support/synthetic_llama.h"

namespace fs = std::filesystem;
using namespace ramq::testkit;
using nlohmann::json;

namespace {

constexpr std::size_t kPositions = 32;

SyntheticLlama moe_shape(const std::string& model_type, int experts, std::uint64_t seed) {
  SyntheticLlama s{.hidden = 256, .heads = 4, .kv_heads = 2, .ffn = 256, .layers = 2, .vocab = 512};
  s.model_type = model_type;
  s.seed = seed;
  s.dtype = ramq::DType::F32;
  s.head_scale = 4.0;
  s.norm_sd = 0.3;
  s.experts = experts;
  s.expert_ffn = 256;
  s.shared_ffn = 256;
  s.norm_topk_prob = model_type != "qwen2_moe";
  return s;
}


std::vector<float> ramq_logits(const fs::path& model, const std::vector<std::uint32_t>& tokens) {
  ramq::EvalOptions opt;
  opt.threads = 1;
  opt.ctx = static_cast<int>(tokens.size());
  return ramq::load_language_model(model, opt)->forward(tokens);
}

// Every routed expert's encoding in a plan, by stack key: one per projection.
void expect_one_encoding_per_stack(const fs::path& plan_file, const std::string& label) {
  const json plan = json::parse(slurp(plan_file));
  std::map<std::string, std::set<std::string>> encodings;
  std::size_t experts = 0;
  for (const auto& d : plan["tensors"]) {
    std::int64_t e = -1;
    const std::string key = ramq::expert_stack_key(d["name"].get<std::string>(), &e);
    if (e < 0) continue;
    ++experts;
    encodings[key].insert(d.contains("gguf_type") ? d["gguf_type"].dump() : d["bits"].dump() + "/" + d["group"].dump());
  }
  EXPECT_GT(experts, 0u) << label;
  for (const auto& [key, set] : encodings) EXPECT_EQ(set.size(), 1u) << label << ": " << key;
}

double mean_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += std::fabs(double(a[i]) - double(b[i]));
  return a.empty() || a.size() != b.size() ? INFINITY : s / double(a.size());
}

// llama.cpp's logits against ramq's on the F32 file (as tight as for dense models: same weights,
// float32 math, the same routing) and on the quantized file. There llama.cpp rounds activations
// to 8 bits in its quantized dot products, so a token whose 2nd and 3rd experts' router
// probabilities are closer than that rounding can be routed differently, and its logits then
// differ by as much as the quantization itself moves them: the quantized file is compared on
// average, which such flips barely move. llama.cpp must compute the quantized file, not the
// float one: its mean difference from ramq on the file is under a quarter of what quantization
// moves ramq's logits on average, and they agree on the argmax at 80 % of the positions.
void expect_moe_logits_agree(std::map<std::string, std::vector<float>>& ours,
                             std::map<std::string, std::vector<float>>& theirs, std::size_t vocab) {
  const double scale = max_abs(theirs["f32.gguf"]);
  EXPECT_GT(scale, 1.0);
  EXPECT_LT(max_abs_diff(theirs["f32.gguf"], ours["f32.gguf"]), 1e-4 * scale);
  EXPECT_EQ(argmax_agreement(theirs["f32.gguf"], ours["f32.gguf"], vocab), kPositions);
  const double effect = mean_abs_diff(ours["q4.gguf"], ours["f32.gguf"]);
  const double diff = mean_abs_diff(theirs["q4.gguf"], ours["q4.gguf"]);
  const std::size_t agree = argmax_agreement(theirs["q4.gguf"], ours["q4.gguf"], vocab);
  std::printf("q4.gguf    mean |llama.cpp - ramq| %.3e, mean quantization effect %.3e (ratio %.3f), argmax %zu/%zu\n",
              diff, effect, diff / effect, agree, kPositions);
  EXPECT_LT(diff, 0.25 * effect);
  EXPECT_GE(10 * agree, 8 * kPositions);
}

struct Family {
  std::string model_type, arch;
  int experts;
  std::uint64_t seed;
};

class GgufMoeLlamaCpp : public ::testing::TestWithParam<Family> {};

TEST_P(GgufMoeLlamaCpp, LoadsAgreesAndMatchesLlamaQuantize) {
  REQUIRE_LLAMA();
  const Family& fam = GetParam();
  TempDir tmp("gguf-moe-" + fam.model_type);
  const SyntheticLlama shape = moe_shape(fam.model_type, fam.experts, fam.seed);
  const fs::path dir = tmp / fam.model_type, f32 = tmp / "f32.gguf", q4 = tmp / "q4.gguf", tokens = tmp / "t.u32";
  write_synthetic_llama(dir, shape);
  const auto vocab = static_cast<std::size_t>(shape.vocab);
  const std::vector<std::uint32_t> stream = random_tokens(kPositions, static_cast<std::uint32_t>(vocab), fam.seed + 1);
  write_tokens(tokens, stream);

  // (a) the F32 file: metadata, stacked tensors, llama.cpp's view, logits.
  auto r = run_ramq({"quantize", dir.string(), "--format", "gguf", "--policy", "uniform", "--bits", "16", "--keep-dtype",
                     "-o", f32.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  {
    ramq::GgufReader g(f32);
    EXPECT_EQ(gguf_metadata_u64(f32, fam.arch + ".expert_count"), static_cast<std::uint64_t>(fam.experts));
    EXPECT_EQ(gguf_metadata_u64(f32, fam.arch + ".expert_used_count"), 2u);
    const ramq::GgufTensorInfo* down = g.find_tensor("blk.1.ffn_down_exps.weight");
    ASSERT_NE(down, nullptr);
    const std::int64_t ff = fam.model_type == "mixtral" ? shape.ffn : shape.expert_ffn;
    EXPECT_EQ(down->ne, (std::vector<std::int64_t>{ff, shape.hidden, fam.experts}));
    const ramq::GgufTensorInfo* router = g.find_tensor("blk.0.ffn_gate_inp.weight");
    ASSERT_NE(router, nullptr);
    EXPECT_EQ(router->type, ramq::GgmlType::F32);
    for (const auto& t : g.tensors()) EXPECT_EQ(t.name.find("experts"), std::string::npos) << t.name;
  }
  const json info = peer_json({"info", f32.string()});
  ASSERT_FALSE(info.empty()) << fam.model_type << ": llama.cpp did not load the F32 file";
  EXPECT_EQ(info["n_layer"], shape.layers);
  std::map<std::string, std::vector<float>> ours, theirs;
  const std::vector<float> hf = ramq_logits(dir, stream);
  for (const fs::path& f : {f32, q4}) {
    if (f == q4) {
      r = run_ramq({"quantize", dir.string(), "--format", "gguf", "--policy", "uniform", "--bits", "4", "-o",
                    q4.string()});
      ASSERT_EQ(r.status, 0) << r.err;
      EXPECT_EQ(gguf_types(q4).at("blk.0.ffn_up_exps.weight"), "Q4_K");
    }
    ours[f.filename().string()] = ramq_logits(f, stream);
    theirs[f.filename().string()] = llama_cpp_logits(f, tokens, kPositions, vocab);
  }
  const double scale = max_abs(theirs["f32.gguf"]);
  std::printf("%-10s ramq HF vs llama.cpp F32: %.3e of scale; ramq HF vs ramq GGUF: %.3e\n", fam.model_type.c_str(),
              max_abs_diff(hf, theirs["f32.gguf"]) / scale, max_abs_diff(hf, ours["f32.gguf"]) / scale);
  EXPECT_LT(max_abs_diff(hf, theirs["f32.gguf"]), 1e-4 * scale);
  EXPECT_LT(max_abs_diff(hf, ours["f32.gguf"]), 1e-5 * scale);
  expect_moe_logits_agree(ours, theirs, vocab);

  // (c) llama-mix against llama_model_quantize of ramq's F16 file.
  const fs::path a = tmp / "a.json", f16 = tmp / "f16.gguf";
  ASSERT_EQ(run_ramq({"analyze", dir.string(), "-o", a.string()}).status, 0);
  ASSERT_EQ(run_ramq({"plan", a.string(), "--format", "gguf", "-o", (tmp / "p.json").string()}).status, 0);
  json p = json::parse(slurp(tmp / "p.json"));
  for (auto& d : p["tensors"])
    if (d["shape"].size() == 2 && d["gguf_type"] != "F32") d["gguf_type"] = "F16";
  write_file(tmp / "f16.plan.json", p.dump());
  r = run_ramq({"quantize", dir.string(), "--format", "gguf", "--plan", (tmp / "f16.plan.json").string(), "-o",
                f16.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  expect_llama_mix_matches_llama_quantize(dir, a, f16, *ramq::find_family(fam.model_type), tmp.path());

  // (d) swan and budget: one encoding per stack, in both formats' plans, and a GGUF that loads.
  for (const std::vector<std::string>& policy :
       {std::vector<std::string>{"--policy", "swan"}, {"--policy", "budget", "--target-bpw", "4.5"}}) {
    for (const char* format : {"gguf", "mlx"}) {
      const fs::path plan = tmp / "policy.plan.json";
      std::vector<std::string> args{"plan", a.string(), "--format", format, "-o", plan.string()};
      args.insert(args.end(), policy.begin(), policy.end());
      ASSERT_EQ(run_ramq(args).status, 0) << policy[1] << " " << format;
      expect_one_encoding_per_stack(plan, policy[1] + " " + format);
    }
    const fs::path out = tmp / ("policy-" + policy[1] + ".gguf");
    std::vector<std::string> args{"quantize", dir.string(), "--format", "gguf", "-o", out.string()};
    args.insert(args.end(), policy.begin(), policy.end());
    r = run_ramq(args);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_FALSE(peer_json({"info", out.string()}).empty()) << policy[1];
  }
}

// What llama.cpp could not compute, or a checkpoint that disagrees with its config.json: one line
// naming the file, the field or tensor, and nothing written.
TEST(GgufMoe, RefusesRoutingLlamaCppWouldNotComputeAndIncompleteExperts) {
  TempDir tmp("gguf-moe-bad");
  SyntheticLlama shape = moe_shape("qwen3_moe", 4, 7010);
  shape.layers = 1;
  shape.norm_topk_prob = false;  // llama.cpp's qwen3moe always renormalises
  write_synthetic_llama(tmp / "m", shape);
  const fs::path out = tmp / "out.gguf";
  auto r = run_ramq({"quantize", (tmp / "m").string(), "--format", "gguf", "--policy", "uniform", "-o", out.string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("config.json: field 'norm_topk_prob' is false but llama.cpp's qwen3moe"), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(out));
  // The same model to MLX is fine: mlx_lm reads norm_topk_prob.
  r = run_ramq({"quantize", (tmp / "m").string(), "--format", "mlx", "--policy", "uniform", "-o",
                (tmp / "mlx").string()});
  EXPECT_EQ(r.status, 0) << r.err;

  // One expert fewer in config.json than in the checkpoint (an expert index beyond the count),
  // and one more (the router's shape says so first).
  for (const int experts : {3, 5}) {
    json cfg = json::parse(slurp(tmp / "m" / "config.json"));
    cfg["num_experts"] = experts;
    write_file(tmp / "m" / "config.json", cfg.dump());
    r = run_ramq({"quantize", (tmp / "m").string(), "--format", "mlx", "--policy", "uniform", "-o",
                  (tmp / ("bad" + std::to_string(experts))).string()});
    EXPECT_EQ(r.status, 1);
    const std::string want = experts == 3 ? "'model.layers.0.mlp.experts.3.down_proj.weight': is expert 3 but config.json "
                                            "has num_experts 3 (experts 0 to 2)"
                                          : "'model.layers.0.mlp.gate.weight': has shape [4, 256] but config.json implies "
                                            "[num_experts, hidden_size] = [5, 256]";
    EXPECT_NE(r.err.find(want), std::string::npos) << r.err;
  }
}

// A checkpoint that stores the routed experts stacked, as transformers 5 saves them
// ("mlp.experts.gate_up_proj" [E, 2I, H], "mlp.experts.down_proj" [E, H, I]; Mixtral's router
// "mlp.gate.weight"), or stored the other way round ([E, H, 2I], [E, I, H]), is the same model
// as the per-expert checkpoint of the same values: byte-identical GGUF files for two policies,
// and the same perplexity from `ramq eval`. A stack that fits neither orientation is refused
// naming the stored tensor.
TEST(GgufMoe, StackedExpertCheckpointsAreReadAsPerExpertOnes) {
  TempDir tmp("gguf-moe-stacked");
  write_tokens(tmp / "t.u32", random_tokens(64, 512, 5));
  for (const char* type : {"mixtral", "qwen3_moe"}) {
    SyntheticLlama shape = moe_shape(type, 4, 7020);
    shape.ffn = shape.expert_ffn = 512;  // != hidden: the orientation shows
    // The same directory name for all three: GGUF's general.name is taken from it.
    const auto dir = [&](char side) { return (tmp / type / std::string(1, side) / "m").string(); };
    write_synthetic_llama(dir('a'), shape);
    shape.stacked_experts = true;
    write_synthetic_llama(dir('b'), shape);
    shape.transposed_stacks = true;
    write_synthetic_llama(dir('c'), shape);
    for (const char* bits : {"4", "16"}) {
      for (const char side : {'a', 'b', 'c'}) {
        const auto r = run_ramq({"quantize", dir(side), "--format", "gguf", "--policy", "uniform", "--bits", bits,
                                 "-o", dir(side) + ".gguf", "--force"});
        ASSERT_EQ(r.status, 0) << type << " " << side << ": " << r.err;
      }
      const std::string a = slurp(dir('a') + ".gguf");
      EXPECT_EQ(a, slurp(dir('b') + ".gguf")) << type << " " << bits << " bits, [E, out, in]";
      EXPECT_EQ(a, slurp(dir('c') + ".gguf")) << type << " " << bits << " bits, [E, in, out]";
    }
    double ppl[3];
    for (int i = 0; i < 3; ++i)
      ppl[i] = ramq_json({"eval", dir(static_cast<char>('a' + i)), "--tokens", (tmp / "t.u32").string(), "--ctx", "64",
                          "--json"})
                   .value("ppl", 0.0);
    EXPECT_GT(ppl[0], 1.0) << type;
    EXPECT_EQ(ppl[0], ppl[1]) << type;
    EXPECT_EQ(ppl[0], ppl[2]) << type;
  }

  // A down_proj stack [E, H, 128] where config.json says the experts are 256 wide.
  SyntheticLlama narrow = moe_shape("qwen3_moe", 4, 7021);
  narrow.expert_ffn = 128;
  narrow.layers = 1;
  narrow.stacked_experts = true;
  write_synthetic_llama(tmp / "n", narrow);
  json cfg = json::parse(slurp(tmp / "n" / "config.json"));
  cfg["moe_intermediate_size"] = 256;
  write_file(tmp / "n" / "config.json", cfg.dump());
  const auto r = run_ramq({"quantize", (tmp / "n").string(), "--format", "gguf", "-o", (tmp / "n.gguf").string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("(stored as model.layers.0.mlp.experts.down_proj [4, 256, 128], expert 0)"), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(tmp / "n.gguf"));
}

// `ramq eval` of MoE outputs against their checkpoint: MLX (stacked switch_mlp) and GGUF (stacked
// *_exps) at 8 and 4 bits. A mis-sliced or mis-routed expert would put the KL divergence near
// that of an unrelated model of the same shape (another seed, measured here); quantization noise
// keeps it a small part of that, smaller at 8 bits than at 4, and the 8-bit model predicts the
// reference's top token almost everywhere.
TEST(GgufMoe, EvalOfMlxAndGgufOutputsAgainstTheCheckpoint) {
  TempDir tmp("moe-eval");
  for (const auto& [type, experts] : std::vector<std::pair<std::string, int>>{{"mixtral", 8}, {"qwen2_moe", 4},
                                                                               {"qwen3_moe", 4}}) {
    SyntheticLlama shape = moe_shape(type, experts, 7030);
    shape.dtype = ramq::DType::BF16;
    const fs::path dir = tmp / type;
    write_synthetic_llama(dir, shape);
    write_tokens(tmp / "t.u32", random_tokens(128, static_cast<std::uint32_t>(shape.vocab), 9));
    SyntheticLlama other = shape;
    other.seed += 1;
    write_synthetic_llama(tmp / (type + "-other"), other);
    const double unrelated = ramq_json({"eval", (tmp / (type + "-other")).string(), "--reference", dir.string(),
                                        "--tokens", (tmp / "t.u32").string(), "--ctx", "64", "--json"})
                                 .value("mean_kld", 0.0);
    std::printf("%-10s unrelated model: mean KLD %.5f\n", type.c_str(), unrelated);
    for (const char* format : {"mlx", "gguf"}) {
      double kld[2];
      for (int i = 0; i < 2; ++i) {
        const char* bits = i == 0 ? "8" : "4";
        const fs::path out = tmp / (type + "-" + format + bits + (format == std::string("gguf") ? ".gguf" : ""));
        const auto r = run_ramq({"quantize", dir.string(), "--format", format, "--policy", "uniform", "--bits", bits,
                                 "-o", out.string()});
        ASSERT_EQ(r.status, 0) << r.err;
        const json e = ramq_json({"eval", out.string(), "--reference", dir.string(), "--tokens",
                                  (tmp / "t.u32").string(), "--ctx", "64", "--json"});
        kld[i] = e.value("mean_kld", -1.0);
        std::printf("%-10s %-4s %s-bit: mean KLD %.5f, top-1 %.3f\n", type.c_str(), format, bits, kld[i],
                    e.value("top1_agreement", -1.0));
        if (i == 0) {
          EXPECT_GE(e.value("top1_agreement", 0.0), 0.9) << type << " " << format;
        }
      }
      EXPECT_GT(kld[0], 0.0) << type << " " << format;
      EXPECT_LT(kld[0], kld[1]) << type << " " << format;
      EXPECT_LT(kld[1], 0.25 * unrelated) << type << " " << format;
    }
  }
}

// Stacks the reader cannot split: a fused gate_up_proj with an odd row count, and an expert that
// is stored both on its own and inside the stack. One line naming the file and tensor, exit 1,
// nothing written.
TEST(GgufMoe, UnsplittableStacksAreRefused) {
  TempDir tmp("moe-bad-stack");
  const json cfg = json::parse(slurp([&] {
    write_synthetic_llama(tmp / "ref", moe_shape("qwen3_moe", 2, 7050));
    return tmp / "ref" / "config.json";
  }()));
  const std::vector<float> six(6 * 4, 0.5f);
  for (const bool odd : {true, false}) {
    SafetensorsBuilder b;
    if (odd) {
      b.add("model.layers.0.mlp.experts.gate_up_proj", ramq::DType::F32, {2, 3, 4}, six);
    } else {
      b.add("model.layers.0.mlp.experts.down_proj", ramq::DType::F32, {2, 3, 4}, six);
      b.add("model.layers.0.mlp.experts.1.down_proj.weight", ramq::DType::F32, {3, 4}, std::vector<float>(12, 1.0f));
    }
    const fs::path dir = tmp / (odd ? "odd" : "twice"), out = tmp / (odd ? "odd.gguf" : "twice.gguf");
    fs::create_directories(dir);
    write_model(dir, b, cfg.dump());
    const auto r = run_ramq({"quantize", dir.string(), "--format", "gguf", "-o", out.string()});
    EXPECT_EQ(r.status, 1);
    const std::string want = odd ? "tensor 'model.layers.0.mlp.experts.gate_up_proj': is a fused gate_up_proj stack "
                                   "[2, 3, 4] with an odd row count"
                                 : "tensor 'model.layers.0.mlp.experts.1.down_proj.weight': is stored both on its own "
                                   "and as model.layers.0.mlp.experts.down_proj [2, 3, 4], expert 1";
    EXPECT_NE(r.err.find(want), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(fs::exists(out));
  }
}

// The report and verify commands on MoE outputs: the plan's per-expert decisions are checked
// against the stacked tensors of the output (GGUF *_exps, mlx_lm switch_mlp), their bytes summed;
// a plan that disagrees with the output is refused naming the expert.
TEST(GgufMoe, ReportAndVerifyReadStackedOutputs) {
  TempDir tmp("moe-report");
  for (const std::string type : {"mixtral", "qwen2_moe"}) {
    write_synthetic_llama(tmp / type, moe_shape(type, 4, 7040));
    for (const char* format : {"gguf", "mlx"}) {
      const fs::path out = tmp / (type + "." + format), html = tmp / (type + "-" + format + ".html");
      const fs::path plan = tmp / (type + "-" + format + ".plan.json");
      auto r = run_ramq({"quantize", (tmp / type).string(), "--format", format, "--policy", "budget", "--target-bpw",
                         "4.5", "--save-plan", plan.string(), "--report", html.string(), "-o", out.string()});
      ASSERT_EQ(r.status, 0) << type << " " << format << ": " << r.err;
      EXPECT_TRUE(fs::exists(html));
      EXPECT_EQ(run_ramq({"verify", out.string()}).status, 0) << type << " " << format;
      // One expert's bytes changed in the plan: the stack's sum no longer matches.
      json p = json::parse(slurp(plan));
      for (auto& d : p["tensors"])
        if (d["name"].get<std::string>().find(".experts.1.") != std::string::npos) {
          d["bytes"] = d["bytes"].get<std::uint64_t>() + 1;
          break;
        }
      write_file(plan, p.dump());
      r = run_ramq({"report", out.string(), "--plan", plan.string(), "-o", (tmp / "bad.html").string()});
      EXPECT_EQ(r.status, 1) << type << " " << format;
      EXPECT_NE(r.err.find("bytes for model.layers."), std::string::npos) << r.err;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Families, GgufMoeLlamaCpp,
                         ::testing::Values(Family{"mixtral", "llama", 8, 7001}, Family{"qwen2_moe", "qwen2moe", 4, 7002},
                                           Family{"qwen3_moe", "qwen3moe", 4, 7003}),
                         [](const auto& p) { return p.param.model_type; });

}  // namespace
