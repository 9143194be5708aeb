// evaluate(): the windowing / PPL / median / KL protocol, checked with fake language models
// whose answers are known in closed form.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "ramq/error.h"
#include "ramq/eval.h"
#include "support/temp_dir.h"

namespace {

using ramq::EvalOptions;
using ramq::EvalResult;
using ramq::LanguageModel;

// Logits given by a function of (window input, position); records the input lengths it saw.
class FakeModel : public LanguageModel {
 public:
  using Fn = std::function<void(std::span<const std::uint32_t>, std::size_t, float*)>;
  FakeModel(std::int64_t vocab, Fn fn) : vocab_(vocab), fn_(std::move(fn)) {}
  std::int64_t vocab_size() const override { return vocab_; }
  std::vector<float> forward(std::span<const std::uint32_t> tokens) override {
    calls.push_back(tokens.size());
    std::vector<float> out(tokens.size() * static_cast<std::size_t>(vocab_), 0.0f);
    for (std::size_t i = 0; i < tokens.size(); ++i) fn_(tokens, i, out.data() + i * static_cast<std::size_t>(vocab_));
    return out;
  }
  std::string description() const override { return "fake"; }
  std::vector<std::size_t> calls;

 private:
  std::int64_t vocab_;
  Fn fn_;
};

FakeModel uniform(std::int64_t vocab) {
  return FakeModel(vocab, [](std::span<const std::uint32_t>, std::size_t, float*) {});
}

std::vector<std::uint32_t> stream(std::size_t n, std::uint32_t vocab) {
  std::vector<std::uint32_t> t(n);
  for (std::size_t i = 0; i < n; ++i) t[i] = static_cast<std::uint32_t>((i * 7 + 3) % vocab);
  return t;
}

EvalOptions ctx_opt(int ctx) {
  EvalOptions o;
  o.ctx = ctx;
  return o;
}

TEST(EvalProtocol, UniformLogitsGivePplEqualToVocab) {
  auto m = uniform(37);
  const auto toks = stream(1000, 37);
  const EvalResult r = ramq::evaluate(m, nullptr, toks, ctx_opt(256));
  EXPECT_NEAR(r.ppl, 37.0, 1e-9);
  EXPECT_NEAR(r.median_window_ppl, 37.0, 1e-9);
  EXPECT_NEAR(r.mean_nll, std::log(37.0), 1e-12);
  EXPECT_FALSE(r.mean_kld.has_value());
  EXPECT_FALSE(r.ppl_ratio.has_value());
}

TEST(EvalProtocol, AllMassOnTrueNextTokenGivesPplOne) {
  const std::uint32_t V = 50;
  // The stream follows next = (cur + 7) % V; the oracle puts a huge logit on that token.
  FakeModel m(V, [&](std::span<const std::uint32_t> in, std::size_t i, float* row) { row[(in[i] + 7) % V] = 200.0f; });
  const auto toks = stream(777, V);
  const EvalResult r = ramq::evaluate(m, nullptr, toks, ctx_opt(64));
  EXPECT_NEAR(r.ppl, 1.0, 1e-12);
  EXPECT_NEAR(r.median_window_ppl, 1.0, 1e-12);
}

struct WindowCase {
  std::size_t tokens;
  int ctx;
  std::int64_t windows, scored;
  std::vector<std::size_t> inputs;  // lengths fed to the model
};

TEST(EvalProtocol, WindowCounting) {
  const std::vector<WindowCase> cases = {
      {257, 256, 1, 255, {255}},           {258, 256, 2, 256, {255, 1}},
      {256, 256, 1, 255, {255}},           {512, 256, 2, 510, {255, 255}},
      {513, 256, 2, 510, {255, 255}},      {514, 256, 3, 511, {255, 255, 1}},
      {2, 256, 1, 1, {1}},                 {10, 2, 5, 5, {1, 1, 1, 1, 1}},
      {11, 2, 5, 5, {1, 1, 1, 1, 1}},      {1809, 256, 8, 1801, {255, 255, 255, 255, 255, 255, 255, 16}},
  };
  for (const auto& c : cases) {
    auto m = uniform(11);
    const auto toks = stream(c.tokens, 11);
    const EvalResult r = ramq::evaluate(m, nullptr, toks, ctx_opt(c.ctx));
    SCOPED_TRACE(std::to_string(c.tokens) + " tokens, ctx " + std::to_string(c.ctx));
    EXPECT_EQ(r.tokens, static_cast<std::int64_t>(c.tokens));
    EXPECT_EQ(r.windows, c.windows);
    EXPECT_EQ(r.scored_tokens, c.scored);
    EXPECT_EQ(m.calls, c.inputs);
  }
}

TEST(EvalProtocol, TooFewTokensOrBadOptionsThrow) {
  auto m = uniform(11);
  const auto one = stream(1, 11);
  EXPECT_THROW(ramq::evaluate(m, nullptr, one, ctx_opt(256)), ramq::Error);
  EXPECT_THROW(ramq::evaluate(m, nullptr, {}, ctx_opt(256)), ramq::Error);
  const auto toks = stream(100, 11);
  EXPECT_THROW(ramq::evaluate(m, nullptr, toks, ctx_opt(1)), ramq::Error);
  std::vector<std::uint32_t> bad = {1, 2, 11};  // 11 is outside a vocabulary of 11
  EXPECT_THROW(ramq::evaluate(m, nullptr, bad, ctx_opt(256)), ramq::Error);
}

TEST(EvalProtocol, MaxTokensTruncatesFirst) {
  auto m = uniform(11);
  const auto toks = stream(1000, 11);
  EvalOptions o = ctx_opt(256);
  o.max_tokens = 258;
  const EvalResult r = ramq::evaluate(m, nullptr, toks, o);
  EXPECT_EQ(r.tokens, 258);
  EXPECT_EQ(r.windows, 2);
  EXPECT_EQ(r.scored_tokens, 256);
}

// Window w starts with a marker token m_w, then zeros; the model is uniform over ids
// 0..m_w (the first input token of the window) so each scored token has probability
// 1/(m_w + 1) and the window PPL is exactly m_w + 1.
FakeModel marker_model() {
  return FakeModel(16, [](std::span<const std::uint32_t> in, std::size_t, float* row) {
    for (std::uint32_t t = in[0] + 1; t < 16; ++t) row[t] = -1e30f;
  });
}
std::vector<std::uint32_t> marker_stream(const std::vector<std::uint32_t>& markers, int ctx) {
  std::vector<std::uint32_t> t;
  for (const auto m : markers) {
    t.push_back(m);
    t.insert(t.end(), static_cast<std::size_t>(ctx - 1), 0u);
  }
  return t;
}

TEST(EvalProtocol, MedianOddAndEvenWindowCounts) {
  {
    auto m = marker_model();
    const EvalResult r = ramq::evaluate(m, nullptr, marker_stream({4, 0, 9}, 4), ctx_opt(4));
    EXPECT_EQ(r.windows, 3);
    EXPECT_NEAR(r.median_window_ppl, 5.0, 1e-9);                  // {5, 1, 10}
    EXPECT_NEAR(r.ppl, std::cbrt(5.0 * 1.0 * 10.0), 1e-9);        // equal scored counts: geometric mean
  }
  {
    auto m = marker_model();
    const EvalResult r = ramq::evaluate(m, nullptr, marker_stream({4, 0, 9, 2}, 4), ctx_opt(4));
    EXPECT_EQ(r.windows, 4);
    EXPECT_NEAR(r.median_window_ppl, 4.0, 1e-9);  // {5, 1, 10, 3}: (3 + 5) / 2
  }
  {
    // A partial last window counts in the median and is weighted by its scored tokens in the PPL.
    auto m = marker_model();
    auto toks = marker_stream({4, 0}, 4);
    toks.push_back(9);
    toks.push_back(0);  // last window: 2 tokens, 1 scored, PPL 10
    const EvalResult r = ramq::evaluate(m, nullptr, toks, ctx_opt(4));
    EXPECT_EQ(r.windows, 3);
    EXPECT_EQ(r.scored_tokens, 7);
    EXPECT_NEAR(r.median_window_ppl, 5.0, 1e-9);
    EXPECT_NEAR(r.ppl, std::exp((3 * std::log(5.0) + 3 * std::log(1.0) + std::log(10.0)) / 7), 1e-9);
  }
}

// Deterministic, position-dependent logits.
FakeModel wiggly(std::int64_t vocab, float amp) {
  return FakeModel(vocab, [=](std::span<const std::uint32_t> in, std::size_t i, float* row) {
    for (std::int64_t t = 0; t < vocab; ++t)
      row[t] = amp * static_cast<float>(std::sin(0.37 * static_cast<double>(t * 13 + in[i] * 5 + i)));
  });
}

TEST(EvalProtocol, ModelAgainstItselfHasZeroKl) {
  auto m = wiggly(64, 3.0f);
  auto ref = wiggly(64, 3.0f);
  const auto toks = stream(700, 64);
  const EvalResult r = ramq::evaluate(m, &ref, toks, ctx_opt(128));
  ASSERT_TRUE(r.mean_kld && r.median_kld && r.top1_agreement && r.ppl_reference && r.ppl_ratio);
  EXPECT_EQ(*r.mean_kld, 0.0);
  EXPECT_EQ(*r.median_kld, 0.0);
  EXPECT_EQ(*r.top1_agreement, 1.0);
  EXPECT_DOUBLE_EQ(*r.ppl_reference, r.ppl);
  EXPECT_DOUBLE_EQ(*r.ppl_ratio, 1.0);
}

TEST(EvalProtocol, KlOfUniformAgainstKnownDistribution) {
  const std::vector<double> p = {0.1, 0.2, 0.4, 0.05, 0.25};
  const std::int64_t V = 5;
  FakeModel ref(V, [&](std::span<const std::uint32_t>, std::size_t, float* row) {
    for (std::size_t t = 0; t < p.size(); ++t) row[t] = static_cast<float>(std::log(p[t]) + 3.0);  // shift-invariant
  });
  auto model = uniform(V);
  double expected = 0;
  for (const double pi : p) expected += pi * std::log(pi * static_cast<double>(V));
  const auto toks = stream(300, 5);
  const EvalResult r = ramq::evaluate(model, &ref, toks, ctx_opt(100));
  ASSERT_TRUE(r.mean_kld.has_value());
  EXPECT_NEAR(*r.mean_kld, expected, 1e-6);  // the reference logits are float32
  EXPECT_NEAR(*r.median_kld, expected, 1e-6);
  EXPECT_EQ(*r.top1_agreement, 0.0);  // uniform argmax is id 0 (lowest on ties); reference's is id 2
  EXPECT_NEAR(r.ppl, 5.0, 1e-9);
  EXPECT_NEAR(*r.ppl_ratio, r.ppl / *r.ppl_reference, 1e-12);
}

TEST(EvalProtocol, TiesGoToLowestIdForTop1) {
  FakeModel ref(4, [](std::span<const std::uint32_t>, std::size_t, float* row) { row[0] = 1.0f; });
  auto model = uniform(4);  // all tied: argmax 0
  const auto toks = stream(50, 4);
  const EvalResult r = ramq::evaluate(model, &ref, toks, ctx_opt(16));
  EXPECT_EQ(*r.top1_agreement, 1.0);
  EXPECT_GT(*r.mean_kld, 0.0);
}

TEST(EvalProtocol, ReferenceVocabularyMustMatch) {
  auto a = uniform(10);
  auto b = uniform(11);
  const auto toks = stream(50, 10);
  EXPECT_THROW(ramq::evaluate(a, &b, toks, ctx_opt(16)), ramq::Error);
}

TEST(EvalProtocol, ResultJson) {
  auto m = uniform(8);
  auto ref = wiggly(8, 1.0f);
  const auto toks = stream(40, 8);
  const EvalResult r = ramq::evaluate(m, &ref, toks, ctx_opt(16));
  const auto j = ramq::eval_result_to_json(r);
  EXPECT_EQ(j.at("tokens"), 40);
  EXPECT_EQ(j.at("windows"), 3);
  EXPECT_EQ(j.at("scored_tokens"), 37);  // 15 + 15 + 7
  EXPECT_DOUBLE_EQ(j.at("ppl").get<double>(), r.ppl);
  for (const char* k : {"mean_nll", "median_window_ppl", "mean_kld", "median_kld", "top1_agreement", "ppl_reference",
                        "ppl_ratio"})
    EXPECT_TRUE(j.contains(k)) << k;
  const auto j2 = ramq::eval_result_to_json(ramq::evaluate(m, nullptr, toks, ctx_opt(16)));
  EXPECT_FALSE(j2.contains("mean_kld"));
}

TEST(TokenFile, ReadsLittleEndianAndRejectsBadSize) {
  ramq::testkit::TempDir tmp("eval-tokens");
  const auto good = tmp / "good.u32";
  {
    std::ofstream f(good, std::ios::binary);
    const unsigned char bytes[] = {1, 0, 0, 0, 0x78, 0x56, 0x34, 0x12};
    f.write(reinterpret_cast<const char*>(bytes), sizeof bytes);
  }
  EXPECT_EQ(ramq::read_token_file(good), (std::vector<std::uint32_t>{1u, 0x12345678u}));
  const auto bad = tmp / "bad.u32";
  {
    std::ofstream f(bad, std::ios::binary);
    f.write("abcdefg", 7);
  }
  try {
    ramq::read_token_file(bad);
    FAIL() << "expected ramq::Error";
  } catch (const ramq::Error& e) {
    EXPECT_EQ(e.file(), bad.string());
    EXPECT_NE(e.problem().find("multiple of 4"), std::string::npos);
  }
  EXPECT_THROW(ramq::read_token_file(tmp / "missing.u32"), ramq::Error);
}

}  // namespace
