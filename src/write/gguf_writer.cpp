// GGUF v3 writer: header, metadata and tensor infos first, then tensor data streamed in order,
// each tensor (and the start of the data section) padded with zero bytes to the alignment.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <utility>

#include "ramq/error.h"
#include "ramq/gguf.h"

namespace ramq {

std::uint64_t GgufTensorSpec::nbytes() const {
  if (ne.empty()) return 0;
  std::uint64_t rows = 1;
  for (std::size_t i = 1; i < ne.size(); ++i) rows *= static_cast<std::uint64_t>(ne[i]);
  return static_cast<std::uint64_t>(ggml_row_bytes(type, ne[0])) * rows;
}

// ---------------------------------------------------------------------------------------------
// Serialisation

namespace {

constexpr std::uint64_t kMaxKeyBytes = 65535;  // gguf.md: keys are at most 2^16-1 bytes
constexpr std::size_t kMaxNameBytes = 63;      // ggml's GGML_MAX_NAME (64) includes the NUL

class ByteSink {
 public:
  void u8(std::uint8_t v) { buf_.push_back(static_cast<char>(v)); }
  void u32(std::uint32_t v) { le(v, 4); }
  void u64(std::uint64_t v) { le(v, 8); }
  void str(const std::string& s) {
    u64(s.size());
    buf_ += s;
  }
  std::string& data() { return buf_; }

  void le(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) buf_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }

 private:
  std::string buf_;
};

struct ValueWriter {
  const std::string& file;
  const std::string& key;

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(file, "", "metadata key '" + key + "': " + what);
  }

  std::uint64_t as_unsigned(const GgufValue& v, std::uint64_t max) const {
    std::uint64_t x = 0;
    if (const auto* u = std::get_if<std::uint64_t>(&v.v)) x = *u;
    else if (const auto* s = std::get_if<std::int64_t>(&v.v); s && *s >= 0) x = static_cast<std::uint64_t>(*s);
    else fail("unsigned integer value expected");
    if (x > max) fail("value " + std::to_string(x) + " does not fit its type");
    return x;
  }
  std::int64_t as_signed(const GgufValue& v, std::int64_t min, std::int64_t max) const {
    std::int64_t x = 0;
    if (const auto* s = std::get_if<std::int64_t>(&v.v)) x = *s;
    else if (const auto* u = std::get_if<std::uint64_t>(&v.v); u && *u <= static_cast<std::uint64_t>(max))
      x = static_cast<std::int64_t>(*u);
    else fail("signed integer value expected");
    if (x < min || x > max) fail("value " + std::to_string(x) + " does not fit its type");
    return x;
  }

