// Malformed-input suite, part 2: hostile GGUF files through `ramq inspect FILE` and
// `ramq eval FILE.gguf --tokens ...`. Files are built byte by byte here (GgufBytes), independently
// of ramq's GGUF writer; one case starts from a real ramq GGUF and poisons one tensor with NaN.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>

#include "support/cli_failure.h"
#include "support/safetensors_builder.h"
#include "support/synthetic_llama.h"
#include "write/mini_gguf.h"

namespace fs = std::filesystem;
using namespace ramq::testkit;

namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

std::string le(std::uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
  return s;
}
std::string gstr(const std::string& s) { return le(s.size(), 8) + s; }
std::string kv_u32(const std::string& key, std::uint32_t v) { return gstr(key) + le(4, 4) + le(v, 4); }
std::string kv_str(const std::string& key, const std::string& v) { return gstr(key) + le(8, 4) + gstr(v); }

// A GGUF file from parts; counts default to the number of parts given.
struct GgufBytes {
  std::string magic = "GGUF";
  std::uint32_t version = 3;
  std::optional<std::uint64_t> tensor_count, kv_count;
  std::vector<std::string> kvs = {kv_str("general.architecture", "llama")};
  struct Info {
    std::string name;
    std::vector<std::uint64_t> ne;
    std::uint32_t type = 0;  // F32
    std::uint64_t offset = 0;
  };
  std::vector<Info> tensors = {{"a", {8}, 0, 0}, {"b", {4, 2}, 0, 32}};
  std::string data = std::string(64, '\0');

  std::string bytes() const {
    std::string f = magic + le(version, 4) + le(tensor_count.value_or(tensors.size()), 8) + le(kv_count.value_or(kvs.size()), 8);
    for (const auto& kv : kvs) f += kv;
    for (const auto& t : tensors) {
      f += gstr(t.name) + le(t.ne.size(), 4);
      for (const auto d : t.ne) f += le(d, 8);
      f += le(t.type, 4) + le(t.offset, 8);
    }
    f.resize((f.size() + 31) / 32 * 32, '\0');
    return f + data;
  }
};

std::function<void(const fs::path&)> gguf(const GgufBytes& g) {
  const std::string bytes = g.bytes();
  return [bytes](const fs::path& d) { write_file(d / "m.gguf", bytes); };
}
std::function<void(const fs::path&)> gguf_raw(std::string bytes) {
  return [bytes](const fs::path& d) { write_file(d / "m.gguf", bytes); };
}
std::vector<std::string> inspect(const fs::path& dir, const fs::path&) { return {"inspect", (dir / "m.gguf").string()}; }
std::vector<std::string> eval(const fs::path& dir, const fs::path&) {
  write_file(dir.parent_path() / "t.u32", le(1, 4) + le(2, 4) + le(3, 4) + le(4, 4));
  return {"eval", (dir / "m.gguf").string(), "--tokens", (dir.parent_path() / "t.u32").string()};
}

GgufBytes with(const std::function<void(GgufBytes&)>& edit) {
  GgufBytes g;
  edit(g);
  return g;
}

// A real GGUF written by ramq from a small synthetic model (made once).
const std::string& real_gguf() {
  static const std::string bytes = [] {
    TempDir tmp("gguf-src");
    SyntheticLlama s;
    s.hidden = 64, s.heads = 2, s.kv_heads = 1, s.ffn = 128, s.layers = 1, s.vocab = 64;
    write_synthetic_llama(tmp / "model", s);
    const auto r = run_ramq({"quantize", (tmp / "model").string(), "--format", "gguf", "--policy", "uniform", "--bits", "16",
                             "--keep-dtype", "-o", (tmp / "m.gguf").string()});
    EXPECT_EQ(r.status, 0) << r.err;
    return slurp(tmp / "m.gguf");
  }();
  return bytes;
}

}  // namespace

