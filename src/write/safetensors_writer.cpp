#include "ramq/safetensors_writer.h"

#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "ramq/error.h"

namespace ramq {

std::uint64_t OutTensorSpec::nbytes() const {
  std::uint64_t n = dtype_size(dtype);
  for (const std::int64_t d : shape) {
    if (d < 0) throw std::invalid_argument("OutTensorSpec: negative dimension in '" + name + "'");
    const auto ud = static_cast<std::uint64_t>(d);
    if (ud != 0 && n > std::numeric_limits<std::uint64_t>::max() / ud)
      throw std::invalid_argument("OutTensorSpec: size overflow in '" + name + "'");
    n *= ud;
  }
  return n;
}

std::vector<std::byte> safetensors_header_bytes(const std::vector<OutTensorSpec>& tensors,
                                               const std::map<std::string, std::string>& metadata) {
  nlohmann::json j = nlohmann::json::object();
  if (!metadata.empty()) j["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__")
      throw std::invalid_argument("safetensors: invalid tensor name '" + t.name + "'");
    if (j.contains(t.name)) throw std::invalid_argument("safetensors: duplicate tensor name '" + t.name + "'");
    const std::uint64_t end = offset + t.nbytes();
    j[t.name] = {{"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text = j.dump();
  const std::size_t padded = (text.size() + 7) / 8 * 8;
  text.append(padded - text.size(), ' ');
  std::vector<std::byte> out(8 + text.size());
  const auto len = static_cast<std::uint64_t>(text.size());
  for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<std::byte>((len >> (8 * i)) & 0xffu);
  std::memcpy(out.data() + 8, text.data(), text.size());
  return out;
}

SafetensorsStreamWriter::SafetensorsStreamWriter(const std::filesystem::path& path, std::vector<OutTensorSpec> tensors,
                                                 const std::map<std::string, std::string>& metadata)
    : path_(path), tensors_(std::move(tensors)) {
  std::vector<std::byte> header;
  try {
    header = safetensors_header_bytes(tensors_, metadata);
  } catch (const std::invalid_argument& e) {
    throw Error(path_.string(), "", e.what());
  }
  out_.open(path_, std::ios::binary | std::ios::trunc);
  if (!out_) throw Error(path_.string(), "", std::string("cannot create file: ") + std::strerror(errno));
  out_.write(reinterpret_cast<const char*>(header.data()), static_cast<std::streamsize>(header.size()));
  if (!out_) throw Error(path_.string(), "", "write failed (disk full?)");
  file_bytes_ = header.size();
}

void SafetensorsStreamWriter::write_next(const std::string& name, std::span<const std::byte> data) {
  if (next_ >= tensors_.size()) throw Error(path_.string(), name, "more tensors written than declared in the header");
  const OutTensorSpec& spec = tensors_[next_];
  if (name != spec.name)
    throw Error(path_.string(), name, "written out of order (expected '" + spec.name + "')");
  if (data.size() != spec.nbytes())
    throw Error(path_.string(), name,
                "data size " + std::to_string(data.size()) + " does not match the declared " +
                    std::to_string(spec.nbytes()) + " bytes");
  out_.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!out_) throw Error(path_.string(), name, "write failed (disk full?)");
  file_bytes_ += data.size();
  ++next_;
}

void SafetensorsStreamWriter::finish() {
  if (next_ != tensors_.size())
    throw Error(path_.string(), tensors_[next_].name,
                "not written (" + std::to_string(tensors_.size() - next_) + " tensors missing)");
  out_.flush();
  if (!out_) throw Error(path_.string(), "", "write failed (disk full?)");
  out_.close();
  if (out_.fail()) throw Error(path_.string(), "", "write failed when closing the file (disk full?)");
}

}  // namespace ramq
