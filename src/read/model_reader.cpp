// ModelReader: a Hugging Face model directory (config.json + model.safetensors, or
// model.safetensors.index.json + shards). Safetensors files are memory-mapped read-only and
// never copied whole into memory.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

#include "ramq/error.h"
#include "ramq/input_file.h"
#include "ramq/json_io.h"
#include "read/encoded_tensors.h"
#include "read/mapped_file.h"
#include "read/stacked_experts.h"
#include "ramq/parallel.h"
#include "ramq/safetensors.h"

namespace fs = std::filesystem;

namespace ramq {

namespace {

using json = nlohmann::json;

constexpr std::uintmax_t kMaxJsonFileBytes = 256u << 20;  // config.json / index: far above any real one
constexpr const char* kConfigName = "config.json";
constexpr const char* kIndexName = "model.safetensors.index.json";
constexpr const char* kSingleName = "model.safetensors";

std::string clean(std::string s) {
  if (s.size() > 200) s = s.substr(0, 200) + "...";
  for (auto& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return s;
}

std::string json_error_text(const json::exception& e) {
  std::string msg = e.what();
  if (const auto p = msg.find("] "); !msg.empty() && msg.front() == '[' && p != std::string::npos) msg.erase(0, p + 2);
  return clean(msg);
}

bool path_exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

// Reads a small text file (config.json, the index). Errors name the file.
std::string read_small_text(const fs::path& p) {
  return read_regular_file(p, kMaxJsonFileBytes);
}

// Checks that a shard name from the weight_map is a plain relative path that stays inside `dir`:
// no absolute path, no "..", no "." or empty components. The check is on the name, which comes
// from the (untrusted) index file. Symlinks inside the directory are the user's own and are
// followed: the Hugging Face hub cache stores every snapshot file as a symlink into ../../blobs.
void check_shard_name(const std::string& shard, const std::string& index_file, const std::string& tensor) {
  const std::string shown = "'" + clean(shard) + "'";
  if (shard.empty()) throw Error(index_file, tensor, "weight_map gives an empty shard file name");
  if (shard.find('\0') != std::string::npos)
    throw Error(index_file, tensor, "weight_map shard file name " + shown + " contains a NUL byte");
  const fs::path rel(shard);
  if (rel.is_absolute() || rel.has_root_name() || rel.has_root_directory() || shard.front() == '/')
    throw Error(index_file, tensor,
                "weight_map shard file name " + shown + " is an absolute path; it must be a file inside the model directory");
  for (const auto& part : rel) {
    const std::string s = part.string();
    if (s == "..")
      throw Error(index_file, tensor,
                  "weight_map shard file name " + shown + " contains '..' and would leave the model directory");
    if (s.empty() || s == ".")
      throw Error(index_file, tensor, "weight_map shard file name " + shown + " is not a plain relative file name");
  }
}

}  // namespace

ModelReader::ModelReader(const fs::path& dir) : dir_(dir) {
  const std::string dir_name = dir.string();
  {
    std::error_code ec;
    const auto st = fs::status(dir, ec);
    if (!fs::exists(st)) throw Error(dir_name, "", "model directory does not exist");
    if (!fs::is_directory(st)) throw Error(dir_name, "", "is not a directory");
  }

  const fs::path config_path = dir / kConfigName;
  if (!path_exists(config_path)) throw Error(config_path.string(), "", "not found: the model directory has no config.json");
  config_ = parse_model_config(read_small_text(config_path), config_path.string());

  // Every safetensors file to read, as (relative name, tensors the index assigns to it).
  std::map<std::string, std::set<std::string>> expected;
  const fs::path index_path = dir / kIndexName;
  const std::string index_file = index_path.string();
  const bool sharded = path_exists(index_path);
  if (sharded) {
    const std::string text = read_small_text(index_path);
    // nlohmann::json keeps one value for a repeated key; see every key of weight_map as it is parsed.
    std::string top_key;
    std::set<std::string> seen;
    auto callback = [&](int depth, json::parse_event_t ev, json& parsed) -> bool {
      if (depth > kMaxJsonDepth)
        throw Error(index_file, "", "not valid JSON for ramq: nested more than " + std::to_string(kMaxJsonDepth) + " levels deep");
      if (ev == json::parse_event_t::key && parsed.is_string()) {
        const auto& k = parsed.get_ref<const std::string&>();
        if (depth == 1) top_key = k;
        if (depth == 2 && top_key == "weight_map" && !seen.insert(k).second)
          throw Error(index_file, k, "appears more than once in 'weight_map'");
      }
      return true;
    };
    if (const auto nul = text.find('\0'); nul != std::string::npos)
      throw Error(index_file, "", "not valid JSON: contains a NUL byte at offset " + std::to_string(nul));
    json root;
    try {
      root = json::parse(text, callback);
    } catch (const json::exception& e) {
      throw Error(index_file, "", "not valid JSON: " + json_error_text(e));
    }
    if (!root.is_object()) throw Error(index_file, "", "not a JSON object");
    const auto wm = root.find("weight_map");
    if (wm == root.end()) throw Error(index_file, "", "has no 'weight_map'");
    if (!wm->is_object()) throw Error(index_file, "", "'weight_map' is not a JSON object");
    if (wm->empty()) throw Error(index_file, "", "'weight_map' is empty");
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (it.key().empty()) throw Error(index_file, "", "'weight_map' has an empty tensor name");
      if (!it->is_string()) throw Error(index_file, it.key(), "weight_map value is not a string (shard file name)");
      const std::string& shard = it->get_ref<const std::string&>();
      check_shard_name(shard, index_file, it.key());
      expected[fs::path(shard).lexically_normal().generic_string()].insert(it.key());
    }
  } else {
    const fs::path single = dir / kSingleName;
    if (!path_exists(single))
      throw Error(single.string(), "", "not found (and there is no model.safetensors.index.json either)");
    expected[kSingleName];  // no index: every tensor in the file is expected
  }

