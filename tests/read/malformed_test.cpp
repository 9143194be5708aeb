// Malformed inputs: every one must throw ramq::Error whose one-line message names the file,
// the tensor (when one is involved) and the specific problem.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramq/error.h"
#include "ramq/safetensors.h"
#include "support/safetensors_builder.h"

namespace ramq {
namespace {

namespace fs = std::filesystem;
using testkit::as_bytes;
using testkit::le_u64;
using testkit::raw_safetensors;
using testkit::SafetensorsBuilder;
using testkit::TempDir;
using testkit::write_file;

// Runs fn, expects ramq::Error, and checks the message is one line containing every needle.
// Returns the message (empty if no Error was thrown).
std::string expect_error(const std::function<void()>& fn, const std::vector<std::string>& needles) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "missing '" << n << "' in: " << msg;
    return msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected ramq::Error, got another exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected ramq::Error, nothing was thrown";
  return {};
}

constexpr const char* kFile = "some/dir/bad.safetensors";

// Parses the bytes as a header and expects an Error naming kFile and all needles.
std::string expect_header_error(const std::string& bytes, std::vector<std::string> needles) {
  needles.insert(needles.begin(), kFile);
  return expect_error([&] { parse_safetensors_header(as_bytes(bytes), kFile); }, needles);
}

std::string entry(const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return R"({"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" + offsets + "}";
}

// ---- safetensors headers -------------------------------------------------------------------

TEST(MalformedHeader, TruncatedFile) {
  expect_header_error(std::string("\x05\0\0", 3), {"3 bytes", "too short"});
  expect_header_error(std::string(), {"0 bytes", "too short"});
}

TEST(MalformedHeader, ZeroHeaderLength) {
  expect_header_error(le_u64(0) + "{}", {"header length is 0"});
}

TEST(MalformedHeader, HeaderLengthBeyondFile) {
  expect_header_error(raw_safetensors("{}", "", 3), {"header length 3", "beyond the end of the file", "10 bytes"});
  // The header itself is cut short.
  const std::string full = SafetensorsBuilder().add("w", DType::F32, {1}, {1.0f}).bytes();
  expect_header_error(full.substr(0, 20), {"beyond the end of the file"});
}

TEST(MalformedHeader, HeaderLengthNearTwoToThe64) {
  const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  expect_header_error(raw_safetensors("{}", "", max), {"header length 18446744073709551615", "beyond the end"});
  expect_header_error(raw_safetensors("{}", "", max - 7), {"header length 18446744073709551608", "beyond the end"});
  expect_header_error(raw_safetensors("{}", "", std::uint64_t{1} << 63), {"beyond the end"});
}

TEST(MalformedHeader, HeaderLengthOverLimit) {
  // 128 MB of anonymous zero pages: only the first page is ever touched.
  const std::size_t size = std::size_t{128} << 20;
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  const std::string len = le_u64(std::uint64_t{120} << 20);
  std::memcpy(p, len.data(), 8);
  expect_error([&] { parse_safetensors_header({static_cast<const std::byte*>(p), size}, kFile); },
               {kFile, "header length 125829120", "larger than the limit"});
  ::munmap(p, size);
}

TEST(MalformedHeader, InvalidJson) {
  expect_header_error(raw_safetensors(R"({"w": {"dtype": "F32",)"), {"header is not valid JSON"});
  expect_header_error(raw_safetensors("not json at all"), {"header is not valid JSON"});
  // nlohmann::json stops at a NUL byte; trailing garbage after it must not be ignored.
  expect_header_error(raw_safetensors(std::string("{}\0{\"x\":", 7)), {"NUL byte at header offset 2"});
}

TEST(MalformedHeader, NotAnObject) {
  expect_header_error(raw_safetensors("[1, 2, 3]"), {"header is not a JSON object", "array"});
  expect_header_error(raw_safetensors(R"({"w": [1,2]})", ""), {"tensor 'w'", "not a JSON object"});
}

TEST(MalformedHeader, InvalidUtf8) {
  const std::string header = "{\"w\xff\":" + entry("F32", "[1]", "[0,4]") + "}";
  expect_header_error(raw_safetensors(header, std::string(4, '\0')), {"not valid UTF-8", "offset 3"});
  // Overlong encoding of '/' and an encoded surrogate are invalid too.
  expect_header_error(raw_safetensors("{\"\xc0\xaf\":1}"), {"not valid UTF-8"});
  expect_header_error(raw_safetensors("{\"\xed\xa0\x80\":1}"), {"not valid UTF-8"});
}

