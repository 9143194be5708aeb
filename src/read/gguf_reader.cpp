// GGUF reader: the file is memory-mapped and every count, length, type and offset is checked
// against the file before it is used (nothing is allocated from an unchecked count).
#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <utility>

#include "ramq/error.h"
#include "ramq/gguf.h"
#include "read/mapped_file.h"
#include "ramq/utf8.h"

namespace ramq {

namespace {

constexpr std::uint64_t kMaxKeyBytes = 65535;  // gguf.md: keys are at most 2^16-1 bytes
constexpr std::size_t kMaxNameBytes = 63;      // ggml's GGML_MAX_NAME (64) includes the NUL
constexpr int kMaxArrayDepth = 8;
constexpr std::uint64_t kMinKvBytes = 8 + 4 + 1;              // key length, type, smallest value
constexpr std::uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // name length, n_dims, ne[0], type, offset

std::string printable(const std::string& s) {
  std::string out;
  for (const char c : s.substr(0, 80)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  return s.size() > 80 ? out + "..." : out;
}

// Smallest encoded size of one value of type t (arrays: element type + count; strings: length).
std::uint64_t min_value_bytes(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: case GgufValueType::INT8: case GgufValueType::BOOL: return 1;
    case GgufValueType::UINT16: case GgufValueType::INT16: return 2;
    case GgufValueType::UINT32: case GgufValueType::INT32: case GgufValueType::FLOAT32: return 4;
    case GgufValueType::UINT64: case GgufValueType::INT64: case GgufValueType::FLOAT64: case GgufValueType::STRING: return 8;
    case GgufValueType::ARRAY: return 12;
  }
  return 1;
}

class Cursor {
 public:
  Cursor(std::span<const std::byte> bytes, const std::string& file) : b_(bytes), file_(file) {}

  std::uint64_t pos() const { return pos_; }
  std::uint64_t remaining() const { return b_.size() - pos_; }
  std::uint64_t size() const { return b_.size(); }

  [[noreturn]] void fail(const std::string& problem, const std::string& tensor = "") const {
    throw Error(file_, tensor, problem);
  }

  void need(std::uint64_t n, const std::string& what, const std::string& tensor = "") const {
    if (n > remaining())
      fail("truncated: " + what + " needs " + std::to_string(n) + " bytes at offset " + std::to_string(pos_) +
               " but the file has " + std::to_string(b_.size()) + " bytes",
           tensor);
  }
  std::uint64_t le(int n, const std::string& what, const std::string& tensor = "") {
    need(static_cast<std::uint64_t>(n), what, tensor);
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(b_[pos_ + static_cast<std::size_t>(i)]) << (8 * i);
    pos_ += static_cast<std::uint64_t>(n);
    return v;
  }
  std::uint32_t u32(const std::string& what, const std::string& tensor = "") {
    return static_cast<std::uint32_t>(le(4, what, tensor));
  }
  std::uint64_t u64(const std::string& what, const std::string& tensor = "") { return le(8, what, tensor); }
  std::string str(const std::string& what, const std::string& tensor = "") {
    const std::uint64_t len = u64(what + " length", tensor);
    if (len > remaining())
      fail(what + " length " + std::to_string(len) + " at offset " + std::to_string(pos_ - 8) +
               " runs past the end of the file (" + std::to_string(b_.size()) + " bytes)",
           tensor);
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), static_cast<std::size_t>(len));
    pos_ += len;
    return s;
  }
  void seek(std::uint64_t p) { pos_ = p; }

 private:
  std::span<const std::byte> b_;
  const std::string& file_;
  std::uint64_t pos_ = 0;
};

struct ValueReader {
  Cursor& c;
  std::string key;

  [[noreturn]] void fail(const std::string& what) const { c.fail("metadata key '" + key + "': " + what); }