  void write(ByteSink& out, const GgufValue& v, GgufValueType t, int depth) const {
    if (v.type != t) fail("array element type does not match the array's element type");
    switch (t) {
      case GgufValueType::UINT8: out.le(as_unsigned(v, 0xff), 1); break;
      case GgufValueType::INT8: out.le(static_cast<std::uint64_t>(as_signed(v, -128, 127)), 1); break;
      case GgufValueType::UINT16: out.le(as_unsigned(v, 0xffff), 2); break;
      case GgufValueType::INT16: out.le(static_cast<std::uint64_t>(as_signed(v, -32768, 32767)), 2); break;
      case GgufValueType::UINT32: out.le(as_unsigned(v, 0xffffffffu), 4); break;
      case GgufValueType::INT32:
        out.le(static_cast<std::uint64_t>(as_signed(v, std::numeric_limits<std::int32_t>::min(),
                                                    std::numeric_limits<std::int32_t>::max())),
               4);
        break;
      case GgufValueType::UINT64: out.u64(as_unsigned(v, std::numeric_limits<std::uint64_t>::max())); break;
      case GgufValueType::INT64:
        out.u64(static_cast<std::uint64_t>(as_signed(v, std::numeric_limits<std::int64_t>::min(),
                                                     std::numeric_limits<std::int64_t>::max())));
        break;
      case GgufValueType::FLOAT32: {
        const auto* d = std::get_if<double>(&v.v);
        if (!d) fail("float value expected");
        const float f = static_cast<float>(*d);
        std::uint32_t bits = 0;
        std::memcpy(&bits, &f, 4);
        out.u32(bits);
        break;
      }
      case GgufValueType::FLOAT64: {
        const auto* d = std::get_if<double>(&v.v);
        if (!d) fail("float value expected");
        std::uint64_t bits = 0;
        std::memcpy(&bits, d, 8);
        out.u64(bits);
        break;
      }
      case GgufValueType::BOOL: {
        const auto* b = std::get_if<bool>(&v.v);
        if (!b) fail("bool value expected");
        out.u8(*b ? 1 : 0);
        break;
      }
      case GgufValueType::STRING: {
        const auto* s = std::get_if<std::string>(&v.v);
        if (!s) fail("string value expected");
        out.str(*s);
        break;
      }
      case GgufValueType::ARRAY: {
        const auto* a = std::get_if<std::shared_ptr<GgufArray>>(&v.v);
        if (!a || !*a) fail("array value expected");
        if (depth > 8) fail("arrays nested too deeply");
        out.u32(static_cast<std::uint32_t>((*a)->elem_type));
        out.u64((*a)->items.size());
        for (const auto& item : (*a)->items) write(out, item, (*a)->elem_type, depth + 1);
        break;
      }
      default: fail("unknown value type " + std::to_string(static_cast<std::uint32_t>(t)));
    }
  }
};

std::uint64_t align_up(std::uint64_t x, std::uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

std::string gguf_header_bytes(const std::vector<GgufKV>& kvs, const std::vector<GgufTensorSpec>& tensors,
                              std::uint32_t alignment, const std::string& file) {
  if (alignment < 8 || (alignment & (alignment - 1)) != 0)
    throw Error(file, "", "GGUF alignment " + std::to_string(alignment) + " is not a power of two >= 8");

  std::vector<GgufKV> all = kvs;
  bool has_alignment = false;
  std::set<std::string> keys;
  for (const auto& kv : all) {
    if (kv.key.empty() || kv.key.size() > kMaxKeyBytes)
      throw Error(file, "", "metadata key of " + std::to_string(kv.key.size()) + " bytes (must be 1.." +
                                std::to_string(kMaxKeyBytes) + ")");
    if (!keys.insert(kv.key).second) throw Error(file, "", "duplicate metadata key '" + kv.key + "'");
    if (kv.key == "general.alignment") {
      const auto* u = std::get_if<std::uint64_t>(&kv.value.v);
      if (kv.value.type != GgufValueType::UINT32 || !u || *u != alignment)
        throw Error(file, "", "metadata 'general.alignment' must be the uint32 " + std::to_string(alignment));
      has_alignment = true;
    }
  }
  if (!has_alignment && alignment != 32) all.push_back({"general.alignment", GgufValue::u32(alignment)});

  ByteSink head;
  head.data() = "GGUF";
  head.u32(3);
  head.u64(tensors.size());
  head.u64(all.size());
  for (const auto& kv : all) {
    head.str(kv.key);
    head.u32(static_cast<std::uint32_t>(kv.value.type));
    ValueWriter{file, kv.key}.write(head, kv.value, kv.value.type, 0);
  }

  std::set<std::string> names;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name.empty() || t.name.size() > kMaxNameBytes)
      throw Error(file, t.name, "tensor name must be 1.." + std::to_string(kMaxNameBytes) + " bytes long");
    if (!names.insert(t.name).second) throw Error(file, t.name, "duplicate tensor name");
    if (t.ne.empty() || t.ne.size() > 4)
      throw Error(file, t.name, "a GGUF tensor has 1 to 4 dimensions, not " + std::to_string(t.ne.size()));
    std::uint64_t numel = 1;
    for (const auto d : t.ne) {
      if (d < 0) throw Error(file, t.name, "negative dimension " + std::to_string(d));
      if (d > 0 && numel > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / static_cast<std::uint64_t>(d))
        throw Error(file, t.name, "element count overflows int64");
      numel *= static_cast<std::uint64_t>(d);
    }
    const auto& info = ggml_type_info(t.type);
    if (t.ne[0] % info.block_size != 0)
      throw Error(file, t.name, "row length " + std::to_string(t.ne[0]) + " is not a multiple of the " +
                                    std::string(info.name) + " block size " + std::to_string(info.block_size));
    head.str(t.name);
    head.u32(static_cast<std::uint32_t>(t.ne.size()));
    for (const auto d : t.ne) head.u64(static_cast<std::uint64_t>(d));
    head.u32(static_cast<std::uint32_t>(t.type));
    head.u64(offset);
    offset = align_up(offset + t.nbytes(), alignment);
  }
  head.data().resize(align_up(head.data().size(), alignment), '\0');

  return std::move(head.data());
}