  // 1. Map and parse every file.
  std::vector<std::pair<std::string, SafetensorsHeader>> headers;  // (full path, header)
  for (const auto& kv : expected) {
    const fs::path path = dir / kv.first;
    const std::string file = path.string();
    if (!path_exists(path))
      throw Error(file, "", sharded ? "shard file listed in " + index_file + " does not exist" : "does not exist");
    auto mapped = std::make_unique<MappedFile>(file);
    headers.emplace_back(file, parse_safetensors_header(mapped->bytes(), file));
    files_.emplace(file, std::move(mapped));
  }
  // 2. A tensor may live in only one file.
  std::map<std::string, std::string> owner;  // tensor name -> file
  for (const auto& [file, header] : headers)
    for (const auto& t : header.tensors)
      if (const auto [it, inserted] = owner.emplace(t.name, file); !inserted)
        throw Error(file, t.name, "also appears in " + it->second + " (a tensor may be in only one shard)");
  // 3. The weight_map and the shard headers must agree exactly.
  std::vector<TensorInfo> all;
  auto rel_it = expected.begin();
  for (auto& [file, header] : headers) {
    const auto& names = (rel_it++)->second;
    std::set<std::string> found;
    for (auto& t : header.tensors) {
      if (sharded && !names.count(t.name)) {
        const auto wm_it = std::find_if(expected.begin(), expected.end(),
                                        [&](const auto& kv) { return kv.second.count(t.name) > 0; });
        if (wm_it == expected.end())
          throw Error(file, t.name, "is in this shard but not listed in the weight_map of " + index_file);
        throw Error(file, t.name,
                    "is in this shard but the weight_map of " + index_file + " assigns it to '" + clean(wm_it->first) +
                        "'");
      }
      found.insert(t.name);
      all.push_back(std::move(t));
    }
    for (const auto& name : names)
      if (!found.count(name))
        throw Error(file, name, "is listed in the weight_map of " + index_file + " but not found in this shard");
  }

