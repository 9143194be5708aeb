// Parsing and validation of safetensors headers.
//
// Layout: 8-byte little-endian u64 N, N bytes of UTF-8 JSON (an object), then the data area.
// Every value is checked before it is used; any problem throws ramq::Error naming the file
// (and the tensor when one is involved).
//
// Duplicate keys: nlohmann::json keeps only one value for a repeated key, so the header is parsed
// with a parser callback that sees every key event and keeps one set of seen keys per open JSON
// object (indexed by nesting depth). A repeated top-level key is a duplicate tensor name; a
// repeated key inside an entry (e.g. two "dtype" fields) is reported for that entry.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramq/error.h"
#include "ramq/json_io.h"
#include "ramq/safetensors.h"
#include "ramq/utf8.h"

namespace ramq {

namespace {

using json = nlohmann::json;

constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;  // 100 MB: far above any real header
constexpr std::size_t kMaxQuoted = 80;                   // longest JSON value quoted in a message

// Makes text safe to embed in a one-line message: control characters become '?'
// (the input is already known to be valid UTF-8), and long text is shortened.
std::string printable(std::string_view s, std::size_t max_len = kMaxQuoted) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (out.size() >= max_len) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    out.push_back(c < 0x20 || c == 0x7f ? '?' : s[i]);
  }
  return out;
}

std::string quoted_json(const json& j) { return printable(j.dump(-1, ' ', false, json::error_handler_t::replace)); }

// nlohmann messages start with "[json.exception.parse_error.101] "; keep the readable part.
std::string json_error_text(const json::exception& e) {
  std::string_view s = e.what();
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find("] ");
    if (close != std::string_view::npos) s.remove_prefix(close + 2);
  }
  return printable(s, 300);
}

std::optional<std::uint64_t> as_u64(const json& j) {
  if (j.is_number_unsigned()) return j.get<std::uint64_t>();
  if (j.is_number_integer()) {
    const auto v = j.get<std::int64_t>();
    if (v >= 0) return static_cast<std::uint64_t>(v);
  }
  return std::nullopt;
}

bool checked_mul(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return false;
  out = a * b;
  return true;
}