TEST(MalformedHeader, MissingAndMistypedFields) {
  expect_header_error(raw_safetensors(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0')),
                      {"tensor 'w'", "no 'dtype' field"});
  expect_header_error(raw_safetensors(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", std::string(4, '\0')),
                      {"tensor 'w'", "no 'shape' field"});
  expect_header_error(raw_safetensors(R"({"w":{"dtype":"F32","shape":[1]}})", std::string(4, '\0')),
                      {"tensor 'w'", "no 'data_offsets' field"});
  expect_header_error(raw_safetensors(R"({"w":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0')),
                      {"tensor 'w'", "'dtype' is not a string"});
  expect_header_error(raw_safetensors(R"({"w":)" + entry("F32", "\"1\"", "[0,4]") + "}", std::string(4, '\0')),
                      {"tensor 'w'", "'shape' is not an array"});
  expect_header_error(raw_safetensors(R"({"w":)" + entry("F32", "[1]", "[0,4,8]") + "}", std::string(8, '\0')),
                      {"tensor 'w'", "'data_offsets' is [0,4,8], not an array of two non-negative integers"});
  expect_header_error(raw_safetensors(R"({"w":)" + entry("F32", "[1]", "[-4,0]") + "}", std::string(8, '\0')),
                      {"tensor 'w'", "not an array of two non-negative integers"});
  expect_header_error(raw_safetensors(R"({"w":)" + entry("F32", "[1.5]", "[0,4]") + "}", std::string(8, '\0')),
                      {"tensor 'w'", "dimension 0 is 1.5"});
}

TEST(MalformedHeader, UnknownDtype) {
  const std::string header = R"({"layer.w":)" + entry("F8_E5M2", "[4]", "[0,4]") + "}";
  expect_header_error(raw_safetensors(header, std::string(4, '\0')), {"tensor 'layer.w'", "unknown dtype 'F8_E5M2'"});
}

TEST(MalformedHeader, NegativeShapeDimension) {
  const std::string header = R"({"w":)" + entry("F32", "[2,-3]", "[0,4]") + "}";
  expect_header_error(raw_safetensors(header, std::string(4, '\0')),
                      {"tensor 'w'", "dimension 1 is -3", "not a non-negative integer"});
}

TEST(MalformedHeader, ShapeProductOverflow) {
  const std::string header = R"({"w":)" + entry("F32", "[4294967296,4294967296]", "[0,4]") + "}";
  expect_header_error(raw_safetensors(header, std::string(4, '\0')), {"tensor 'w'", "overflows 64 bits"});
  // The element count fits but times the dtype size it does not.
  const std::string header2 = R"({"w":)" + entry("F64", "[2305843009213693952,2]", "[0,4]") + "}";
  expect_header_error(raw_safetensors(header2, std::string(4, '\0')), {"tensor 'w'", "overflows 64 bits"});
  // A dimension larger than int64.
  const std::string header3 = R"({"w":)" + entry("U8", "[18446744073709551615]", "[0,4]") + "}";
  expect_header_error(raw_safetensors(header3, std::string(4, '\0')), {"tensor 'w'", "dimension 0"});
}

TEST(MalformedHeader, BeginGreaterThanEnd) {
  const std::string header = R"({"w":)" + entry("F32", "[1]", "[8,4]") + "}";
  expect_header_error(raw_safetensors(header, std::string(8, '\0')),
                      {"tensor 'w'", "data_offsets [8, 4] have begin greater than end"});
}

TEST(MalformedHeader, OffsetsOutOfRange) {
  const std::string header = R"({"w":)" + entry("F32", "[2]", "[0,8]") + "}";
  expect_header_error(raw_safetensors(header, std::string(4, '\0')),
                      {"tensor 'w'", "data_offsets [0, 8] end beyond the data area, which is 4 bytes"});
  const std::string header2 = R"({"w":)" + entry("F32", "[0]", "[18446744073709551615,18446744073709551615]") + "}";
  expect_header_error(raw_safetensors(header2, std::string(4, '\0')), {"tensor 'w'", "end beyond the data area"});
}

TEST(MalformedHeader, ShapeSizeMismatch) {
  const std::string header = R"({"attn.q":)" + entry("F32", "[32,64]", "[0,4096]") + "}";
  expect_header_error(raw_safetensors(header, std::string(4096, '\0')),
                      {"tensor 'attn.q'", "data_offsets [0, 4096] do not match shape [32, 64] x F32 = 8192 bytes"});
}

TEST(MalformedHeader, OverlappingTensors) {
  const std::string header =
      R"({"a":)" + entry("F32", "[4]", "[0,16]") + R"(,"b":)" + entry("F32", "[2]", "[8,16]") + "}";
  expect_header_error(raw_safetensors(header, std::string(16, '\0')),
                      {"tensor 'b'", "data_offsets [8, 16] overlap tensor 'a' at [0, 16]"});
  // Same range twice.
  const std::string header2 =
      R"({"a":)" + entry("F32", "[1]", "[0,4]") + R"(,"b":)" + entry("F32", "[1]", "[0,4]") + "}";
  expect_header_error(raw_safetensors(header2, std::string(4, '\0')), {"overlap tensor 'a'"});
  // Overlap with a tensor that is not the immediate predecessor by offset.
  const std::string header3 = R"({"big":)" + entry("U8", "[12]", "[0,12]") + R"(,"s1":)" + entry("U8", "[2]", "[2,4]") +
                              R"(,"s2":)" + entry("U8", "[2]", "[6,8]") + "}";
  expect_header_error(raw_safetensors(header3, std::string(12, '\0')), {"tensor 's1'", "overlap tensor 'big'"});
}

TEST(MalformedHeader, DuplicateTensorNames) {
  const std::string header =
      R"({"w":)" + entry("F32", "[1]", "[0,4]") + R"(,"w":)" + entry("F32", "[1]", "[4,8]") + "}";
  expect_header_error(raw_safetensors(header, std::string(8, '\0')),
                      {"tensor 'w'", "appears more than once in the header"});
  // Duplicate written with an escape: "\u0077" is "w".
  const std::string header2 =
      R"({"w":)" + entry("F32", "[1]", "[0,4]") + R"(,"\u0077":)" + entry("F32", "[1]", "[4,8]") + "}";
  expect_header_error(raw_safetensors(header2, std::string(8, '\0')), {"tensor 'w'", "more than once"});
  // Duplicate field inside one entry.
  const std::string header3 = R"({"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})";
  expect_header_error(raw_safetensors(header3, std::string(4, '\0')), {"tensor 'w'", "duplicate key 'dtype'"});
}

TEST(MalformedHeader, EmptyNameAndControlCharacters) {
  const std::string header = R"({"":)" + entry("F32", "[1]", "[0,4]") + "}";
  expect_header_error(raw_safetensors(header, std::string(4, '\0')), {"tensor with an empty name"});
  const std::string header2 = R"({"a\nb":)" + entry("F32", "[1]", "[0,4]") + "}";
  const std::string msg = expect_header_error(raw_safetensors(header2, std::string(4, '\0')), {"control character"});
  EXPECT_EQ(msg.find('\n'), std::string::npos);
}

TEST(MalformedHeader, BadMetadata) {
  expect_header_error(raw_safetensors(R"({"__metadata__":[1]})"), {"'__metadata__' is not a JSON object"});
  expect_header_error(raw_safetensors(R"({"__metadata__":{"format":1}})"),
                      {"'__metadata__' value for key 'format' is not a string"});
}

// ---- model directories ---------------------------------------------------------------------

// A sharded model in tmp: shard files built from builders, index from a weight_map JSON.
void write_sharded(const TempDir& tmp, const std::vector<std::pair<std::string, SafetensorsBuilder>>& shards,
                   const nlohmann::json& weight_map) {
  write_file(tmp / "config.json", testkit::tiny_config_json());
  for (const auto& [name, b] : shards) b.write(tmp / name);
  write_file(tmp / "model.safetensors.index.json", nlohmann::json{{"weight_map", weight_map}}.dump());
}

SafetensorsBuilder one(const std::string& name) {
  SafetensorsBuilder b;
  b.add(name, DType::F32, {2}, {1.0f, 2.0f});
  return b;
}

TEST(MalformedModel, MissingDirectory) {
  TempDir tmp;
  const std::string dir = (tmp / "nope").string();
  expect_error([&] { ModelReader r(dir); }, {dir, "does not exist"});
  write_file(tmp / "file", "x");
  expect_error([&] { ModelReader r(tmp / "file"); }, {(tmp / "file").string(), "is not a directory"});
}

TEST(MalformedModel, MissingConfig) {
  TempDir tmp;
  one("w").write(tmp / "model.safetensors");
  expect_error([&] { ModelReader r(tmp.path()); }, {(tmp / "config.json").string(), "not found"});
}

TEST(MalformedModel, BadConfigFields) {
  TempDir tmp;
  auto cfg = nlohmann::json::parse(testkit::tiny_config_json());
  const std::string cfg_file = (tmp / "config.json").string();
  auto check = [&](nlohmann::json c, std::vector<std::string> needles) {
    testkit::write_model(tmp.path(), one("w"), c.dump());
    needles.insert(needles.begin(), cfg_file);
    expect_error([&] { ModelReader r(tmp.path()); }, needles);
  };
  auto c = cfg;
  c["hidden_size"] = "64";
  check(c, {"field 'hidden_size' must be a positive integer", "\"64\""});
  c = cfg;
  c["num_hidden_layers"] = 0;
  check(c, {"field 'num_hidden_layers' must be a positive integer", "got 0"});
  c = cfg;
  c.erase("vocab_size");
  check(c, {"field 'vocab_size' is missing"});
  c = cfg;
  c["num_key_value_heads"] = 3;
  check(c, {"field 'num_key_value_heads' (3) must divide num_attention_heads (2)"});
  c = cfg;
  c["num_attention_heads"] = 3;
  c.erase("num_key_value_heads");
  check(c, {"field 'head_dim' is missing and num_attention_heads (3) does not divide hidden_size (8)"});
  c = cfg;
  c["rms_norm_eps"] = -1.0;
  check(c, {"field 'rms_norm_eps' must be a positive finite number"});
  c = cfg;
  c["tie_word_embeddings"] = "yes";
  check(c, {"field 'tie_word_embeddings' must be true or false"});
  c = cfg;
  c["architectures"] = nlohmann::json::array();
  check(c, {"field 'architectures' must be a non-empty array of strings"});
  c = cfg;
  c["hidden_size"] = 1e12;
  check(c, {"field 'hidden_size' must be a positive integer"});

  write_file(tmp / "config.json", "{\"hidden_size\": ");
  expect_error([&] { ModelReader r(tmp.path()); }, {cfg_file, "not valid JSON"});
  write_file(tmp / "config.json", "[]");
  expect_error([&] { ModelReader r(tmp.path()); }, {cfg_file, "not a JSON object"});
}

TEST(MalformedModel, NoWeights) {
  TempDir tmp;
  write_file(tmp / "config.json", testkit::tiny_config_json());
  expect_error([&] { ModelReader r(tmp.path()); },
               {(tmp / "model.safetensors").string(), "not found", "model.safetensors.index.json"});
}

TEST(MalformedModel, EmptyAndBrokenSafetensorsFile) {
  TempDir tmp;
  write_file(tmp / "config.json", testkit::tiny_config_json());
  const std::string file = (tmp / "model.safetensors").string();
  write_file(file, "");  // zero-length: must not be passed to mmap
  expect_error([&] { ModelReader r(tmp.path()); }, {file, "0 bytes", "too short"});
  const std::string header = R"({"w":)" + entry("F32", "[3]", "[0,8]") + "}";
  write_file(file, raw_safetensors(header, std::string(8, '\0')));
  expect_error([&] { ModelReader r(tmp.path()); }, {file, "tensor 'w'", "do not match shape [3] x F32 = 12 bytes"});
  write_file(file, raw_safetensors(R"({"__metadata__":{}})"));
  expect_error([&] { ModelReader r(tmp.path()); }, {tmp.path().string(), "no tensors"});
}

TEST(MalformedModel, ShardPathEscapingDirectory) {
  TempDir outer;
  fs::create_directory(outer / "model");
  TempDir& tmp = outer;  // the model is outer/model; "../x.safetensors" would be outer/x.safetensors
  const fs::path dir = tmp / "model";
  const std::string index = (dir / "model.safetensors.index.json").string();
  one("w").write(tmp / "x.safetensors");  // exists, so only the containment check can refuse it
  write_file(dir / "config.json", testkit::tiny_config_json());

  write_file(index, R"({"weight_map":{"w":"../x.safetensors"}})");
  expect_error([&] { ModelReader r(dir); }, {index, "tensor 'w'", "'../x.safetensors'", "leave the model directory"});

  write_file(index, R"({"weight_map":{"w":"sub/../../x.safetensors"}})");
  expect_error([&] { ModelReader r(dir); }, {index, "tensor 'w'", "leave the model directory"});

  const std::string abs = (tmp / "x.safetensors").string();
  write_file(index, nlohmann::json{{"weight_map", {{"w", abs}}}}.dump());
  expect_error([&] { ModelReader r(dir); }, {index, "tensor 'w'", "'" + abs + "'", "is an absolute path"});

  // A symlink inside the directory that points outside it is the user's own choice (the Hugging
  // Face hub cache links every snapshot file into ../../blobs): it is followed, not refused.
  fs::create_symlink(tmp / "x.safetensors", dir / "link.safetensors");
  write_file(index, R"({"weight_map":{"w":"link.safetensors"}})");
  write_file(tmp / "x.safetensors", one("w").bytes());
  EXPECT_NO_THROW({ ModelReader r(dir); });

  write_file(index, R"({"weight_map":{"w":""}})");
  expect_error([&] { ModelReader r(dir); }, {index, "tensor 'w'", "empty shard file name"});
}

TEST(MalformedModel, MissingShard) {
  TempDir tmp;
  write_sharded(tmp, {{"a.safetensors", one("w")}}, {{"w", "a.safetensors"}, {"v", "b.safetensors"}});
  expect_error([&] { ModelReader r(tmp.path()); },
               {(tmp / "b.safetensors").string(), "shard file listed in", "does not exist"});
}

TEST(MalformedModel, TensorMissingFromShard) {
  TempDir tmp;
  write_sharded(tmp, {{"a.safetensors", one("w")}}, {{"w", "a.safetensors"}, {"v", "a.safetensors"}});
  expect_error([&] { ModelReader r(tmp.path()); },
               {(tmp / "a.safetensors").string(), "tensor 'v'", "listed in the weight_map", "not found in this shard"});
}

TEST(MalformedModel, TensorInShardButNotInWeightMap) {
  TempDir tmp;
  SafetensorsBuilder b = one("w");
  b.add("extra", DType::F32, {1}, {1.0f});
  write_sharded(tmp, {{"a.safetensors", b}}, {{"w", "a.safetensors"}});
  expect_error([&] { ModelReader r(tmp.path()); },
               {(tmp / "a.safetensors").string(), "tensor 'extra'", "not listed in the weight_map"});
  // Listed, but for another shard.
  write_sharded(tmp, {{"a.safetensors", b}, {"b.safetensors", one("v")}},
                {{"w", "a.safetensors"}, {"extra", "b.safetensors"}, {"v", "b.safetensors"}});
  expect_error([&] { ModelReader r(tmp.path()); },
               {(tmp / "a.safetensors").string(), "tensor 'extra'", "assigns it to 'b.safetensors'"});
}

TEST(MalformedModel, TensorInTwoShards) {
  TempDir tmp;
  SafetensorsBuilder b = one("v");
  b.add("w", DType::F32, {1}, {5.0f});
  write_sharded(tmp, {{"a.safetensors", one("w")}, {"b.safetensors", b}},
                {{"w", "a.safetensors"}, {"v", "b.safetensors"}});
  expect_error([&] { ModelReader r(tmp.path()); }, {(tmp / "b.safetensors").string(), "tensor 'w'",
                                                    "also appears in " + (tmp / "a.safetensors").string()});
}

TEST(MalformedModel, BadIndex) {
  TempDir tmp;
  write_sharded(tmp, {{"a.safetensors", one("w")}}, {{"w", "a.safetensors"}});
  const std::string index = (tmp / "model.safetensors.index.json").string();
  write_file(index, R"({"weight_map":{"w":"a.safetensors","w":"a.safetensors"}})");
  expect_error([&] { ModelReader r(tmp.path()); }, {index, "tensor 'w'", "more than once in 'weight_map'"});
  write_file(index, R"({"weight_map":{"w":3}})");
  expect_error([&] { ModelReader r(tmp.path()); }, {index, "tensor 'w'", "not a string"});
  write_file(index, R"({"metadata":{}})");
  expect_error([&] { ModelReader r(tmp.path()); }, {index, "no 'weight_map'"});
  write_file(index, R"({"weight_map":)");
  expect_error([&] { ModelReader r(tmp.path()); }, {index, "not valid JSON"});
}

TEST(MalformedWeights, NaNInWeights) {
  TempDir tmp;
  SafetensorsBuilder b;
  b.add("layer.w", DType::F32, {2, 2}, {1.0f, 2.0f, std::numeric_limits<float>::quiet_NaN(), 4.0f});
  testkit::write_model(tmp.path(), b);
  ModelReader r(tmp.path());
  expect_error([&] { r.load_f32(*r.find("layer.w")); },
               {(tmp / "model.safetensors").string(), "tensor 'layer.w'", "contains NaN at element 2"});
  // The same error from the in-place scan (any thread count) and from reading the row holding it.
  for (const unsigned threads : {1u, 3u})
    expect_error([&] { r.check_finite(*r.find("layer.w"), threads); },
                 {(tmp / "model.safetensors").string(), "tensor 'layer.w'", "contains NaN at element 2"});
  const std::int64_t row1[] = {1};
  expect_error([&] { r.load_rows_f32(*r.find("layer.w"), row1, 2); }, {"tensor 'layer.w'", "contains NaN at element 2"});
  const std::int64_t row0[] = {0};
  EXPECT_EQ(r.load_rows_f32(*r.find("layer.w"), row0, 2), (std::vector<float>{1.0f, 2.0f}));
}

TEST(MalformedWeights, InfInWeights) {
  TempDir tmp;
  SafetensorsBuilder b;
  b.add("f16.w", DType::F16, {3}, {1.0f, 2.0f, -std::numeric_limits<float>::infinity()})
      .add("bf16.w", DType::BF16, {2}, {std::numeric_limits<float>::infinity(), 1.0f});
  testkit::write_model(tmp.path(), b);
  ModelReader r(tmp.path());
  const std::string file = (tmp / "model.safetensors").string();
  expect_error([&] { r.load_f32(*r.find("f16.w")); }, {file, "tensor 'f16.w'", "contains Inf at element 2"});
  expect_error([&] { r.load_f32(*r.find("bf16.w")); }, {file, "tensor 'bf16.w'", "contains Inf at element 0"});
  expect_error([&] { r.check_finite(*r.find("f16.w")); }, {file, "tensor 'f16.w'", "contains Inf at element 2"});
  expect_error([&] { r.check_finite(*r.find("bf16.w")); }, {file, "tensor 'bf16.w'", "contains Inf at element 0"});
}

TEST(MalformedWeights, ScanFindsTheFirstNonFiniteOfEveryDtype) {
  // 2^21 + 5 elements (three scan pieces): the NaN in the last piece is found, and an Inf in the
  // second piece, being first, wins over it whatever the thread count.
  const std::size_t n = (std::size_t{1} << 21) + 5;
  for (const DType dt : {DType::F32, DType::F16, DType::BF16}) {
    TempDir tmp;
    std::vector<float> v(n, 0.5f);
    v[n - 2] = std::numeric_limits<float>::quiet_NaN();
    SafetensorsBuilder b;
    b.add("late.w", dt, {static_cast<std::int64_t>(n)}, v);
    v[(std::size_t{1} << 20) + 7] = -std::numeric_limits<float>::infinity();
    b.add("early.w", dt, {static_cast<std::int64_t>(n)}, v);
    v.assign(n, 0.25f);
    b.add("clean.w", dt, {static_cast<std::int64_t>(n)}, v);
    testkit::write_model(tmp.path(), b);
    ModelReader r(tmp.path());
    for (const unsigned threads : {1u, 2u, 4u}) {
      expect_error([&] { r.check_finite(*r.find("late.w"), threads); },
                   {"tensor 'late.w'", "contains NaN at element " + std::to_string(n - 2)});
      expect_error([&] { r.check_finite(*r.find("early.w"), threads); },
                   {"tensor 'early.w'", "contains Inf at element " + std::to_string((std::size_t{1} << 20) + 7)});
      EXPECT_NO_THROW(r.check_finite(*r.find("clean.w"), threads));
    }
  }
}

TEST(MalformedWeights, NonFloatDtypeLoadedAsFloat) {
  TempDir tmp;
  SafetensorsBuilder b;
  b.add_raw("ids", "I32", {2}, std::string(8, '\0')).add_raw("mask", "BOOL", {3}, std::string(3, '\1'));
  testkit::write_model(tmp.path(), b);
  ModelReader r(tmp.path());
  const std::string file = (tmp / "model.safetensors").string();
  expect_error([&] { r.load_f32(*r.find("ids")); }, {file, "tensor 'ids'", "dtype I32", "cannot be loaded as float"});
  expect_error([&] { r.load_f32(*r.find("mask")); }, {file, "tensor 'mask'", "dtype BOOL"});
  EXPECT_EQ(r.raw(*r.find("ids")).size(), 8u);  // raw access still works
}

}  // namespace
}  // namespace ramq
