// `ramq inspect` and `ramq eval` through the command line, on the example model.
#include <gtest/gtest.h>

#include <cmath>

#include "support/run_ramq.h"
#include "support/safetensors_builder.h"

using namespace ramq::testkit;
using nlohmann::json;

namespace {
json run_json(const std::vector<std::string>& args) {
  const auto r = run_ramq(args);
  EXPECT_EQ(r.status, 0) << r.err;
  return r.status == 0 ? json::parse(r.out) : json::object();
}
}  // namespace

TEST(InspectCli, TotalsAgreeWithThePlanForEveryFormat) {
  TempDir tmp("inspect");
  const auto original = run_json({"inspect", stories_dir(), "--json"});
  EXPECT_EQ(original["kind"], "safetensors model");
  EXPECT_EQ(original["tensor_count"], 47);
  EXPECT_EQ(original["total_params"], 260032);
  EXPECT_EQ(original["total_bytes"], 260032 * 4);  // F32
  for (const char* format : {"mlx", "gguf"}) {
    const auto out = tmp / (std::string("out.") + format);
    const auto plan_file = tmp / (std::string(format) + ".plan.json");
    auto r = run_ramq({"quantize", stories_dir(), "--format", format, "-o", out.string(), "--save-plan", plan_file.string()});
    ASSERT_EQ(r.status, 0) << r.err;
    const json plan = json::parse(slurp(plan_file));
    const json in = run_json({"inspect", out.string(), "--json"});
    EXPECT_EQ(in["total_params"], 260032) << format;
    // What the plan predicted is what the files hold.
    EXPECT_EQ(in["total_bytes"].get<std::uint64_t>(), plan["totals"]["bytes"].get<std::uint64_t>()) << format;
    std::uint64_t sum = 0;
    for (const auto& t : in["tensors"]) sum += t["bytes"].get<std::uint64_t>();
    EXPECT_EQ(sum, in["total_bytes"].get<std::uint64_t>());
  }
}

TEST(InspectCli, MalformedGgufIsOneLineError) {
  TempDir tmp("inspect-bad");
  const auto bad = tmp / "bad.gguf";
  write_file(bad, std::string("GGUF\x03\0\0\0", 8) + std::string(8, '\xff'));  // tensor count near 2^64, then EOF
  const auto r = run_ramq({"inspect", bad.string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(bad.string()), std::string::npos) << r.err;
}

// The reference numbers of shared/data/stories260K/REFERENCE.md, from raw text through the
// llama2.c tokenizer and from the pre-tokenized files.
// Tolerance 1e-4 (as in tests/evaluate/stories260k_eval_test.cpp) relative, from the arithmetic: the reference figures are printed to 6
// significant digits (at most 0.5e-5 / 3.8 = 1.3e-6 and 0.5e-3 / 134.8 = 3.7e-6 relative), and
// ln PPL is the mean over tokens of lse(z) - z_target, which a change of the logits by at most d
// (each |dz| <= d) moves by at most 2d; so PPL, and each window's PPL and thus the median, move
// by a factor within exp(+-2d). Two float32 forward passes that differ only in summation order
// (llama2.c's loops; OpenBLAS's kernel, which OpenBLAS picks per CPU at run time; glibc's libm
// variant, also picked per CPU) give logits within d <= 1e-5 of each other for this model
// (measured against llama.cpp on every logit: 7e-7 of the logit scale, about 15; see README),
// so the figures agree within 2d + 3.7e-6 < 2.5e-5 on any CPU; 1e-4 leaves a factor of 4.
TEST(EvalCli, MatchesReferenceFromTextAndTokens) {
  const json wiki = run_json({"eval", stories_dir(), "--text", shared_dir() + "/data/wikitext-2-raw/wiki.test.raw",
                              "--max-tokens", "65536", "--json"});
  EXPECT_EQ(wiki["scored_tokens"], 65280);
  EXPECT_EQ(wiki["windows"], 256);
  EXPECT_LT(std::fabs(wiki["ppl"].get<double>() / 151.397 - 1), 1e-4) << wiki["ppl"];
  EXPECT_LT(std::fabs(wiki["median_window_ppl"].get<double>() / 134.805 - 1), 1e-4);
  const json ts = run_json({"eval", stories_dir(), "--tokens", shared_dir() + "/data/stories260K/tinystories_sample.u32",
                            "--reference", stories_dir(), "--json"});
  EXPECT_EQ(ts["scored_tokens"], 1801);
  EXPECT_LT(std::fabs(ts["ppl"].get<double>() / 3.84586 - 1), 1e-4);
  EXPECT_LT(std::fabs(ts["median_window_ppl"].get<double>() / 3.80251 - 1), 1e-4);
  EXPECT_EQ(ts["mean_kld"].get<double>(), 0.0);  // a model against itself
  EXPECT_EQ(ts["top1_agreement"].get<double>(), 1.0);
}

TEST(EvalCli, BadTokenFileAndMissingInput) {
  TempDir tmp("eval-bad");
  write_file(tmp / "t.u32", std::string(7, '\1'));
  auto r = run_ramq({"eval", stories_dir(), "--tokens", (tmp / "t.u32").string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find((tmp / "t.u32").string()), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  // Token ids beyond the vocabulary name the token file.
  write_file(tmp / "big.u32", std::string("\x01\0\0\0\xff\xff\0\0\x02\0\0\0", 12));
  r = run_ramq({"eval", stories_dir(), "--tokens", (tmp / "big.u32").string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find((tmp / "big.u32").string()), std::string::npos) << r.err;
  EXPECT_EQ(run_ramq({"eval", stories_dir()}).status, 2);
}
