// choose_token (include/ramq/generate.h): greedy ties, top-k, and the sampled frequencies
// against the softmax probabilities computed here independently.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "ramq/error.h"
#include "ramq/generate.h"
#include "ramq/rng.h"

namespace {

TEST(Sampling, GreedyTakesTheLargestLogitAndTheLowestIdOnTies) {
  ramq::Rng rng(1);
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f};
  EXPECT_EQ(ramq::choose_token(logits, {.temperature = 0, .top_k = 0, .seed = 0}, rng), 1u);
  EXPECT_EQ(ramq::choose_token(logits, {.temperature = 1.5, .top_k = 1, .seed = 0}, rng), 1u);
}

TEST(Sampling, TopKKeepsOnlyTheKLargest) {
  ramq::Rng rng(3);
  const std::vector<float> logits = {5.0f, 0.0f, 4.9f, 4.8f, -3.0f};
  for (int i = 0; i < 2000; ++i) {
    const auto id = ramq::choose_token(logits, {.temperature = 10, .top_k = 2, .seed = 0}, rng);
    EXPECT_TRUE(id == 0u || id == 2u) << id;
  }
}

// Frequencies of 40000 draws within 4 standard deviations of softmax(logits / T).
TEST(Sampling, FrequenciesFollowTheTemperedSoftmax) {
  const std::vector<float> logits = {1.0f, 0.0f, 2.0f, -1.0f};
  for (const double t : {0.5, 1.0, 2.0}) {
    ramq::Rng rng(42);
    std::vector<int> count(logits.size(), 0);
    const int draws = 40000;
    for (int i = 0; i < draws; ++i) ++count[ramq::choose_token(logits, {.temperature = t, .top_k = 0, .seed = 0}, rng)];
    double z = 0;
    for (const float l : logits) z += std::exp(l / t);
    for (std::size_t i = 0; i < logits.size(); ++i) {
      const double p = std::exp(logits[i] / t) / z, sd = std::sqrt(draws * p * (1 - p));
      EXPECT_NEAR(count[i], draws * p, 4 * sd + 1) << "temperature " << t << ", id " << i;
    }
  }
}

TEST(Sampling, SameSeedSameDraws) {
  const std::vector<float> logits = {0.3f, 0.1f, 0.2f, 0.25f, 0.0f};
  std::vector<std::uint32_t> a, b;
  ramq::Rng r1(9), r2(9);
  for (int i = 0; i < 100; ++i) {
    a.push_back(ramq::choose_token(logits, {.temperature = 1, .top_k = 0, .seed = 0}, r1));
    b.push_back(ramq::choose_token(logits, {.temperature = 1, .top_k = 0, .seed = 0}, r2));
  }
  EXPECT_EQ(a, b);
}

TEST(Sampling, BadSettingsAreErrors) {
  ramq::Rng rng(1);
  const std::vector<float> logits = {0.0f, 1.0f};
  EXPECT_THROW(ramq::choose_token(logits, {.temperature = -1, .top_k = 0, .seed = 0}, rng), ramq::Error);
  EXPECT_THROW(ramq::choose_token(logits, {.temperature = NAN, .top_k = 0, .seed = 0}, rng), ramq::Error);
  EXPECT_THROW(ramq::choose_token({}, {.temperature = 1, .top_k = 0, .seed = 0}, rng), ramq::Error);
}

}  // namespace