  detail::pair_encoded_tensors(all, config_.raw, config_path.string());  // sorts by name
  if (all.empty()) throw Error(dir_name, "", "the model has no tensors");
  split_stacked_experts(all, config_);
  tensors_ = std::move(all);
}

ModelReader::~ModelReader() = default;

const TensorInfo* ModelReader::find(const std::string& name) const {
  const auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                                   [](const TensorInfo& t, const std::string& n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

std::vector<std::string> ModelReader::input_files() const {
  std::vector<std::string> out{kConfigName};
  if (path_exists(dir_ / kIndexName)) out.emplace_back(kIndexName);
  for (const auto& [path, mf] : files_) out.push_back(fs::path(path).lexically_relative(dir_).generic_string());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::span<const std::byte> ModelReader::raw(const TensorInfo& t) const {
  const auto it = files_.find(t.file);
  if (it == files_.end()) throw Error(t.file, t.name, "tensor does not belong to this model");
  const auto bytes = it->second->bytes();
  if (t.offset > bytes.size() || t.nbytes > bytes.size() - t.offset)
    throw Error(t.file, t.name, "tensor range lies outside the file");
  return bytes.subspan(static_cast<std::size_t>(t.offset), static_cast<std::size_t>(t.nbytes));
}

namespace {
void require_float_weight(const TensorInfo& t) {
  if (!is_float_weight_dtype(t.dtype))
    throw Error(t.file, t.name,
                "has dtype " + std::string(dtype_name(t.dtype)) +
                    ", which cannot be loaded as float weights (ramq reads F32, F16 and BF16, and F8_E4M3 or MXFP4 "
                    "with their block scales)");
}
}  // namespace

void ModelReader::require_float_weights() const {
  for (const auto& t : tensors_) require_float_weight(t);
}

namespace {
// Elements converted (or scanned) per piece; each piece records its first NaN/Inf and the lowest
// is reported, so the message does not depend on the thread count.
constexpr std::size_t kChunk = std::size_t{1} << 20;

[[noreturn]] void throw_non_finite(const TensorInfo& t, std::size_t element, bool nan) {
  std::string what = nan ? "NaN" : "Inf";
  if (t.encoding == SourceEncoding::F8Block && nan) what = "the F8_E4M3 NaN code";
  if (t.encoding == SourceEncoding::F8Block && !nan) what = "a value beyond F32 (code times block scale)";
  if (t.encoding == SourceEncoding::Mxfp4 && !nan) what = "a value beyond F32 (code times E8M0 scale)";
  throw Error(t.file, t.name, "contains " + what + " at element " + std::to_string(element));
}

// Index of the first non-finite value among n elements of dtype t at p (n if none); *nan says which.
std::size_t first_non_finite(DType t, const std::byte* p, std::size_t n, bool* nan) {
  const auto scan = [&](auto word, std::uint32_t exp_mask, std::uint32_t mant_mask) {
    using W = decltype(word);
    for (std::size_t i = 0; i < n; ++i) {
      W v;
      std::memcpy(&v, p + i * sizeof(W), sizeof(W));
      if ((v & exp_mask) == exp_mask) {
        *nan = (v & mant_mask) != 0;
        return i;
      }
    }
    return n;
  };
  switch (t) {
    case DType::F32: return scan(std::uint32_t{}, 0x7f800000u, 0x007fffffu);
    case DType::F16: return scan(std::uint16_t{}, 0x7c00u, 0x03ffu);
    case DType::BF16: return scan(std::uint16_t{}, 0x7f80u, 0x007fu);
    default: return n;
  }
}

std::size_t checked_elements(const TensorInfo& t, std::span<const std::byte> bytes) {
  const std::size_t n = static_cast<std::size_t>(t.numel());
  std::size_t want = n * dtype_size(t.dtype);
  if (t.encoding == SourceEncoding::F8Block) want = n;
  if (t.encoding == SourceEncoding::Mxfp4) want = n / 2;
  if (t.encoding == SourceEncoding::Transposed && n > 0) {  // the last column ends at its row `rows - 1`
    const auto rows = static_cast<std::size_t>(t.shape[0]), cols = static_cast<std::size_t>(t.shape[1]);
    want = ((cols - 1) * static_cast<std::size_t>(t.column_stride) + rows) * dtype_size(t.dtype);
  }
  if (bytes.size() != want || (t.encoding == SourceEncoding::Mxfp4 && n % 32 != 0))
    throw Error(t.file, t.name, "byte size does not match the shape");
  return n;
}

// Converts elements [first, first + out.size()) of a plain tensor's bytes, or decodes them.
void convert_range(const TensorInfo& t, std::span<const std::byte> bytes, const detail::EncodedView* view,
                   std::size_t first, std::span<float> out) {
  if (view) return view->decode(first, out);
  const std::size_t esize = dtype_size(t.dtype);
  convert_to_f32(t.dtype, bytes.subspan(first * esize, out.size() * esize), out);
}
}  // namespace

std::vector<float> ModelReader::load_f32(const TensorInfo& t, unsigned threads) const {
  require_float_weight(t);
  std::vector<float> out(checked_elements(t, raw(t)));
  load_f32_into(t, out, threads);
  return out;
}

void ModelReader::load_f32_into(const TensorInfo& t, std::span<float> out, unsigned threads) const {
  require_float_weight(t);
  const auto bytes = raw(t);
  const std::size_t n = checked_elements(t, bytes);
  if (out.size() != n) throw std::invalid_argument("load_f32_into: output size differs from the tensor's");
  const auto view = encoded_view(t, true);
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<std::size_t> bad(chunks, n);
  parallel_for(chunks, threads, [&](std::size_t k) {
    const std::size_t b = k * kChunk, len = std::min(kChunk, n - b);
    convert_range(t, bytes, view.get(), b, out.subspan(b, len));
    for (std::size_t i = b; i < b + len; ++i)
      if (!std::isfinite(out[i])) {
        bad[k] = i;
        break;
      }
  });
  const std::size_t first = chunks == 0 ? n : *std::min_element(bad.begin(), bad.end());
  if (first < n) throw_non_finite(t, first, std::isnan(out[first]));
}

std::vector<float> ModelReader::load_rows_f32(const TensorInfo& t, std::span<const std::int64_t> rows,
                                              std::int64_t cols) const {
  require_float_weight(t);
  const auto bytes = raw(t);
  const std::size_t n = checked_elements(t, bytes);
  if (cols <= 0 || n % static_cast<std::size_t>(cols) != 0)
    throw Error(t.file, t.name, "cannot be read as rows of " + std::to_string(cols) + " elements");
  const auto view = encoded_view(t, true);
  const auto ucols = static_cast<std::size_t>(cols);
  std::vector<float> out(rows.size() * ucols);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto r = static_cast<std::size_t>(rows[i]);
    if (rows[i] < 0 || r >= n / ucols) throw std::out_of_range("load_rows_f32: row index out of range");
    const std::span<float> dst(out.data() + i * ucols, ucols);
    convert_range(t, bytes, view.get(), r * ucols, dst);
    for (std::size_t j = 0; j < ucols; ++j)
      if (!std::isfinite(dst[j])) throw_non_finite(t, r * ucols + j, std::isnan(dst[j]));
  }
  return out;
}

void ModelReader::load_range_f32(const TensorInfo& t, std::size_t first, std::span<float> out) const {
  require_float_weight(t);
  const auto bytes = raw(t);
  const std::size_t n = checked_elements(t, bytes);
  if (first > n || out.size() > n - first) throw std::out_of_range("load_range_f32: range outside the tensor");
  convert_range(t, bytes, encoded_view(t, false).get(), first, out);
}

std::vector<std::byte> ModelReader::dtype_bytes(const TensorInfo& t) const {
  if (!t.encoded()) {
    const auto r = raw(t);
    return {r.begin(), r.end()};
  }
  const std::vector<float> v = load_f32(t);
  std::vector<std::byte> out(v.size() * dtype_size(t.dtype));
  convert_from_f32(t.dtype, v, out);
  return out;
}

void ModelReader::check_finite(const TensorInfo& t, unsigned threads) const {
  require_float_weight(t);
  const auto bytes = raw(t);
  const std::size_t n = checked_elements(t, bytes);
  const auto view = encoded_view(t, true);
  const std::size_t esize = dtype_size(t.dtype);
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<std::size_t> bad(chunks, n);
  std::vector<char> nan(chunks, 0);
  parallel_for(chunks, threads, [&](std::size_t k) {
    const std::size_t b = k * kChunk, len = std::min(kChunk, n - b);
    bool is_nan = false;
    std::size_t i = len;
    if (view) {  // encoded: decode the piece (codes hold no NaN/Inf bit pattern of their own)
      std::vector<float> piece(len);
      view->decode(b, piece);
      i = static_cast<std::size_t>(std::find_if(piece.begin(), piece.end(), [](float x) { return !std::isfinite(x); }) - piece.begin());
      is_nan = i < len && std::isnan(piece[i]);
    } else {
      i = first_non_finite(t.dtype, bytes.data() + b * esize, len, &is_nan);
    }
    if (i < len) bad[k] = b + i, nan[k] = is_nan;
  });
  for (std::size_t k = 0; k < chunks; ++k)
    if (bad[k] < n) throw_non_finite(t, bad[k], nan[k] != 0);
}

std::unique_ptr<detail::EncodedView> ModelReader::encoded_view(const TensorInfo& t, bool check_scales) const {
  if (!t.encoded()) return nullptr;
  return std::make_unique<detail::EncodedView>(t, raw(t), t.scales ? raw(*t.scales) : std::span<const std::byte>{},
                                               check_scales);
}

void ModelReader::prefetch(const TensorInfo& t) const {
  const auto it = files_.find(t.file);
  if (it != files_.end()) it->second->prefetch(t.offset, t.nbytes);
  if (t.scales) prefetch(*t.scales);
}

void ModelReader::release(const TensorInfo& t) const {
  if (t.scales) release(*t.scales);
  const auto it = files_.find(t.file);
  if (it == files_.end()) return;
  it->second->release(t.offset, t.nbytes);
}

}  // namespace ramq