std::string format_shape(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::string format_range(std::uint64_t begin, std::uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

// Parses the header JSON, rejecting duplicate keys at any depth (see the file comment).
json parse_header_json(std::string_view text, const std::string& file) {
  std::vector<std::set<std::string>> seen;  // seen[d]: keys of the object opened at depth d
  std::string current_entry;                // last top-level key, for messages about nested keys
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) -> bool {
    if (depth < 0) return true;
    if (depth > kMaxJsonDepth)
      throw Error(file, "", "header is nested more than " + std::to_string(kMaxJsonDepth) + " levels deep");
    const auto d = static_cast<std::size_t>(depth);
    if (event == json::parse_event_t::object_start) {
      if (seen.size() <= d) seen.resize(d + 1);
      seen[d].clear();
    } else if (event == json::parse_event_t::key && d >= 1 && seen.size() >= d && parsed.is_string()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (d == 1) current_entry = key;
      if (!seen[d - 1].insert(key).second) {
        if (d == 1) {
          if (key == "__metadata__") throw Error(file, "", "header has more than one '__metadata__' entry");
          throw Error(file, key, "tensor name appears more than once in the header");
        }
        throw Error(file, d == 2 ? current_entry : std::string(),
                    "header has a duplicate key '" + printable(key) + "' inside an entry");
      }
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    throw Error(file, "", "header is not valid JSON: " + json_error_text(e));
  }
}

const json& required_field(const json& entry, const char* field, const std::string& file, const std::string& name) {
  const auto it = entry.find(field);
  if (it == entry.end()) throw Error(file, name, std::string("header entry has no '") + field + "' field");
  return *it;
}

struct RawEntry {
  TensorInfo info;
  std::uint64_t begin = 0;  // relative to the data area
  std::uint64_t end = 0;
};

RawEntry parse_entry(const std::string& name, const json& entry, std::uint64_t data_size, const std::string& file) {
  if (!entry.is_object()) throw Error(file, name, "header entry is not a JSON object but " + quoted_json(entry));
  RawEntry r;
  r.info.name = name;
  r.info.file = file;

  // dtype
  const json& jd = required_field(entry, "dtype", file, name);
  if (!jd.is_string()) throw Error(file, name, "'dtype' is not a string but " + quoted_json(jd));
  const auto& dname = jd.get_ref<const std::string&>();
  const auto dt = parse_dtype(dname);
  if (!dt)
    throw Error(file, name,
                "unknown dtype '" + printable(dname) + "' (known: F32, F16, BF16, F64, I64, I32, I16, I8, U32, U8, BOOL, F8_E4M3)");
  r.info.dtype = *dt;

  // shape
  const json& js = required_field(entry, "shape", file, name);
  if (!js.is_array()) throw Error(file, name, "'shape' is not an array but " + quoted_json(js));
  // The product of the non-zero dimensions must fit too: later code multiplies any subset of the
  // dimensions (rows x columns of an empty expert stack, say), and [0, 2^62, 2^62] is no tensor.
  std::uint64_t numel = 1;
  std::uint64_t nonzero = 1;
  constexpr auto kMaxElems = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  for (std::size_t i = 0; i < js.size(); ++i) {
    const auto v = as_u64(js[i]);
    if (!v || *v > kMaxElems)
      throw Error(file, name,
                  "shape " + quoted_json(js) + ": dimension " + std::to_string(i) + " is " + quoted_json(js[i]) +
                      ", not a non-negative integer");
    r.info.shape.push_back(static_cast<std::int64_t>(*v));
    if (!checked_mul(nonzero, *v == 0 ? 1 : *v, nonzero) || nonzero > kMaxElems)
      throw Error(file, name, "shape " + quoted_json(js) + " has too many elements (the product overflows 64 bits)");
    numel *= *v;
  }
  std::uint64_t nbytes = 0;
  if (!checked_mul(numel, dtype_size(*dt), nbytes))
    throw Error(file, name,
                "shape " + quoted_json(js) + " x " + dname + " is too large (the byte size overflows 64 bits)");
  r.info.nbytes = nbytes;

  // data_offsets
  const json& jo = required_field(entry, "data_offsets", file, name);
  std::optional<std::uint64_t> b;
  std::optional<std::uint64_t> e;
  if (jo.is_array() && jo.size() == 2) {
    b = as_u64(jo[0]);
    e = as_u64(jo[1]);
  }
  if (!b || !e)
    throw Error(file, name, "'data_offsets' is " + quoted_json(jo) + ", not an array of two non-negative integers");
  r.begin = *b;
  r.end = *e;
  if (r.begin > r.end)
    throw Error(file, name, "data_offsets " + format_range(r.begin, r.end) + " have begin greater than end");
  if (r.end > data_size)
    throw Error(file, name,
                "data_offsets " + format_range(r.begin, r.end) + " end beyond the data area, which is " +
                    std::to_string(data_size) + " bytes");
  if (r.end - r.begin != nbytes)
    throw Error(file, name,
                "data_offsets " + format_range(r.begin, r.end) + " do not match shape " + format_shape(r.info.shape) +
                    " x " + dname + " = " + std::to_string(nbytes) + " bytes");
  return r;
}

}  // namespace

std::int64_t TensorInfo::numel() const {
  std::int64_t n = 1;
  for (const auto d : shape) n *= d;
  return n;
}

std::string TensorInfo::source_dtype() const {
  switch (encoding) {
    case SourceEncoding::F8Block: return "F8_E4M3";
    case SourceEncoding::Mxfp4: return "MXFP4";
    case SourceEncoding::Plain:
    case SourceEncoding::Transposed: break;
  }
  return std::string(dtype_name(dtype));
}

SafetensorsHeader parse_safetensors_header(std::span<const std::byte> file_bytes, const std::string& file) {
  const std::uint64_t size = file_bytes.size();
  if (size < 8)
    throw Error(file, "",
                "file is " + std::to_string(size) +
                    " bytes, too short to be a safetensors file (the header length alone takes 8 bytes)");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | std::to_integer<std::uint64_t>(file_bytes[static_cast<std::size_t>(i)]);
  if (n == 0) throw Error(file, "", "header length is 0 (the JSON header is missing)");
  if (n > size - 8)
    throw Error(file, "",
                "header length " + std::to_string(n) + " extends beyond the end of the file (" + std::to_string(size) +
                    " bytes, so at most " + std::to_string(size - 8) + " bytes are available)");
  if (n > kMaxHeaderBytes)
    throw Error(file, "",
                "header length " + std::to_string(n) + " is larger than the limit of " +
                    std::to_string(kMaxHeaderBytes) + " bytes");
  const std::uint64_t data_start = 8 + n;
  const std::uint64_t data_size = size - data_start;

  const std::string_view text(reinterpret_cast<const char*>(file_bytes.data()) + 8, static_cast<std::size_t>(n));
  if (const auto bad = first_invalid_utf8(text))
    throw Error(file, "", "header is not valid UTF-8 (bad byte at header offset " + std::to_string(*bad) + ")");

  // nlohmann::json treats a NUL byte as the end of input and would ignore what follows it.
  if (const auto nul = text.find('\0'); nul != std::string_view::npos)
    throw Error(file, "", "header contains a NUL byte at header offset " + std::to_string(nul));

  const json root = parse_header_json(text, file);
  if (!root.is_object())
    throw Error(file, "", "header is not a JSON object but " + std::string(root.type_name()));

  SafetensorsHeader out;
  std::vector<RawEntry> entries;
  entries.reserve(root.size());
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") {
      if (!it->is_object()) throw Error(file, "", "'__metadata__' is not a JSON object but " + quoted_json(*it));
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string())
          throw Error(file, "",
                      "'__metadata__' value for key '" + printable(m.key()) + "' is not a string but " +
                          quoted_json(*m));
        out.metadata.emplace(m.key(), m->get<std::string>());
      }
      continue;
    }
    if (name.empty()) throw Error(file, "", "header has a tensor with an empty name");
    if (const auto bad = first_invalid_utf8(name))
      throw Error(file, "", "tensor name '" + printable(name.substr(0, *bad)) + "...' is not valid UTF-8");
    if (std::any_of(name.begin(), name.end(), [](char c) {
          const auto u = static_cast<unsigned char>(c);
          return u < 0x20 || u == 0x7f;
        }))
      throw Error(file, printable(name), "tensor name contains a control character");
    entries.push_back(parse_entry(name, *it, data_size, file));
  }

  // Order by position; a tensor holding bytes must start at or after the end of every earlier one.
  std::sort(entries.begin(), entries.end(), [](const RawEntry& a, const RawEntry& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.end != b.end) return a.end < b.end;
    return a.info.name < b.info.name;
  });
  const RawEntry* furthest = nullptr;  // the tensor with the largest end so far
  for (const auto& r : entries) {
    if (r.begin == r.end) continue;  // empty tensors hold no bytes and cannot overlap
    if (furthest && r.begin < furthest->end)
      throw Error(file, r.info.name,
                  "data_offsets " + format_range(r.begin, r.end) + " overlap tensor '" + furthest->info.name + "' at " +
                      format_range(furthest->begin, furthest->end));
    if (!furthest || r.end > furthest->end) furthest = &r;
  }

  out.tensors.reserve(entries.size());
  for (auto& r : entries) {
    r.info.offset = data_start + r.begin;
    out.tensors.push_back(std::move(r.info));
  }
  return out;
}

}  // namespace ramq
