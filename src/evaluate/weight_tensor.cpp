// WeightTensor range checks, WeightSource::load and the finiteness check shared by the sources.
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>

#include "evaluate/weights.h"
#include "ramq/dtype.h"
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

namespace {

class RowSlice final : public WeightTensor {
 public:
  RowSlice(std::shared_ptr<const WeightTensor> whole, std::int64_t first, std::int64_t count)
      : WeightTensor(count, whole->cols()), whole_(std::move(whole)), first_(first) {}

 protected:
  const float* decode(std::int64_t first, std::int64_t count, std::vector<float>& scratch) const override {
    return whole_->read_rows(first_ + first, count, scratch);
  }

 private:
  std::shared_ptr<const WeightTensor> whole_;
  std::int64_t first_;
};

}  // namespace

std::unique_ptr<WeightTensor> row_slice(std::shared_ptr<const WeightTensor> whole, std::int64_t first,
                                        std::int64_t count) {
  if (first < 0 || count < 1 || first > whole->rows() || count > whole->rows() - first)
    throw std::out_of_range("row_slice: rows [" + std::to_string(first) + ", +" + std::to_string(count) + ") of " +
                            std::to_string(whole->rows()));
  return std::make_unique<RowSlice>(std::move(whole), first, count);
}

std::vector<std::unique_ptr<WeightTensor>> WeightSource::experts(const std::string& stack_key, std::int64_t count,
                                                                 std::int64_t out, std::int64_t in) const {
  std::vector<std::unique_ptr<WeightTensor>> v;
  if (has(stack_key)) {  // stored stacked
    const std::vector<std::int64_t> want{count, out, in};
    if (shape(stack_key) != want)
      throw Error(config_file(), stack_key,
                  "has shape " + shape_text(shape(stack_key)) + " but the configuration implies " + shape_text(want));
    std::shared_ptr<const WeightTensor> whole = tensor(stack_key);
    for (std::int64_t e = 0; e < count; ++e) v.push_back(row_slice(whole, e * out, out));
    return v;
  }
  const std::size_t star = stack_key.find('*');
  for (std::int64_t e = 0; e < count; ++e) {
    const std::string name = stack_key.substr(0, star) + std::to_string(e) + stack_key.substr(star + 1);
    const std::vector<std::int64_t> want{out, in};
    if (shape(name) != want)
      throw Error(config_file(), name,
                  "has shape " + shape_text(shape(name)) + " but the configuration implies " + shape_text(want));
    v.push_back(tensor(name));
  }
  return v;
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
