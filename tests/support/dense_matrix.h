// Test support: a small owned row-major float matrix.
#pragma once

#include <cstdint>
#include <vector>

#include "ramq/metrics.h"

namespace ramq::testkit {

struct Dense {
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::vector<float> data;  // row-major
  MatrixView view() const { return {data.data(), rows, cols}; }
};

}  // namespace ramq::testkit