TEST(MalformedInputs, GgufFiles) {
  ASSERT_EQ(GgufBytes().bytes().size() % 32, 0u);
  const std::vector<BadInput> cases = {
      {"bad magic", gguf(with([](GgufBytes& g) { g.magic = "GGML"; })), {"$DIR/m.gguf", "magic"}, inspect},
      {"unsupported version", gguf(with([](GgufBytes& g) { g.version = 99; })), {"$DIR/m.gguf", "version 99"}, inspect},
      {"truncated header", gguf_raw(GgufBytes().bytes().substr(0, 12)), {"$DIR/m.gguf", "truncated"}, inspect},
      {"tensor count near 2^64", gguf(with([](GgufBytes& g) { g.tensor_count = kMax; })), {"$DIR/m.gguf", "tensor count"}, inspect},
      {"key/value count near 2^64", gguf(with([](GgufBytes& g) { g.kv_count = kMax - 1; })), {"$DIR/m.gguf", "count"}, inspect},
      {"key length near 2^64", gguf(with([](GgufBytes& g) { g.kvs = {le(kMax, 8) + "general.x"}; })), {"$DIR/m.gguf", "length"}, inspect},
      {"array length near 2^64",
       gguf(with([](GgufBytes& g) { g.kvs.push_back(gstr("x.arr") + le(9, 4) + le(0, 4) + le(kMax / 2, 8)); })),
       {"$DIR/m.gguf", "array length"}, inspect},
      {"unknown value type", gguf(with([](GgufBytes& g) { g.kvs.push_back(gstr("x.t") + le(99, 4) + le(0, 8)); })),
       {"$DIR/m.gguf", "unknown value type"}, inspect},
      {"duplicate key", gguf(with([](GgufBytes& g) { g.kvs.push_back(kv_u32("general.alignment", 32)); g.kvs.push_back(kv_u32("general.alignment", 32)); })),
       {"$DIR/m.gguf", "duplicate metadata key"}, inspect},
      {"alignment not a power of two", gguf(with([](GgufBytes& g) { g.kvs.push_back(kv_u32("general.alignment", 48)); })),
       {"$DIR/m.gguf", "power of two"}, inspect},
      {"offset past the end", gguf(with([](GgufBytes& g) { g.tensors[1].offset = 1u << 20; })), {"$DIR/m.gguf", "'b'", "outside"}, inspect},
      {"offset near 2^64", gguf(with([](GgufBytes& g) { g.tensors[1].offset = kMax - 31; })), {"$DIR/m.gguf", "'b'", "outside"}, inspect},
      {"overlapping tensors", gguf(with([](GgufBytes& g) { g.tensors[1].offset = 0; })), {"$DIR/m.gguf", "overlaps"}, inspect},
      {"unaligned offset", gguf(with([](GgufBytes& g) { g.tensors[1].offset = 36; })), {"$DIR/m.gguf", "'b'", "alignment"}, inspect},
      {"unknown ggml type", gguf(with([](GgufBytes& g) { g.tensors[0].type = 77; })), {"$DIR/m.gguf", "'a'", "type id 77"}, inspect},
      {"five dimensions", gguf(with([](GgufBytes& g) { g.tensors[0].ne = {1, 1, 1, 1, 8}; })), {"$DIR/m.gguf", "'a'", "dimensions"}, inspect},
      {"zero dimensions", gguf(with([](GgufBytes& g) { g.tensors[0].ne = {}; })), {"$DIR/m.gguf", "'a'", "dimensions"}, inspect},
      {"dimension product overflows", gguf(with([](GgufBytes& g) { g.tensors[0].ne = {1u << 31, 1u << 31, 1u << 31}; })),
       {"$DIR/m.gguf", "'a'", "overflow"}, inspect},
      {"zero dimension hiding an overflow", gguf(with([](GgufBytes& g) { g.tensors[0].ne = {0, 1ull << 40, 1ull << 40}; })),
       {"$DIR/m.gguf", "'a'", "overflow"}, inspect},
      {"duplicate tensor name", gguf(with([](GgufBytes& g) { g.tensors[1].name = "a"; })), {"$DIR/m.gguf", "'a'", "duplicate"}, inspect},
      {"tensor name not UTF-8", gguf(with([](GgufBytes& g) { g.tensors[1].name = "b\xff\xfe"; })), {"$DIR/m.gguf", "UTF-8"}, inspect},
      {"row not a multiple of the block", gguf(with([](GgufBytes& g) { g.tensors[0].type = 8; g.tensors[0].ne = {8}; })),
       {"$DIR/m.gguf", "'a'", "block size"}, inspect},
      {"missing architecture metadata for eval", gguf(with([](GgufBytes& g) { g.kvs = {kv_u32("general.alignment", 32)}; })),
       {"$DIR/m.gguf", "general.architecture"}, eval},
      {"truncated real file for eval", gguf_raw(real_gguf().substr(0, real_gguf().size() / 2)), {"$DIR/m.gguf"}, eval},
      {"NaN weight for eval",
       [](const fs::path& d) {
         MiniGguf g = MiniParser(real_gguf()).parse();
         std::size_t i = 0;
         while (g.tensors.at(i).name != "output_norm.weight") ++i;
         const float nan = std::numeric_limits<float>::quiet_NaN();
         std::memcpy(g.bytes.data() + g.data_start + g.tensors[i].offset + 8, &nan, 4);
         write_file(d / "m.gguf", g.bytes);
       },
       {"$DIR/m.gguf", "output_norm.weight", "NaN"}, eval},
  };
  for (const auto& c : cases) expect_clean_failure(c);
  // The files the cases break pass the same commands as they are: each case fails for its one
  // malformation, not for the base file or the command line around it.
  const std::vector<BadInput> whole = {
      {"GgufBytes() for inspect", gguf(GgufBytes()), {}, inspect},
      {"real GGUF for inspect", gguf_raw(real_gguf()), {}, inspect},
      {"real GGUF for eval", gguf_raw(real_gguf()), {}, eval},
  };
  for (const auto& c : whole) {
    TempDir tmp("gguf-whole");
    fs::create_directories(tmp / "input");
    c.make(tmp / "input");
    const auto r = run_ramq(c.args(tmp / "input", tmp / "out"));
    EXPECT_EQ(r.status, 0) << c.label << ": " << r.err;
  }
}
