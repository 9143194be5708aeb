// Test support: a small PNG reader (8-bit RGB/RGBA, non-interlaced: what Chromium's screenshots
// are), with zlib for the inflate step. Throws std::runtime_error on anything else.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace ramq::testkit {

struct PngImage {
  std::uint32_t width = 0, height = 0;
  int channels = 0;                 // 3 (RGB) or 4 (RGBA)
  std::vector<std::uint8_t> pixels;  // row-major, `channels` bytes per pixel
  std::uint32_t rgb(std::uint32_t x, std::uint32_t y) const {
    const std::size_t i = (static_cast<std::size_t>(y) * width + x) * static_cast<std::size_t>(channels);
    return (std::uint32_t{pixels[i]} << 16) | (std::uint32_t{pixels[i + 1]} << 8) | pixels[i + 2];
  }
};

inline std::uint32_t png_be32(const std::string& s, std::size_t p) {
  return (std::uint32_t{static_cast<std::uint8_t>(s[p])} << 24) | (std::uint32_t{static_cast<std::uint8_t>(s[p + 1])} << 16) |
         (std::uint32_t{static_cast<std::uint8_t>(s[p + 2])} << 8) | std::uint32_t{static_cast<std::uint8_t>(s[p + 3])};
}

// Width and height from the IHDR chunk (checks the signature).
inline std::pair<std::uint32_t, std::uint32_t> png_size(const std::string& file) {
  static const std::string sig("\x89PNG\r\n\x1a\n", 8);
  if (file.size() < 33 || file.compare(0, 8, sig) != 0 || file.compare(12, 4, "IHDR") != 0)
    throw std::runtime_error("not a PNG file (signature or IHDR missing)");
  return {png_be32(file, 16), png_be32(file, 20)};
}

inline PngImage decode_png(const std::string& file) {
  PngImage img;
  std::tie(img.width, img.height) = png_size(file);
  const auto depth = static_cast<std::uint8_t>(file[24]), colour = static_cast<std::uint8_t>(file[25]);
  const auto interlace = static_cast<std::uint8_t>(file[28]);
  if (depth != 8 || (colour != 2 && colour != 6) || interlace != 0)
    throw std::runtime_error("unsupported PNG (depth " + std::to_string(depth) + ", colour type " + std::to_string(colour) + ")");
  img.channels = colour == 6 ? 4 : 3;
  std::string idat;
  for (std::size_t p = 8; p + 12 <= file.size();) {
    const std::uint32_t len = png_be32(file, p);
    if (p + 12 + len > file.size()) throw std::runtime_error("truncated PNG chunk");
    const std::string type = file.substr(p + 4, 4);
    if (type == "IDAT") idat += file.substr(p + 8, len);
    if (type == "IEND") break;
    p += 12 + len;
  }
  const std::size_t stride = static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.channels);
  std::vector<std::uint8_t> raw((stride + 1) * img.height);
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) throw std::runtime_error("inflateInit failed");
  zs.next_in = reinterpret_cast<Bytef*>(idat.data());
  zs.avail_in = static_cast<uInt>(idat.size());
  zs.next_out = raw.data();
  zs.avail_out = static_cast<uInt>(raw.size());
  const int rc = inflate(&zs, Z_FINISH);
  inflateEnd(&zs);
  if (rc != Z_STREAM_END || zs.avail_out != 0) throw std::runtime_error("PNG image data does not inflate to its size");
  // Undo the per-row filters (PNG spec section 9).
  img.pixels.assign(stride * img.height, 0);
  const std::size_t bpp = static_cast<std::size_t>(img.channels);
  for (std::uint32_t y = 0; y < img.height; ++y) {
    const std::uint8_t filter = raw[y * (stride + 1)];
    const std::uint8_t* in = &raw[y * (stride + 1) + 1];
    std::uint8_t* out = &img.pixels[y * stride];
    const std::uint8_t* up = y > 0 ? &img.pixels[(y - 1) * stride] : nullptr;
    for (std::size_t i = 0; i < stride; ++i) {
      const int a = i >= bpp ? out[i - bpp] : 0, b = up ? up[i] : 0, c = (up && i >= bpp) ? up[i - bpp] : 0;
      int pred = 0;
      switch (filter) {
        case 0: pred = 0; break;
        case 1: pred = a; break;
        case 2: pred = b; break;
        case 3: pred = (a + b) / 2; break;
        case 4: {
          const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          pred = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c);
          break;
        }
        default: throw std::runtime_error("bad PNG filter type " + std::to_string(filter));
      }
      out[i] = static_cast<std::uint8_t>((in[i] + pred) & 0xFF);
    }
  }
  return img;
}

}  // namespace ramq::testkit