  GgufValue read(GgufValueType t, int depth) {
    const std::string what = "value of metadata key '" + key + "'";
    GgufValue v;
    v.type = t;
    switch (t) {
      case GgufValueType::UINT8: v.v = c.le(1, what); break;
      case GgufValueType::UINT16: v.v = c.le(2, what); break;
      case GgufValueType::UINT32: v.v = c.le(4, what); break;
      case GgufValueType::UINT64: v.v = c.le(8, what); break;
      case GgufValueType::INT8: v.v = std::int64_t{static_cast<std::int8_t>(c.le(1, what))}; break;
      case GgufValueType::INT16: v.v = std::int64_t{static_cast<std::int16_t>(c.le(2, what))}; break;
      case GgufValueType::INT32: v.v = std::int64_t{static_cast<std::int32_t>(c.le(4, what))}; break;
      case GgufValueType::INT64: v.v = static_cast<std::int64_t>(c.le(8, what)); break;
      case GgufValueType::FLOAT32: {
        const auto bits = static_cast<std::uint32_t>(c.le(4, what));
        float f = 0;
        std::memcpy(&f, &bits, 4);
        v.v = static_cast<double>(f);
        break;
      }
      case GgufValueType::FLOAT64: {
        const std::uint64_t bits = c.le(8, what);
        double d = 0;
        std::memcpy(&d, &bits, 8);
        v.v = d;
        break;
      }
      case GgufValueType::BOOL: {
        const std::uint64_t b = c.le(1, what);
        if (b > 1) fail("bool value " + std::to_string(b) + " is neither 0 nor 1");
        v.v = b == 1;
        break;
      }
      case GgufValueType::STRING: {
        std::string str = c.str("string " + what);
        if (first_invalid_utf8(str)) fail("string value is not valid UTF-8");
        v.v = std::move(str);
        break;
      }
      case GgufValueType::ARRAY: {
        if (depth >= kMaxArrayDepth) fail("arrays nested more than " + std::to_string(kMaxArrayDepth) + " deep");
        const std::uint32_t et = c.u32("array element type of metadata key '" + key + "'");
        if (et > static_cast<std::uint32_t>(GgufValueType::FLOAT64))
          fail("array has unknown element type " + std::to_string(et));
        const auto elem = static_cast<GgufValueType>(et);
        const std::uint64_t n = c.u64("array length of metadata key '" + key + "'");
        if (n > c.remaining() / min_value_bytes(elem))
          fail("array length " + std::to_string(n) + " is impossible: only " + std::to_string(c.remaining()) +
               " bytes remain in the file");
        auto arr = std::make_shared<GgufArray>();
        arr->elem_type = elem;
        arr->items.reserve(static_cast<std::size_t>(n));
        for (std::uint64_t i = 0; i < n; ++i) arr->items.push_back(read(elem, depth + 1));
        v.v = std::move(arr);
        break;
      }
      default: fail("unknown value type " + std::to_string(static_cast<std::uint32_t>(t)));
    }
    return v;
  }
};

// out = a * b; true on uint64 overflow.
bool mul_overflows(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  return __builtin_mul_overflow(a, b, &out);
}

}  // namespace

