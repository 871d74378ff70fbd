#include "mnemo/profiler/png.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "mnemo/core/error.h"

namespace mnemo::profiler {

namespace {

constexpr uint32_t kMaxSide = 0x7fffffffu;        // the PNG limit for width and height
constexpr std::size_t kMaxIdatChunk = 1u << 20;  // split the zlib stream into 1 MiB IDAT chunks

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

void put_chunk(std::vector<uint8_t>& out, const char type[4], const uint8_t* data, std::size_t size) {
  put_u32(out, static_cast<uint32_t>(size));
  const std::size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  if (size) out.insert(out.end(), data, data + size);
  const uLong crc = crc32(0L, out.data() + start, static_cast<uInt>(out.size() - start));
  put_u32(out, static_cast<uint32_t>(crc));
}

}  // namespace

Image::Image(uint32_t w, uint32_t h, uint32_t c) : width(w), height(h), channels(c) {
  if (w == 0 || h == 0 || w > kMaxSide || h > kMaxSide) {
    throw UsageError("image: " + std::to_string(w) + " x " + std::to_string(h) + " is not a valid size");
  }
  if (c != 3 && c != 4) throw UsageError("image: " + std::to_string(c) + " channels (3 or 4 supported)");
  pixels.assign(std::size_t{w} * h * c, 0);
}

std::vector<uint8_t> encode_png(const Image& image) {
  if (image.width == 0 || image.height == 0 || image.width > kMaxSide || image.height > kMaxSide ||
      (image.channels != 3 && image.channels != 4)) {
    throw UsageError("png: cannot encode a " + std::to_string(image.width) + " x " + std::to_string(image.height) +
                     " image with " + std::to_string(image.channels) + " channels");
  }
  const std::size_t row = std::size_t{image.width} * image.channels;
  if (image.pixels.size() != row * image.height) {
    throw UsageError("png: the image has " + std::to_string(image.pixels.size()) + " bytes of pixels, its size needs " +
                     std::to_string(row * image.height));
  }
  // Each scanline is preceded by its filter type; 0 (none) keeps the encoder simple, and deflate
  // still finds the repeats of upscaled heatmaps.
  std::vector<uint8_t> raw;
  raw.reserve((row + 1) * image.height);
  for (uint32_t y = 0; y < image.height; ++y) {
    raw.push_back(0);
    raw.insert(raw.end(), image.pixels.begin() + static_cast<std::ptrdiff_t>(row * y),
               image.pixels.begin() + static_cast<std::ptrdiff_t>(row * (y + 1)));
  }
  uLongf zsize = compressBound(static_cast<uLong>(raw.size()));
  std::vector<uint8_t> z(zsize);
  if (compress2(z.data(), &zsize, raw.data(), static_cast<uLong>(raw.size()), 6) != Z_OK) {
    throw Error("png: zlib compression failed");
  }
  z.resize(zsize);

  std::vector<uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<uint8_t> ihdr;
  put_u32(ihdr, image.width);
  put_u32(ihdr, image.height);
  ihdr.push_back(8);                               // bit depth
  ihdr.push_back(image.channels == 4 ? 6 : 2);     // colour type: RGBA or RGB
  ihdr.insert(ihdr.end(), {0, 0, 0});              // deflate, adaptive filtering, no interlace
  put_chunk(out, "IHDR", ihdr.data(), ihdr.size());
  for (std::size_t off = 0; off < z.size(); off += kMaxIdatChunk) {
    put_chunk(out, "IDAT", z.data() + off, std::min(kMaxIdatChunk, z.size() - off));
  }
  put_chunk(out, "IEND", nullptr, 0);
  return out;
}

void write_png(const std::string& path, const Image& image) {
  const std::vector<uint8_t> bytes = encode_png(image);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw Error(path + ": cannot open for writing: " + std::strerror(errno));
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) throw Error(path + ": write failed");
}

}  // namespace mnemo::profiler
