// 8-bit RGB/RGBA PNG files (zlib for the compression, our own chunk writer), and heatmaps: a
// float matrix drawn through a scale and a colormap, optionally upscaled and with a colour bar.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "mnemo/profiler/colormap.h"
#include "mnemo/profiler/scale.h"

namespace mnemo::profiler {

struct Image {
  uint32_t width = 0, height = 0;
  uint32_t channels = 3;        // 3 (RGB) or 4 (RGBA)
  std::vector<uint8_t> pixels;  // rows top to bottom, channels interleaved

  Image() = default;
  Image(uint32_t w, uint32_t h, uint32_t c);  // filled with zeros; throws UsageError on bad sizes
  uint8_t* at(uint32_t x, uint32_t y) { return pixels.data() + (std::size_t{y} * width + x) * channels; }
  const uint8_t* at(uint32_t x, uint32_t y) const { return pixels.data() + (std::size_t{y} * width + x) * channels; }
};

// The PNG file's bytes / the file itself. Throws UsageError for an empty or inconsistent image,
// Error when the file cannot be written.
std::vector<uint8_t> encode_png(const Image& image);
void write_png(const std::string& path, const Image& image);

struct HeatmapOptions {
  std::string colormap = "viridis";
  Scale scale;
  uint32_t upscale = 1;          // each cell becomes upscale × upscale pixels (nearest neighbour)
  bool colorbar = false;         // a vertical strip right of the map: top = 1, bottom = 0
  uint32_t colorbar_width = 12;  // pixels
  uint32_t colorbar_gap = 4;     // background pixels between the map and the strip
  Rgb8 background{255, 255, 255};
  Rgb8 bad{128, 128, 128};       // non-finite values
};

// The image of a rows × cols matrix (row-major). Its width is cols * upscale, plus gap and strip
// with a colour bar; its height rows * upscale. Strip row y of height H shows colormap entry
// floor((H - 1 - y) * 255 / (H - 1)): entry 255 at the top, entry 0 at the bottom.
// Throws UsageError for a size mismatch, an empty matrix, an unknown colormap or a zero upscale.
Image render_heatmap(std::span<const float> values, uint32_t rows, uint32_t cols, const HeatmapOptions& options = {});
void write_heatmap_png(const std::string& path, std::span<const float> values, uint32_t rows, uint32_t cols,
                       const HeatmapOptions& options = {});

}  // namespace mnemo::profiler