GgufReader::GgufReader(const std::filesystem::path& path) : path_(path) {
  const std::string file = path_.string();
  file_ = std::make_unique<MappedFile>(file);
  Cursor c(file_->bytes(), file);

  if (c.size() < 4) c.fail("truncated: " + std::to_string(c.size()) + " bytes is too short for the GGUF magic");
  const auto bytes = file_->bytes();
  if (std::memcmp(bytes.data(), "GGUF", 4) != 0) {
    std::string m(reinterpret_cast<const char*>(bytes.data()), 4);
    c.fail("bad magic '" + printable(m) + "': not a GGUF file (expected 'GGUF')");
  }
  c.seek(4);
  version_ = c.u32("GGUF version");
  if (version_ != 2 && version_ != 3)
    c.fail("unsupported GGUF version " + std::to_string(version_) + " (ramq reads versions 2 and 3)");
  const std::uint64_t n_tensors = c.u64("tensor count");
  const std::uint64_t n_kv = c.u64("metadata key/value count");
  if (n_kv > c.remaining() / kMinKvBytes)
    c.fail("metadata key/value count " + std::to_string(n_kv) + " is impossible for a file of " +
           std::to_string(c.size()) + " bytes");
  if (n_tensors > c.remaining() / kMinTensorInfoBytes)
    c.fail("tensor count " + std::to_string(n_tensors) + " is impossible for a file of " + std::to_string(c.size()) +
           " bytes");

  // Metadata.
  std::set<std::string> keys;
  kvs_.reserve(static_cast<std::size_t>(n_kv));
  for (std::uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.str("metadata key " + std::to_string(i));
    if (key.empty()) c.fail("metadata key " + std::to_string(i) + " is empty");
    if (first_invalid_utf8(key)) c.fail("metadata key " + std::to_string(i) + " '" + printable(key) + "' is not valid UTF-8");
    if (key.size() > kMaxKeyBytes) c.fail("metadata key " + std::to_string(i) + " is longer than 65535 bytes");
    if (!keys.insert(key).second) c.fail("duplicate metadata key '" + printable(key) + "'");
    ValueReader vr{c, printable(key)};
    const std::uint32_t t = c.u32("value type of metadata key '" + vr.key + "'");
    if (t > static_cast<std::uint32_t>(GgufValueType::FLOAT64)) vr.fail("unknown value type " + std::to_string(t));
    GgufValue v = vr.read(static_cast<GgufValueType>(t), 0);
    kvs_.push_back({std::move(key), std::move(v)});
  }
  std::uint64_t alignment = 32;
  if (const GgufValue* a = find("general.alignment")) {
    const auto* u = std::get_if<std::uint64_t>(&a->v);
    if (a->type != GgufValueType::UINT32 || !u) c.fail("metadata 'general.alignment' is not a uint32");
    if (*u == 0 || (*u & (*u - 1)) != 0)
      c.fail("metadata 'general.alignment' = " + std::to_string(*u) + " is not a power of two");
    alignment = *u;
  }

  // Tensor infos.
  std::set<std::string> names;
  tensors_.reserve(static_cast<std::size_t>(n_tensors));
  std::vector<std::uint64_t> rel_offsets;
  for (std::uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    t.name = c.str("name of tensor " + std::to_string(i));
    const std::string tn = printable(t.name);
    if (t.name.empty()) c.fail("tensor " + std::to_string(i) + " has an empty name");
    if (first_invalid_utf8(t.name)) c.fail("tensor " + std::to_string(i) + " name '" + tn + "' is not valid UTF-8");
    if (t.name.size() > kMaxNameBytes)
      c.fail("tensor name is " + std::to_string(t.name.size()) + " bytes long; ggml allows at most " +
                 std::to_string(kMaxNameBytes),
             tn);
    if (!names.insert(t.name).second) c.fail("duplicate tensor name", tn);
    const std::uint32_t n_dims = c.u32("dimension count", tn);
    if (n_dims < 1 || n_dims > 4) c.fail("has " + std::to_string(n_dims) + " dimensions (must be 1 to 4)", tn);
    // The product of the non-zero dimensions must fit in int64 too (a zero dimension must not
    // hide an overflow that code multiplying some of the dimensions would hit).
    std::uint64_t numel = 1;
    std::uint64_t nonzero = 1;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      const std::uint64_t ne = c.u64("dimension " + std::to_string(d), tn);
      if (ne > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        c.fail("dimension " + std::to_string(d) + " is negative (" + std::to_string(static_cast<std::int64_t>(ne)) + ")",
               tn);
      if (mul_overflows(nonzero, ne == 0 ? 1 : ne, nonzero) ||
          nonzero > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        c.fail("element count (product of the dimensions) overflows int64", tn);
      numel *= ne;
      t.ne.push_back(static_cast<std::int64_t>(ne));
    }
    const std::uint32_t type_id = c.u32("ggml type", tn);
    const auto types = ggml_types();
    const auto it = std::find_if(types.begin(), types.end(),
                                 [&](const GgmlTypeInfo& g) { return static_cast<std::uint32_t>(g.type) == type_id; });
    if (it == types.end()) c.fail("unknown or unsupported ggml type id " + std::to_string(type_id), tn);
    t.type = it->type;
    if (t.ne[0] % it->block_size != 0)
      c.fail("row length " + std::to_string(t.ne[0]) + " is not a multiple of the " + std::string(it->name) +
                 " block size " + std::to_string(it->block_size),
             tn);
    const std::uint64_t rows = t.ne[0] == 0 ? 0 : numel / static_cast<std::uint64_t>(t.ne[0]);
    std::uint64_t unused = 0;
    if (mul_overflows(static_cast<std::uint64_t>(t.ne[0] / it->block_size), it->block_bytes, unused))
      c.fail("row size in bytes overflows uint64", tn);
    const auto row_bytes = static_cast<std::uint64_t>(ggml_row_bytes(t.type, t.ne[0]));
    if (mul_overflows(row_bytes, rows, t.nbytes)) c.fail("data size overflows uint64", tn);
    const std::uint64_t off = c.u64("data offset", tn);
    if (off % alignment != 0)
      c.fail("data offset " + std::to_string(off) + " is not a multiple of the alignment " + std::to_string(alignment),
             tn);
    rel_offsets.push_back(off);
    tensors_.push_back(std::move(t));
  }

  // Data section: starts at the next multiple of the alignment after the tensor infos.
  const std::uint64_t end_infos = c.pos();
  const std::uint64_t data_start = (end_infos + alignment - 1) / alignment * alignment;
  if (n_tensors > 0 && data_start > c.size())
    c.fail("truncated: the data section would start at offset " + std::to_string(data_start) + " but the file has " +
           std::to_string(c.size()) + " bytes");
  const std::uint64_t data_size = n_tensors > 0 ? c.size() - data_start : 0;
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    auto& t = tensors_[i];
    if (rel_offsets[i] > data_size || t.nbytes > data_size - rel_offsets[i])
      c.fail("data [" + std::to_string(rel_offsets[i]) + ", +" + std::to_string(t.nbytes) +
                 ") lies outside the data section (" + std::to_string(data_size) + " bytes)",
             printable(t.name));
    t.offset = data_start + rel_offsets[i];
  }
  std::vector<std::size_t> order(tensors_.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return tensors_[a].offset != tensors_[b].offset ? tensors_[a].offset < tensors_[b].offset : a < b;
  });
  for (std::size_t k = 1; k < order.size(); ++k) {
    const auto& prev = tensors_[order[k - 1]];
    const auto& cur = tensors_[order[k]];
    if (cur.offset < prev.offset + prev.nbytes)
      c.fail("data overlaps the data of tensor '" + printable(prev.name) + "'", printable(cur.name));
  }
}

