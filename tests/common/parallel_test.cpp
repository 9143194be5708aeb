#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "ramq/parallel.h"

using namespace ramq;

TEST(Parallel, EveryIndexOnceAnyThreadCount) {
  for (unsigned threads : {1u, 2u, 3u, 8u}) {
    std::vector<int> hits(1000, 0);
    parallel_for(hits.size(), threads, [&](std::size_t i) { hits[i] += 1; });
    for (int h : hits) ASSERT_EQ(h, 1);
  }
}

TEST(Parallel, RethrowsLowestFailingIndexWithOneThread) {
  try {
    parallel_for(10, 1, [](std::size_t i) {
      if (i == 3 || i == 7) throw std::runtime_error("fail " + std::to_string(i));
    });
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "fail 3");
  }
}

TEST(Parallel, ExceptionPropagatesWithManyThreads) {
  EXPECT_THROW(parallel_for(100, 4, [](std::size_t i) {
                 if (i == 50) throw std::runtime_error("x");
               }),
               std::runtime_error);
}

TEST(Parallel, ResolveThreads) {
  EXPECT_EQ(resolve_threads(3), 3u);
  EXPECT_GE(resolve_threads(0), 1u);
}
