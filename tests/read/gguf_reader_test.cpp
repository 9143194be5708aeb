// GgufReader on hand-built files: a valid file read back in full, and malformed files each
// rejected with one ramq::Error line naming the file and the problem.
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <functional>
#include <limits>

#include "ramq/error.h"
#include "ramq/gguf.h"
#include "support/safetensors_builder.h"

namespace ramq {
namespace {

using testkit::TempDir;

// Byte-level GGUF builder, independent of ramq's writer.
struct B {
  std::string s;
  B& u8(std::uint8_t v) { s.push_back(static_cast<char>(v)); return *this; }
  B& le(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    return *this;
  }
  B& u32(std::uint32_t v) { return le(v, 4); }
  B& u64(std::uint64_t v) { return le(v, 8); }
  B& f32(float f) { return u32(std::bit_cast<std::uint32_t>(f)); }
  B& str(const std::string& x) { u64(x.size()); s += x; return *this; }
  B& header(std::uint64_t n_tensors, std::uint64_t n_kv, std::uint32_t version = 3) {
    s += "GGUF";
    return u32(version).u64(n_tensors).u64(n_kv);
  }
  B& kv_u32(const std::string& k, std::uint32_t v) { return str(k).u32(4).u32(v); }
  B& info(const std::string& name, std::vector<std::uint64_t> ne, std::uint32_t type, std::uint64_t off) {
    str(name).u32(static_cast<std::uint32_t>(ne.size()));
    for (auto d : ne) u64(d);
    return u32(type).u64(off);
  }
  B& pad(std::size_t a = 32) {
    while (s.size() % a) s.push_back('\0');
    return *this;
  }
  B& floats(std::vector<float> v) {
    for (float f : v) f32(f);
    return *this;
  }
};

struct GgufReaderTest : ::testing::Test {
  TempDir tmp;
  std::string write(const std::string& bytes, const std::string& name = "m.gguf") {
    const auto p = tmp / name;
    testkit::write_file(p, bytes);
    return p.string();
  }
  // Expects the file to be rejected with an Error naming the file and containing every needle.
  void expect_rejected(const std::string& bytes, const std::vector<std::string>& needles) {
    const std::string p = write(bytes, "bad.gguf");
    try {
      GgufReader r(p);
      ADD_FAILURE() << "accepted; expected: " << needles.front();
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.find('\n'), std::string::npos);
      EXPECT_EQ(e.file(), p);
      EXPECT_EQ(msg.rfind(p + ": ", 0), 0u) << msg;
      for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
    }
  }
};

TEST_F(GgufReaderTest, ReadsEveryValueTypeAndTensor) {
  B b;
  b.header(2, 14);
  b.str("general.alignment").u32(4).u32(32);
  b.str("k.u8").u32(0).u8(200);
  b.str("k.i8").u32(1).u8(0xfe);
  b.str("k.u16").u32(2).le(60000, 2);
  b.str("k.i16").u32(3).le(0xfffd, 2);
  b.str("k.i32").u32(5).u32(0xfffffff9u);
  b.str("k.f32").u32(6).f32(-2.5f);
  b.str("k.bool").u32(7).u8(1);
  b.str("k.str").u32(8).str("h\xc3\xa9llo");
  b.str("k.u64").u32(10).u64(1ull << 40);
  b.str("k.i64").u32(11).u64(static_cast<std::uint64_t>(-5));
  b.str("k.f64").u32(12).u64(std::bit_cast<std::uint64_t>(0.125));
  b.str("k.arr").u32(9).u32(8).u64(2).str("a").str("");
  b.str("k.nested").u32(9).u32(9).u64(2).u32(4).u64(1).u32(7).u32(4).u64(0);
  b.info("w", {3, 2}, 0, 0).info("h", {4}, 1, 32).pad();
  b.floats({1, 2, 3, 4, 5, 6}).pad();
  for (const std::uint64_t h : {0x3c00u, 0xc000u, 0x3800u, 0x0000u}) b.le(h, 2);  // 1, -2, 0.5, 0 in F16
  b.pad();
  const std::string p = write(b.s);
  GgufReader r(p);
  EXPECT_EQ(r.version(), 3u);
  ASSERT_EQ(r.metadata().size(), 14u);
  EXPECT_EQ(r.metadata()[1].key, "k.u8");
  EXPECT_EQ(std::get<std::uint64_t>(r.find("k.u8")->v), 200u);
  EXPECT_EQ(std::get<std::int64_t>(r.find("k.i8")->v), -2);
  EXPECT_EQ(std::get<std::uint64_t>(r.find("k.u16")->v), 60000u);
  EXPECT_EQ(std::get<std::int64_t>(r.find("k.i16")->v), -3);
  EXPECT_EQ(std::get<std::int64_t>(r.find("k.i32")->v), -7);
  EXPECT_EQ(r.find("k.f32")->type, GgufValueType::FLOAT32);
  EXPECT_DOUBLE_EQ(std::get<double>(r.find("k.f32")->v), -2.5);
  EXPECT_TRUE(std::get<bool>(r.find("k.bool")->v));
  EXPECT_EQ(std::get<std::string>(r.find("k.str")->v), "h\xc3\xa9llo");
  EXPECT_EQ(std::get<std::uint64_t>(r.find("k.u64")->v), 1ull << 40);
  EXPECT_EQ(std::get<std::int64_t>(r.find("k.i64")->v), -5);
  EXPECT_DOUBLE_EQ(std::get<double>(r.find("k.f64")->v), 0.125);
  const auto& arr = *std::get<std::shared_ptr<GgufArray>>(r.find("k.arr")->v);
  EXPECT_EQ(arr.elem_type, GgufValueType::STRING);
  ASSERT_EQ(arr.items.size(), 2u);
  EXPECT_EQ(std::get<std::string>(arr.items[0].v), "a");
  const auto& nested = *std::get<std::shared_ptr<GgufArray>>(r.find("k.nested")->v);
  ASSERT_EQ(nested.items.size(), 2u);
  EXPECT_EQ(std::get<std::shared_ptr<GgufArray>>(nested.items[0].v)->items.size(), 1u);
  EXPECT_EQ(r.find("nope"), nullptr);

  ASSERT_EQ(r.tensors().size(), 2u);
  const GgufTensorInfo* w = r.find_tensor("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->ne, (std::vector<std::int64_t>{3, 2}));
  EXPECT_EQ(w->nbytes, 24u);
  EXPECT_EQ(w->offset % 32, 0u);
  EXPECT_EQ(r.load_f32(*w), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  const GgufTensorInfo* h = r.find_tensor("h");
  EXPECT_EQ(h->type, GgmlType::F16);
  EXPECT_EQ(h->offset, w->offset + 32);
  EXPECT_EQ(r.data(*h).size(), 8u);
  EXPECT_EQ(r.load_f32(*h), (std::vector<float>{1, -2, 0.5f, 0}));
}

TEST_F(GgufReaderTest, AcceptsVersion2AndReadsWhatTheWriterWrote) {
  B b;
  b.header(0, 1, 2).kv_u32("a.b", 7);
  EXPECT_EQ(GgufReader(write(b.s, "v2.gguf")).version(), 2u);

  std::vector<float> v(64);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) / 8 - 4;
  std::vector<std::byte> q(ggml_row_bytes(GgmlType::Q8_0, 32) * 2);
  gguf_encode_rows(GgmlType::Q8_0, v.data(), 2, 32, q.data());
  const auto p = tmp / "w.gguf";
  GgufStreamWriter wr(p, {{"general.name", GgufValue::str("x")}}, {{"q", GgmlType::Q8_0, {32, 2}}}, 64);
  wr.write_next("q", q);
  wr.finish();
  GgufReader r(p);
  EXPECT_EQ(std::get<std::uint64_t>(r.find("general.alignment")->v), 64u);
  const auto back = r.load_f32(r.tensors().at(0));
  ASSERT_EQ(back.size(), 64u);
  for (std::size_t i = 0; i < 64; ++i) EXPECT_NEAR(back[i], v[i], 4.0 / 127) << i;
}

constexpr std::uint64_t kHuge = std::numeric_limits<std::uint64_t>::max() - 3;

TEST_F(GgufReaderTest, MalformedFilesAreRejected) {
  const auto one_tensor = [](std::vector<std::uint64_t> ne, std::uint32_t type, std::uint64_t off, std::size_t data) {
    B b;
    b.header(1, 0).info("t", std::move(ne), type, off).pad();
    b.s += std::string(data, '\0');
    return b.s;
  };
  expect_rejected("GG", {"truncated"});
  expect_rejected("GGML" + std::string(20, '\0'), {"bad magic 'GGML'"});
  expect_rejected(B().header(0, 0, 1).s, {"unsupported GGUF version 1"});
  expect_rejected(B().header(0, 0, 4).s, {"unsupported GGUF version 4"});
  expect_rejected(B().header(0, 0).s.substr(0, 20), {"truncated", "key/value count needs 8 bytes at offset 16"});
  expect_rejected(B().header(kHuge, 0).s, {"tensor count 18446744073709551612 is impossible"});
  expect_rejected(B().header(0, kHuge).s, {"key/value count 18446744073709551612 is impossible"});
  expect_rejected(B().header(0, 1).u64(kHuge).s + std::string(16, 'x'), {"metadata key 0 length", "runs past the end"});
  expect_rejected(B().header(0, 1).str("a.s").u32(8).u64(1000).s + "xy", {"string value of metadata key 'a.s'", "past the end"});
  expect_rejected(B().header(0, 1).str("a.arr").u32(9).u32(4).u64(kHuge).s, {"'a.arr'", "array length", "impossible"});
  expect_rejected(B().header(0, 1).str("a.t").u32(13).u32(0).s, {"'a.t'", "unknown value type 13"});
  expect_rejected(B().header(0, 1).str("a.arr").u32(9).u32(99).u64(0).s, {"unknown element type 99"});
  expect_rejected(B().header(0, 1).str("a.b").u32(7).u8(2).s, {"bool value 2"});
  expect_rejected(B().header(0, 2).kv_u32("a.b", 1).kv_u32("a.b", 2).s, {"duplicate metadata key 'a.b'"});
  expect_rejected(B().header(0, 1).str("").u32(4).u32(1).s, {"metadata key 0 is empty"});
  expect_rejected(B().header(0, 1).kv_u32("general.alignment", 24).s, {"alignment", "not a power of two"});
  expect_rejected(B().header(0, 1).str("general.alignment").u32(10).u64(32).s, {"'general.alignment' is not a uint32"});
  {
    B b;
    b.header(0, 1).str("deep").u32(9);
    for (int i = 0; i < 9; ++i) b.u32(9).u64(1);
    b.u32(4).u64(0);
    expect_rejected(b.s, {"nested more than 8"});
  }
  // Tensor infos.
  expect_rejected(one_tensor({4}, 14 + 1000, 0, 32), {"tensor 't'", "unknown or unsupported ggml type id 1014"});
  expect_rejected(one_tensor({4}, 16, 0, 32), {"tensor 't'", "ggml type id 16"});  // IQ2_XXS: not supported
  expect_rejected(one_tensor({}, 0, 0, 32), {"tensor 't'", "has 0 dimensions"});
  expect_rejected(one_tensor({1, 1, 1, 1, 1}, 0, 0, 32), {"tensor 't'", "has 5 dimensions"});
  expect_rejected(one_tensor({1ull << 32, 1ull << 32}, 0, 0, 32), {"tensor 't'", "overflows int64"});
  expect_rejected(one_tensor({1ull << 63}, 0, 0, 32), {"tensor 't'", "dimension 0 is negative"});
  expect_rejected(one_tensor({30}, 8, 0, 64), {"tensor 't'", "row length 30", "Q8_0 block size 32"});
  expect_rejected(one_tensor({4}, 0, 8, 64), {"tensor 't'", "offset 8 is not a multiple of the alignment 32"});
  expect_rejected(one_tensor({4}, 0, 32, 32), {"tensor 't'", "outside the data section"});
  expect_rejected(one_tensor({16}, 0, 0, 40), {"tensor 't'", "[0, +64) lies outside the data section (40 bytes)"});
  expect_rejected(one_tensor({4}, 0, kHuge - 27, 32), {"tensor 't'", "not a multiple"});
  expect_rejected(one_tensor({4}, 0, 1ull << 63, 32), {"tensor 't'", "outside the data section"});
  {
    B b;
    b.header(2, 0).info("a", {16}, 0, 0).info("b", {4}, 0, 32).pad();
    b.s += std::string(64, '\0');
    expect_rejected(b.s, {"tensor 'b'", "overlaps the data of tensor 'a'"});
  }
  {
    B b;
    b.header(2, 0).info("a", {4}, 0, 0).info("a", {4}, 0, 32).pad();
    b.s += std::string(64, '\0');
    expect_rejected(b.s, {"tensor 'a'", "duplicate tensor name"});
  }
  expect_rejected(B().header(1, 0).str(std::string(64, 'n')).u32(1).u64(4).u32(0).u64(0).s + std::string(64, '\0'),
                  {"64 bytes long", "at most 63"});
  {
    B b;
    b.header(1, 0).info("tensor_with_long_name", {4}, 0, 0);
    expect_rejected(b.s.substr(0, b.s.size() - 5), {"tensor 'tensor_with_long_name'", "truncated", "data offset"});
    expect_rejected(b.s, {"truncated: the data section would start at offset 96 but the file has 77 bytes"});
  }
}

TEST_F(GgufReaderTest, MissingOrDirectoryPathsAreErrors) {
  for (const std::string& p : {(tmp / "none.gguf").string(), tmp.path().string()}) {
    try {
      GgufReader r(p);
      ADD_FAILURE() << p;
    } catch (const Error& e) {
      EXPECT_EQ(e.file(), p);
    }
  }
}

}  // namespace
}  // namespace ramq
