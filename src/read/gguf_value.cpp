// GgufValue factories (include/ramq/gguf.h): GGUF metadata values, for the reader's callers and
// the writers alike (src/arch builds a family's metadata with them, below the writer).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ramq/gguf.h"

namespace ramq {

GgufValue GgufValue::u32(std::uint32_t x) { return {GgufValueType::UINT32, std::uint64_t{x}}; }
GgufValue GgufValue::i32(std::int32_t x) { return {GgufValueType::INT32, std::int64_t{x}}; }
GgufValue GgufValue::u64(std::uint64_t x) { return {GgufValueType::UINT64, x}; }
GgufValue GgufValue::f32(float x) { return {GgufValueType::FLOAT32, static_cast<double>(x)}; }
GgufValue GgufValue::boolean(bool x) { return {GgufValueType::BOOL, x}; }
GgufValue GgufValue::str(std::string s) { return {GgufValueType::STRING, std::move(s)}; }

namespace {

template <typename T, typename F>
GgufValue make_array(GgufValueType elem, std::vector<T> xs, F make) {
  auto arr = std::make_shared<GgufArray>();
  arr->elem_type = elem;
  arr->items.reserve(xs.size());
  for (auto& x : xs) arr->items.push_back(make(std::move(x)));
  return {GgufValueType::ARRAY, std::move(arr)};
}

}  // namespace

GgufValue GgufValue::strings(std::vector<std::string> xs) {
  return make_array(GgufValueType::STRING, std::move(xs), [](std::string s) { return GgufValue::str(std::move(s)); });
}
GgufValue GgufValue::f32s(std::vector<float> xs) {
  return make_array(GgufValueType::FLOAT32, std::move(xs), [](float f) { return GgufValue::f32(f); });
}
GgufValue GgufValue::i32s(std::vector<std::int32_t> xs) {
  return make_array(GgufValueType::INT32, std::move(xs), [](std::int32_t i) { return GgufValue::i32(i); });
}

GgufValue GgufValue::booleans(std::vector<bool> xs) {
  auto arr = std::make_shared<GgufArray>();
  arr->elem_type = GgufValueType::BOOL;
  for (const bool b : xs) arr->items.push_back(GgufValue::boolean(b));
  return {GgufValueType::ARRAY, std::move(arr)};
}

}  // namespace ramq
