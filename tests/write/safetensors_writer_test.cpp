#include "ramq/safetensors_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramq/error.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;

namespace ramq {
namespace {

class SafetensorsWriterTest : public ::testing::Test {
 protected:
  testkit::TempDir tmp_{"ramq_st_writer"};
  fs::path dir_ = tmp_.path();
};

std::vector<unsigned char> read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::byte> bytes_of(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int x : v) out.push_back(static_cast<std::byte>(x));
  return out;
}

std::vector<std::byte> pattern(std::size_t n, int seed) {
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>((i * 7 + static_cast<std::size_t>(seed)) & 0xff);
  return out;
}

// An independent minimal safetensors parser: 8-byte little-endian header length, JSON header,
// data area; returns the header JSON and the data area.
struct Parsed {
  std::uint64_t header_len = 0;
  std::string header_text;
  nlohmann::json header;
  std::vector<unsigned char> data;
};
Parsed parse(const std::vector<unsigned char>& file) {
  Parsed p;
  EXPECT_GE(file.size(), 8u);
  for (int i = 7; i >= 0; --i) p.header_len = (p.header_len << 8) | file[static_cast<std::size_t>(i)];
  EXPECT_LE(8 + p.header_len, file.size());
  p.header_text.assign(file.begin() + 8, file.begin() + 8 + static_cast<std::ptrdiff_t>(p.header_len));
  p.header = nlohmann::json::parse(p.header_text);
  p.data.assign(file.begin() + 8 + static_cast<std::ptrdiff_t>(p.header_len), file.end());
  return p;
}

TEST_F(SafetensorsWriterTest, WritesAFileAnIndependentParserReads) {
  const fs::path path = dir_ / "t.safetensors";
  const auto a = pattern(2 * 3 * 2, 1);   // F16 [2, 3]
  const auto b = pattern(4 * 5 * 4, 2);   // U32 [4, 5]
  const auto c = pattern(1 * 2, 3);       // BF16 [1, 1]
  std::vector<OutTensorSpec> specs = {
      {"zeta.weight", DType::F16, {2, 3}},
      {"alpha.weight", DType::U32, {4, 5}},
      {"mid", DType::BF16, {1, 1}},
  };
  std::uint64_t expected_size = 0;
  {
    SafetensorsStreamWriter w(path, specs, {{"format", "mlx"}});
    w.write_next("zeta.weight", a);
    w.write_next("alpha.weight", b);
    w.write_next("mid", c);
    w.finish();
    expected_size = w.file_bytes();
  }
  const auto file = read_all(path);
  EXPECT_EQ(file.size(), expected_size);
  const Parsed p = parse(file);
  EXPECT_EQ(p.header_len % 8, 0u);
  // padding: the JSON text ends in '}' followed only by spaces
  const auto last = p.header_text.find_last_not_of(' ');
  ASSERT_NE(last, std::string::npos);
  EXPECT_EQ(p.header_text[last], '}');
  EXPECT_LT(p.header_text.size() - last - 1, 8u);
  EXPECT_EQ(p.header_text.front(), '{');

  EXPECT_EQ(p.header["__metadata__"], nlohmann::json({{"format", "mlx"}}));
  EXPECT_EQ(p.header.size(), 4u);
  // Laid out in the order given: zeta at 0, alpha after it, mid last.
  EXPECT_EQ(p.header["zeta.weight"]["dtype"], "F16");
  EXPECT_EQ(p.header["zeta.weight"]["shape"], nlohmann::json({2, 3}));
  EXPECT_EQ(p.header["zeta.weight"]["data_offsets"], nlohmann::json({0, 12}));
  EXPECT_EQ(p.header["alpha.weight"]["dtype"], "U32");
  EXPECT_EQ(p.header["alpha.weight"]["shape"], nlohmann::json({4, 5}));
  EXPECT_EQ(p.header["alpha.weight"]["data_offsets"], nlohmann::json({12, 92}));
  EXPECT_EQ(p.header["mid"]["dtype"], "BF16");
  EXPECT_EQ(p.header["mid"]["shape"], nlohmann::json({1, 1}));
  EXPECT_EQ(p.header["mid"]["data_offsets"], nlohmann::json({92, 94}));
  ASSERT_EQ(p.data.size(), 94u);
  EXPECT_EQ(0, std::memcmp(p.data.data(), a.data(), a.size()));
  EXPECT_EQ(0, std::memcmp(p.data.data() + 12, b.data(), b.size()));
  EXPECT_EQ(0, std::memcmp(p.data.data() + 92, c.data(), c.size()));
}

TEST_F(SafetensorsWriterTest, HeaderBytesMatchTheFileAndPadToEight) {
  // Names of several lengths so that different paddings (0..7 spaces) occur.
  for (std::size_t len = 1; len <= 16; ++len) {
    std::vector<OutTensorSpec> specs = {{std::string(len, 'x'), DType::F32, {3}}, {"y", DType::I64, {}}};
    const auto h = safetensors_header_bytes(specs, {});
    ASSERT_GE(h.size(), 8u);
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<std::uint8_t>(h[static_cast<std::size_t>(i)]);
    EXPECT_EQ(n + 8, h.size());
    EXPECT_EQ(n % 8, 0u);
    const std::string text(reinterpret_cast<const char*>(h.data()) + 8, n);
    const auto j = nlohmann::json::parse(text);
    EXPECT_FALSE(j.contains("__metadata__"));  // empty metadata is left out
    EXPECT_EQ(j[std::string(len, 'x')]["data_offsets"], nlohmann::json({0, 12}));
    EXPECT_EQ(j["y"]["shape"], nlohmann::json::array());
    EXPECT_EQ(j["y"]["data_offsets"], nlohmann::json({12, 20}));  // scalar: one element
  }
}

TEST_F(SafetensorsWriterTest, EmptyTensorListIsAValidFile) {
  const fs::path path = dir_ / "empty.safetensors";
  {
    SafetensorsStreamWriter w(path, {}, {{"format", "mlx"}});
    w.finish();
  }
  const Parsed p = parse(read_all(path));
  EXPECT_EQ(p.header_len % 8, 0u);
  EXPECT_EQ(p.header.size(), 1u);
  EXPECT_TRUE(p.data.empty());
}

TEST_F(SafetensorsWriterTest, WrongOrderThrows) {
  SafetensorsStreamWriter w(dir_ / "o.safetensors", {{"a", DType::U8, {2}}, {"b", DType::U8, {2}}}, {});
  EXPECT_THROW(w.write_next("b", bytes_of({1, 2})), Error);
}

TEST_F(SafetensorsWriterTest, WrongSizeThrows) {
  SafetensorsStreamWriter w(dir_ / "s.safetensors", {{"a", DType::F16, {2}}}, {});
  EXPECT_THROW(w.write_next("a", bytes_of({1, 2})), Error);  // needs 4 bytes
  EXPECT_THROW(w.write_next("a", bytes_of({1, 2, 3, 4, 5})), Error);
}

TEST_F(SafetensorsWriterTest, TooManyOrTooFewTensorsThrow) {
  {
    SafetensorsStreamWriter w(dir_ / "few.safetensors", {{"a", DType::U8, {1}}, {"b", DType::U8, {1}}}, {});
    w.write_next("a", bytes_of({1}));
    EXPECT_THROW(w.finish(), Error);
  }
  {
    SafetensorsStreamWriter w(dir_ / "many.safetensors", {{"a", DType::U8, {1}}}, {});
    w.write_next("a", bytes_of({1}));
    EXPECT_THROW(w.write_next("b", bytes_of({1})), Error);
  }
}

TEST_F(SafetensorsWriterTest, DuplicateNamesThrow) {
  EXPECT_THROW(SafetensorsStreamWriter(dir_ / "d.safetensors", {{"a", DType::U8, {1}}, {"a", DType::U8, {1}}}, {}),
               Error);
}

TEST_F(SafetensorsWriterTest, UnwritableLocationThrowsError) {
  try {
    SafetensorsStreamWriter w(dir_ / "no" / "such" / "dir.safetensors", {}, {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(e.file().find("dir.safetensors"), std::string::npos);
  }
}

TEST_F(SafetensorsWriterTest, DiskFullIsReportedWithTheFileName) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "/dev/full not available";
  try {
    SafetensorsStreamWriter w("/dev/full", {{"a", DType::U8, {1 << 20}}}, {});
    w.write_next("a", std::vector<std::byte>(1 << 20));
    w.finish();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.file(), "/dev/full");
  }
}

TEST(OutTensorSpec, Nbytes) {
  EXPECT_EQ((OutTensorSpec{"a", DType::F16, {3, 4}}).nbytes(), 24u);
  EXPECT_EQ((OutTensorSpec{"a", DType::U32, {2, 0}}).nbytes(), 0u);
  EXPECT_EQ((OutTensorSpec{"a", DType::F32, {}}).nbytes(), 4u);
}

}  // namespace
}  // namespace ramq
