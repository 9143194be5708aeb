// Acceptance: stories260K perplexities equal the independent llama2.c reference numbers of
// shared/data/stories260K/REFERENCE.md; MLX outputs of ramq are dequantized and evaluated.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "ramq/eval.h"
#include "ramq/ramq.h"
#include "support/temp_dir.h"

namespace {

const std::string kShared = RAMQ_SHARED_DIR;
const std::string kModel = kShared + "/models/stories260K";
const std::string kTiny = kShared + "/data/stories260K/tinystories_sample.u32";
const std::string kWiki = kShared + "/data/stories260K/wikitext2_test.u32";

double rel(double a, double b) { return std::fabs(a - b) / std::fabs(b); }

ramq::EvalOptions opts() {
  ramq::EvalOptions o;
  o.ctx = 256;
  return o;
}

struct Reference {
  std::string file;
  std::int64_t tokens, windows, scored;
  double ppl, median;
};

// Tolerance 1e-4 relative, from the arithmetic: the reference figures are printed to 6
// significant digits (at most 0.5e-5 / 3.8 = 1.3e-6 and 0.5e-3 / 134.8 = 3.7e-6 relative), and
// ln PPL is the mean over tokens of lse(z) - z_target, which a change of the logits by at most d
// (each |dz| <= d) moves by at most 2d; so PPL, and each window's PPL and thus the median, move
// by a factor within exp(+-2d). Two float32 forward passes that differ only in summation order
// (llama2.c's loops; OpenBLAS's kernel, which OpenBLAS picks per CPU at run time; glibc's libm
// variant, also picked per CPU) give logits within d <= 1e-5 of each other for this model
// (measured against llama.cpp on every logit: 7e-7 of the logit scale, about 15; see README),
// so the figures agree within 2d + 3.7e-6 < 2.5e-5 on any CPU; 1e-4 leaves a factor of 4.
TEST(EvalStories260K, PerplexityMatchesLlama2cReference) {
  const Reference refs[] = {{kTiny, 1809, 8, 1801, 3.84586, 3.80251}, {kWiki, 65536, 256, 65280, 151.397, 134.805}};
  const auto model = ramq::load_language_model(kModel, opts());
  EXPECT_EQ(model->vocab_size(), 512);
  for (const auto& ref : refs) {
    const auto toks = ramq::read_token_file(ref.file);
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = ramq::evaluate(*model, nullptr, toks, opts());
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s: %lld windows, %lld scored, PPL %.8g (ref %.6g), median %.8g (ref %.6g), %.3f s (printed, not asserted)\n",
                ref.file.c_str(), static_cast<long long>(r.windows), static_cast<long long>(r.scored_tokens), r.ppl,
                ref.ppl, r.median_window_ppl, ref.median, secs);
    EXPECT_EQ(r.tokens, ref.tokens);
    EXPECT_EQ(r.windows, ref.windows);
    EXPECT_EQ(r.scored_tokens, ref.scored);
    EXPECT_LT(rel(r.ppl, ref.ppl), 1e-4) << r.ppl;
    EXPECT_LT(rel(r.median_window_ppl, ref.median), 1e-4) << r.median_window_ppl;
  }
}

TEST(EvalStories260K, AgainstItselfAsReference) {
  const auto a = ramq::load_language_model(kModel, opts());
  const auto b = ramq::load_language_model(kModel, opts());
  const auto toks = ramq::read_token_file(kTiny);
  auto o = opts();
  ramq::Progress progress(stderr, ramq::progress_style_for(fileno(stderr), false), 5.0);  // silent in a quick test
  o.progress = &progress;
  const auto r = ramq::evaluate(*a, b.get(), toks, o);
  EXPECT_EQ(*r.mean_kld, 0.0);
  EXPECT_EQ(*r.top1_agreement, 1.0);
  EXPECT_DOUBLE_EQ(*r.ppl_ratio, 1.0);
}

TEST(EvalStories260K, LogitsDoNotDependOnThreadCount) {
  auto o1 = opts();
  o1.threads = 1;
  auto o3 = opts();
  o3.threads = 3;
  const auto a = ramq::load_language_model(kModel, o1);
  const auto b = ramq::load_language_model(kModel, o3);
  auto toks = ramq::read_token_file(kWiki);
  toks.resize(255);
  EXPECT_EQ(a->forward(toks), b->forward(toks));
}

// Quantizes stories260K to MLX with the uniform policy (embeddings too) into dir.
void quantize_uniform(const std::filesystem::path& out, int bits) {
  ramq::Options o;
  o.threads = 1;
  o.policy = ramq::PolicyKind::Uniform;
  o.uniform.bits = bits;
  o.uniform.group = 32;
  o.uniform.quantize_embeddings = true;
  ramq::QuantizeRequest req;
  req.model_dir = kModel;
  req.output = out;
  ramq::quantize(req, o);
}

TEST(EvalStories260K, MlxOutputIsDequantizedAndEvaluated) {
  ramq::testkit::TempDir tmp("eval-mlx-stories");
  quantize_uniform(tmp / "q8", 8);
  quantize_uniform(tmp / "q2", 2);
  const auto toks = ramq::read_token_file(kTiny);
  const auto ref = ramq::load_language_model(kModel, opts());
  const auto q8 = ramq::load_language_model(tmp / "q8", opts());
  const auto q2 = ramq::load_language_model(tmp / "q2", opts());
  const auto r8 = ramq::evaluate(*q8, ref.get(), toks, opts());
  const auto r2 = ramq::evaluate(*q2, ref.get(), toks, opts());
  std::printf("8-bit g32: PPL %.6g (float %.6g), ratio %.6f, KL mean %.3g median %.3g, top-1 %.4f\n", r8.ppl,
              *r8.ppl_reference, *r8.ppl_ratio, *r8.mean_kld, *r8.median_kld, *r8.top1_agreement);
  std::printf("2-bit g32: PPL %.6g, ratio %.6f, KL mean %.3g median %.3g, top-1 %.4f\n", r2.ppl, *r2.ppl_ratio,
              *r2.mean_kld, *r2.median_kld, *r2.top1_agreement);
  EXPECT_LT(rel(*r8.ppl_reference, 3.84586), 1e-4);
  EXPECT_LT(std::fabs(*r8.ppl_ratio - 1.0), 0.01);
  EXPECT_GT(*r8.mean_kld, 0.0);
  EXPECT_LT(*r8.mean_kld, 0.01);
  EXPECT_GT(*r2.ppl_ratio, 1.05);
  EXPECT_GT(*r2.mean_kld, *r8.mean_kld);
}

}  // namespace
