// WeightTensor range checks, WeightSource::load and the finiteness check shared by the sources.
#include <cmath>
#include <stdexcept>
#include <string>

#include "evaluate/weights.h"
#include "ramq/error.h"

namespace ramq::eval {

const float* WeightTensor::read_rows(std::int64_t first, std::int64_t count, std::vector<float>& scratch) const {
  if (first < 0 || count < 1 || first > rows_ || count > rows_ - first)
    throw std::out_of_range("WeightTensor::read_rows: rows [" + std::to_string(first) + ", +" +
                            std::to_string(count) + ") of " + std::to_string(rows_));
  return decode(first, count, scratch);
}

float* WeightTensor::room(std::vector<float>& scratch, std::int64_t count) const {
  const auto need = static_cast<std::size_t>(count * cols_);
  if (scratch.size() < need) scratch.resize(need);
  return scratch.data();
}

std::vector<float> WeightSource::load(const std::string& hf_name) const {
  const auto t = tensor(hf_name);
  std::vector<float> out;
  if (t->rows() == 0 || t->cols() == 0) return out;
  const float* p = t->read_rows(0, t->rows(), out);
  if (p != out.data()) out.assign(p, p + t->rows() * t->cols());
  return out;
}

void require_finite(const float* v, std::size_t n, std::uint64_t offset, const std::string& file,
                    const std::string& tensor) {
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isfinite(v[i])) continue;
    throw Error(file, tensor, std::string(std::isnan(v[i]) ? "contains NaN" : "contains Inf") + " at element " +
                                  std::to_string(offset + i));
  }
}

}  // namespace ramq::eval
