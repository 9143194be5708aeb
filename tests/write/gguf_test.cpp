// GGUF writer container format, checked byte by byte with a separate minimal parser, and the
// file type (general.file_type). The families' names, q/k permutation and metadata are in
// tests/arch/gguf_family_test.cpp.
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <numeric>

#include "ramq/error.h"
#include "ramq/gguf.h"
#include "support/temp_dir.h"
#include "support/error_text.h"
#include "write/gguf_llama_writer.h"
#include "write/mini_gguf.h"

namespace ramq {
namespace {

using testkit::MiniGguf;
using testkit::TempDir;

std::vector<std::byte> f32_bytes(const std::vector<float>& v) {
  std::vector<std::byte> out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}
std::string as_string(const std::vector<std::byte>& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

using testkit::error_of;

TEST(GgufWriter, LayoutMatchesSpecByteForByte) {
  TempDir tmp;
  const auto path = tmp / "a.gguf";
  const std::vector<GgufKV> kvs{{"general.architecture", GgufValue::str("llama")},
                                {"x.u32", GgufValue::u32(0xdeadbeef)},
                                {"x.f32", GgufValue::f32(1.5f)},
                                {"x.bool", GgufValue::boolean(true)},
                                {"x.strs", GgufValue::strings({"a", "bc"})},
                                {"x.i32s", GgufValue::i32s({-1, 7})}};
  const std::vector<float> a{1, 2, 3, 4, 5};                 // F32 [5]: 20 bytes -> padded to 32
  std::vector<float> b(12);                                  // F32 [4, 3]: 48 bytes -> 64
  std::iota(b.begin(), b.end(), -6.0f);
  std::vector<GgufTensorSpec> specs{{"t.a", GgmlType::F32, {5}}, {"t.b", GgmlType::F32, {4, 3}}};
  GgufStreamWriter w(path, kvs, specs, 32);
  w.write_next("t.a", f32_bytes(a));
  w.write_next("t.b", f32_bytes(b));
  w.finish();

  const std::string bytes = testkit::slurp(path);
  // Header: magic, version 3, tensor count 2, kv count 6 (alignment 32 is the default: not added).
  ASSERT_GE(bytes.size(), 24u);
  EXPECT_EQ(bytes.substr(0, 4), "GGUF");
  EXPECT_EQ(bytes.substr(4, 4), std::string("\x03\x00\x00\x00", 4));
  EXPECT_EQ(bytes.substr(8, 8), std::string("\x02\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(bytes.substr(16, 8), std::string("\x06\0\0\0\0\0\0\0", 8));
  // First kv: u64 key length 20, key, u32 type 8 (string), u64 length 5, "llama".
  EXPECT_EQ(bytes.substr(24, 8), std::string("\x14\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(bytes.substr(32, 20), "general.architecture");
  EXPECT_EQ(bytes.substr(52, 4), std::string("\x08\0\0\0", 4));
  EXPECT_EQ(bytes.substr(56, 8), std::string("\x05\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(bytes.substr(64, 5), "llama");
  // Second kv: "x.u32", type 4, 0xdeadbeef little-endian.
  EXPECT_EQ(bytes.substr(69, 8), std::string("\x05\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(bytes.substr(77, 5), "x.u32");
  EXPECT_EQ(bytes.substr(82, 4), std::string("\x04\0\0\0", 4));
  EXPECT_EQ(bytes.substr(86, 4), std::string("\xef\xbe\xad\xde", 4));

  const MiniGguf g = testkit::MiniParser(bytes).parse();
  EXPECT_EQ(g.version, 3u);
  ASSERT_EQ(g.keys.size(), 6u);
  EXPECT_FLOAT_EQ(static_cast<float>(g.at("x.f32").f), 1.5f);
  EXPECT_EQ(g.at("x.f32").type, 6u);
  EXPECT_EQ(g.at("x.bool").type, 7u);
  EXPECT_EQ(g.at("x.bool").u, 1u);
  ASSERT_EQ(g.at("x.strs").type, 9u);
  EXPECT_EQ(g.at("x.strs").elem, 8u);
  ASSERT_EQ(g.at("x.strs").arr.size(), 2u);
  EXPECT_EQ(g.at("x.strs").arr[1].s, "bc");
  EXPECT_EQ(g.at("x.i32s").elem, 5u);
  EXPECT_EQ(g.at("x.i32s").arr[0].i, -1);
  ASSERT_EQ(g.tensors.size(), 2u);
  EXPECT_EQ(g.tensors[0].name, "t.a");
  EXPECT_EQ(g.tensors[0].ne, (std::vector<std::uint64_t>{5}));
  EXPECT_EQ(g.tensors[1].ne, (std::vector<std::uint64_t>{4, 3}));
  EXPECT_EQ(g.tensors[1].type, 0u);
  EXPECT_EQ(g.tensors[0].offset, 0u);
  EXPECT_EQ(g.tensors[1].offset, 32u);  // 20 bytes padded to 32
  // Padding after the infos is zeros up to a multiple of 32.
  EXPECT_EQ(g.data_start % 32, 0u);
  EXPECT_GT(g.data_start, g.infos_end - 1);
  EXPECT_EQ(bytes.substr(g.infos_end, g.data_start - g.infos_end), std::string(g.data_start - g.infos_end, '\0'));
  EXPECT_EQ(g.data(0, 20), as_string(f32_bytes(a)));
  EXPECT_EQ(bytes.substr(g.data_start + 20, 12), std::string(12, '\0'));
  EXPECT_EQ(g.data(1, 48), as_string(f32_bytes(b)));
  EXPECT_EQ(bytes.size(), g.data_start + 32 + 64);  // the last tensor is padded too
  EXPECT_EQ(w.file_bytes(), bytes.size());
}

TEST(GgufWriter, NonDefaultAlignmentIsRecordedAndUsed) {
  TempDir tmp;
  GgufStreamWriter w(tmp / "b.gguf", {}, {{"t", GgmlType::F32, {3}}, {"u", GgmlType::F32, {2}}}, 64);
  w.write_next("t", f32_bytes({1, 2, 3}));
  w.write_next("u", f32_bytes({4, 5}));
  w.finish();
  const MiniGguf g = testkit::mini_gguf(tmp / "b.gguf");
  ASSERT_EQ(g.keys, std::vector<std::string>{"general.alignment"});
  EXPECT_EQ(g.at("general.alignment").type, 4u);
  EXPECT_EQ(g.at("general.alignment").u, 64u);
  EXPECT_EQ(g.data_start % 64, 0u);
  EXPECT_EQ(g.tensors[1].offset, 64u);
  EXPECT_EQ(g.bytes.size(), g.data_start + 128);
}

TEST(GgufWriter, QuantizedTensorSizesFollowTheTypeTable) {
  TempDir tmp;
  std::vector<float> v(64 * 3);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(static_cast<float>(i));
  const GgufTensorSpec spec{"q", GgmlType::Q8_0, {64, 3}};
  EXPECT_EQ(spec.nbytes(), 3u * 2u * 34u);  // Q8_0: 34 bytes per 32 values
  std::vector<std::byte> enc(spec.nbytes());
  gguf_encode_rows(GgmlType::Q8_0, v.data(), 3, 64, enc.data());
  GgufStreamWriter w(tmp / "q.gguf", {}, {spec}, 32);
  w.write_next("q", enc);
  w.finish();
  const MiniGguf g = testkit::mini_gguf(tmp / "q.gguf");
  EXPECT_EQ(g.tensors[0].type, 8u);
  EXPECT_EQ(g.data(0, enc.size()), as_string(enc));
}

TEST(GgufWriter, MisuseAndIoFailuresAreErrorsNamingTheFile) {
  TempDir tmp;
  const auto p = (tmp / "c.gguf").string();
  const std::vector<GgufTensorSpec> one{{"t", GgmlType::F32, {2}}};
  EXPECT_NE(error_of([&] { GgufStreamWriter(p, {}, {{"t", GgmlType::F32, {2}}, {"t", GgmlType::F32, {2}}}); })
                .find("duplicate tensor name"),
            std::string::npos);
  EXPECT_NE(error_of([&] { GgufStreamWriter(p, {{"k", GgufValue::u32(1)}, {"k", GgufValue::u32(2)}}, one); })
                .find("duplicate metadata key 'k'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { GgufStreamWriter(p, {}, {{"t", GgmlType::Q8_0, {30}}}); }).find("block size 32"),
            std::string::npos);
  EXPECT_NE(error_of([&] { GgufStreamWriter(p, {}, {{"t", GgmlType::F32, {1, 1, 1, 1, 1}}}); }).find("1 to 4"),
            std::string::npos);
  {
    GgufStreamWriter w(p, {}, one);
    EXPECT_NE(error_of([&] { w.write_next("t", f32_bytes({1})); }).find("expected 8"), std::string::npos);
    EXPECT_NE(error_of([&] { w.write_next("x", f32_bytes({1, 2})); }).find("expected tensor 't'"), std::string::npos);
    const std::string e = error_of([&] { w.finish(); });
    EXPECT_NE(e.find(p), std::string::npos) << e;
    EXPECT_NE(e.find("only 0 of 1"), std::string::npos) << e;
  }
  const std::string missing = (tmp / "no" / "dir" / "x.gguf").string();
  EXPECT_NE(error_of([&] { GgufStreamWriter(missing, {}, one); }).find(missing + ": cannot create"), std::string::npos);
  // A full disk: /dev/full accepts the open and fails every write with ENOSPC.
  if (std::filesystem::exists("/dev/full")) {
    const std::string e = error_of([&] {
      GgufStreamWriter w("/dev/full", {}, {{"big", GgmlType::F32, {1 << 20}}});
      w.write_next("big", std::vector<std::byte>(4u << 20));
      w.finish();
    });
    EXPECT_NE(e.find("/dev/full"), std::string::npos) << e;
    EXPECT_NE(e.find("disk full"), std::string::npos) << e;
  }
}

TEST(LlamaFileType, MostCommonQuantizedElseFloatType) {
  EXPECT_EQ(llama_file_type({{GgmlType::F16, 1000}, {GgmlType::Q4_K, 600}, {GgmlType::Q6_K, 100}}), 15u);
  EXPECT_EQ(llama_file_type({{GgmlType::Q8_0, 10}, {GgmlType::Q4_0, 5}}), 7u);
  EXPECT_EQ(llama_file_type({{GgmlType::F32, 10}, {GgmlType::F16, 50}}), 1u);
  EXPECT_EQ(llama_file_type({{GgmlType::F32, 10}}), 0u);
  EXPECT_EQ(llama_file_type({{GgmlType::Q6_K, 10}}), 18u);
  EXPECT_EQ(llama_mix_file_type("Q4_K_M").value_or(0), 15u);
  EXPECT_FALSE(llama_mix_file_type("Q4_K_S"));
}

}  // namespace
}  // namespace ramq