std::uint64_t gguf_file_size(const std::vector<GgufKV>& kvs, const std::vector<GgufTensorSpec>& tensors,
                             std::uint32_t alignment, const std::string& file) {
  std::uint64_t bytes = gguf_header_bytes(kvs, tensors, alignment, file).size();
  for (const auto& t : tensors) bytes += align_up(t.nbytes(), alignment);
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// GgufStreamWriter

GgufStreamWriter::GgufStreamWriter(const std::filesystem::path& path, const std::vector<GgufKV>& kvs,
                                   std::vector<GgufTensorSpec> tensors, std::uint32_t alignment)
    : path_(path), tensors_(std::move(tensors)), alignment_(alignment) {
  const std::string file = path_.string();
  const std::string head = gguf_header_bytes(kvs, tensors_, alignment_, file);
  out_.open(path_, std::ios::binary | std::ios::trunc);
  if (!out_) throw Error(file, "", std::string("cannot create: ") + std::strerror(errno));
  out_.write(head.data(), static_cast<std::streamsize>(head.size()));
  if (!out_) throw Error(file, "", std::string("write failed (disk full?): ") + std::strerror(errno));
  file_bytes_ = head.size();
}

void GgufStreamWriter::write_next(const std::string& name, std::span<const std::byte> data) {
  const std::string file = path_.string();
  if (next_ >= tensors_.size())
    throw Error(file, name, "more tensors written than the " + std::to_string(tensors_.size()) + " declared");
  const auto& spec = tensors_[next_];
  if (name != spec.name) throw Error(file, name, "written out of order: expected tensor '" + spec.name + "'");
  if (data.size() != spec.nbytes())
    throw Error(file, name, "has " + std::to_string(data.size()) + " bytes of data, expected " +
                                std::to_string(spec.nbytes()));
  out_.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  const std::uint64_t padded = align_up(data.size(), alignment_);
  static const char zeros[256] = {};
  for (std::uint64_t left = padded - data.size(); left > 0;) {
    const auto n = static_cast<std::streamsize>(std::min<std::uint64_t>(left, sizeof zeros));
    out_.write(zeros, n);
    left -= static_cast<std::uint64_t>(n);
  }
  if (!out_) throw Error(file, name, std::string("write failed (disk full?): ") + std::strerror(errno));
  file_bytes_ += padded;
  ++next_;
}

void GgufStreamWriter::finish() {
  const std::string file = path_.string();
  if (next_ != tensors_.size())
    throw Error(file, "", "only " + std::to_string(next_) + " of " + std::to_string(tensors_.size()) +
                              " tensors were written");
  out_.flush();
  if (!out_) throw Error(file, "", std::string("write failed (disk full?): ") + std::strerror(errno));
  out_.close();
  if (!out_) throw Error(file, "", std::string("closing failed (disk full?): ") + std::strerror(errno));
}

}  // namespace ramq
