// parse_safetensors_header on valid, hand-built files.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ramq/error.h"
#include "ramq/safetensors.h"
#include "support/safetensors_builder.h"

namespace ramq {
namespace {

using testkit::as_bytes;
using testkit::le_u64;
using testkit::raw_safetensors;
using testkit::SafetensorsBuilder;

TEST(SafetensorsHeader, ValidFileParsesToExactTensors) {
  SafetensorsBuilder b;
  b.add("a.weight", DType::F32, {2, 3}, {1, 2, 3, 4, 5, 6})
      .add("b.weight", DType::F16, {4}, {1, 2, 3, 4})
      .add("c.bias", DType::BF16, {2, 2}, {1, 2, 3, 4})
      .add_raw("d.ids", "I32", {3}, std::string(12, '\x01'))
      .metadata("format", "pt")
      .metadata("note", "hello");
  const std::string header = b.header_json();
  const std::string file = b.bytes();
  const std::uint64_t base = 8 + header.size();

  const auto h = parse_safetensors_header(as_bytes(file), "x/model.safetensors");
  ASSERT_EQ(h.tensors.size(), 4u);

  EXPECT_EQ(h.tensors[0].name, "a.weight");
  EXPECT_EQ(h.tensors[0].dtype, DType::F32);
  EXPECT_EQ(h.tensors[0].shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(h.tensors[0].offset, base + 0);
  EXPECT_EQ(h.tensors[0].nbytes, 24u);
  EXPECT_EQ(h.tensors[0].numel(), 6);
  EXPECT_EQ(h.tensors[0].file, "x/model.safetensors");

  EXPECT_EQ(h.tensors[1].name, "b.weight");
  EXPECT_EQ(h.tensors[1].dtype, DType::F16);
  EXPECT_EQ(h.tensors[1].shape, (std::vector<std::int64_t>{4}));
  EXPECT_EQ(h.tensors[1].offset, base + 24);
  EXPECT_EQ(h.tensors[1].nbytes, 8u);

  EXPECT_EQ(h.tensors[2].name, "c.bias");
  EXPECT_EQ(h.tensors[2].dtype, DType::BF16);
  EXPECT_EQ(h.tensors[2].shape, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(h.tensors[2].offset, base + 32);
  EXPECT_EQ(h.tensors[2].nbytes, 8u);

  EXPECT_EQ(h.tensors[3].name, "d.ids");
  EXPECT_EQ(h.tensors[3].dtype, DType::I32);
  EXPECT_EQ(h.tensors[3].offset, base + 40);
  EXPECT_EQ(h.tensors[3].nbytes, 12u);
  EXPECT_EQ(h.tensors[3].offset + h.tensors[3].nbytes, file.size());

  EXPECT_EQ(h.metadata, (std::map<std::string, std::string>{{"format", "pt"}, {"note", "hello"}}));
}

TEST(SafetensorsHeader, TensorsAreSortedByOffsetNotByJsonOrder) {
  // "z" comes first in the data area, "a" second, with a 4-byte hole in between; the header is
  // padded with trailing spaces as some writers do.
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
      R"("z":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}    )";
  const std::string file = raw_safetensors(header, std::string(12, '\0'));
  const auto h = parse_safetensors_header(as_bytes(file), "f");
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.tensors[0].name, "z");
  EXPECT_EQ(h.tensors[0].offset, 8 + header.size());
  EXPECT_EQ(h.tensors[1].name, "a");
  EXPECT_EQ(h.tensors[1].offset, 8 + header.size() + 8);
  EXPECT_TRUE(h.metadata.empty());
}

TEST(SafetensorsHeader, ScalarAndEmptyTensors) {
  const std::string header =
      R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
      R"("e":{"dtype":"BF16","shape":[0,5],"data_offsets":[4,4]},)"
      R"("t":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}})";
  const std::string file = raw_safetensors(header, std::string(8, '\0'));
  const auto h = parse_safetensors_header(as_bytes(file), "f");
  ASSERT_EQ(h.tensors.size(), 3u);
  EXPECT_EQ(h.tensors[0].name, "s");
  EXPECT_TRUE(h.tensors[0].shape.empty());
  EXPECT_EQ(h.tensors[0].numel(), 1);
  EXPECT_EQ(h.tensors[1].name, "e");
  EXPECT_EQ(h.tensors[1].numel(), 0);
  EXPECT_EQ(h.tensors[1].nbytes, 0u);
  EXPECT_EQ(h.tensors[2].name, "t");
}

TEST(SafetensorsHeader, AcceptsAllStandardDtypes) {
  struct Case {
    const char* name;
    DType type;
    std::size_t size;
  };
  const std::vector<Case> cases = {{"F32", DType::F32, 4}, {"F16", DType::F16, 2},   {"BF16", DType::BF16, 2},
                                   {"F64", DType::F64, 8}, {"I64", DType::I64, 8},   {"I32", DType::I32, 4},
                                   {"I16", DType::I16, 2}, {"I8", DType::I8, 1},     {"U32", DType::U32, 4},
                                   {"U8", DType::U8, 1},   {"BOOL", DType::BOOL, 1}};
  SafetensorsBuilder b;
  for (const auto& c : cases) b.add_raw(std::string("t_") + c.name, c.name, {3}, std::string(3 * c.size, '\0'));
  const std::string file = b.bytes();
  const auto h = parse_safetensors_header(as_bytes(file), "f");
  ASSERT_EQ(h.tensors.size(), cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(h.tensors[i].name, std::string("t_") + cases[i].name);
    EXPECT_EQ(h.tensors[i].dtype, cases[i].type) << cases[i].name;
    EXPECT_EQ(h.tensors[i].nbytes, 3 * cases[i].size) << cases[i].name;
  }
}

TEST(SafetensorsHeader, EmptyHeaderObjectHasNoTensors) {
  const std::string file = raw_safetensors(R"({"__metadata__":{"format":"pt"}})");
  const auto h = parse_safetensors_header(as_bytes(file), "f");
  EXPECT_TRUE(h.tensors.empty());
  EXPECT_EQ(h.metadata.at("format"), "pt");
}

TEST(SafetensorsHeader, UnicodeNamesAndEscapesAreKept) {
  // A non-ASCII name written directly and one written with a JSON \u escape.
  const std::string header =
      "{\"caf\xc3\xa9\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
      "\"\\u00e9t\\u00e9\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}";
  const std::string file = raw_safetensors(header, "ab");
  const auto h = parse_safetensors_header(as_bytes(file), "f");
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.tensors[0].name, "caf\xc3\xa9");
  EXPECT_EQ(h.tensors[1].name, "\xc3\xa9t\xc3\xa9");
}

TEST(SafetensorsHeader, NestedDuplicateDetectionDoesNotConfuseSiblingEntries) {
  // Same field names in different entries are not duplicates.
  SafetensorsBuilder b;
  for (int i = 0; i < 20; ++i) b.add("t" + std::to_string(i), DType::F32, {1}, {1.0f});
  const std::string file = b.bytes();
  EXPECT_EQ(parse_safetensors_header(as_bytes(file), "f").tensors.size(), 20u);
}

TEST(SafetensorsHeader, BuilderEncodesExactBitPatterns) {
  EXPECT_EQ(testkit::exact_f16_bits(1.0f), 0x3c00);
  EXPECT_EQ(testkit::exact_f16_bits(-2.0f), 0xc000);
  EXPECT_EQ(testkit::exact_f16_bits(65504.0f), 0x7bff);
  EXPECT_EQ(testkit::exact_f16_bits(0x1p-24f), 0x0001);
  EXPECT_EQ(testkit::exact_f16_bits(0x1p-15f), 0x0200);
  EXPECT_THROW(testkit::exact_f16_bits(0.1f), std::invalid_argument);
  EXPECT_EQ(testkit::exact_bf16_bits(1.0f), 0x3f80);
  EXPECT_EQ(testkit::exact_bf16_bits(-0.5f), 0xbf00);
  EXPECT_THROW(testkit::exact_bf16_bits(0.1f), std::invalid_argument);
  EXPECT_EQ(le_u64(0x0102030405060708ull), std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8));
}

}  // namespace
}  // namespace ramq