GgufReader::~GgufReader() = default;

const GgufValue* GgufReader::find(const std::string& key) const {
  for (const auto& kv : kvs_)
    if (kv.key == key) return &kv.value;
  return nullptr;
}

const GgufTensorInfo* GgufReader::find_tensor(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

std::span<const std::byte> GgufReader::data(const GgufTensorInfo& t) const {
  const auto bytes = file_->bytes();
  if (t.offset > bytes.size() || t.nbytes > bytes.size() - t.offset)
    throw Error(path_.string(), t.name, "tensor range lies outside the file");
  return bytes.subspan(static_cast<std::size_t>(t.offset), static_cast<std::size_t>(t.nbytes));
}

std::vector<float> GgufReader::load_f32(const GgufTensorInfo& t) const {
  const auto bytes = data(t);
  std::int64_t rows = 1;
  for (std::size_t i = 1; i < t.ne.size(); ++i) rows *= t.ne[i];
  const std::int64_t cols = t.ne.empty() ? 0 : t.ne[0];
  if (static_cast<std::uint64_t>(ggml_row_bytes(t.type, cols)) * static_cast<std::uint64_t>(rows) != bytes.size())
    throw Error(path_.string(), t.name, "byte size does not match the shape");
  std::vector<float> out(static_cast<std::size_t>(rows * cols));
  if (!out.empty()) gguf_decode_rows(t.type, bytes.data(), rows, cols, out.data());
  return out;
}

}  // namespace ramq
