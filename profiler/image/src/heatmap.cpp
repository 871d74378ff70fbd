#include <cmath>

#include "mnemo/core/error.h"
#include "mnemo/profiler/png.h"

namespace mnemo::profiler {

namespace {

void put(Image& img, uint32_t x, uint32_t y, Rgb8 c) {
  uint8_t* p = img.at(x, y);
  p[0] = c.r;
  p[1] = c.g;
  p[2] = c.b;
}

}  // namespace

Image render_heatmap(std::span<const float> values, uint32_t rows, uint32_t cols, const HeatmapOptions& options) {
  if (rows == 0 || cols == 0) throw UsageError("heatmap: an empty matrix (" + std::to_string(rows) + " x " + std::to_string(cols) + ")");
  if (values.size() != std::size_t{rows} * cols) {
    throw UsageError("heatmap: " + std::to_string(values.size()) + " values for a " + std::to_string(rows) + " x " +
                     std::to_string(cols) + " matrix");
  }
  if (options.upscale == 0) throw UsageError("heatmap: the upscale factor must be at least 1");
  if (options.colorbar && options.colorbar_width == 0) throw UsageError("heatmap: a colour bar needs a width");
  const Colormap& cmap = colormap(options.colormap);
  const uint64_t map_w = uint64_t{cols} * options.upscale;
  const uint64_t h = uint64_t{rows} * options.upscale;
  const uint64_t w = map_w + (options.colorbar ? uint64_t{options.colorbar_gap} + options.colorbar_width : 0);
  if (w > 0x7fffffffu || h > 0x7fffffffu || w * h > (uint64_t{1} << 28)) {
    throw UsageError("heatmap: a " + std::to_string(w) + " x " + std::to_string(h) + " image is too large");
  }
  Image img(static_cast<uint32_t>(w), static_cast<uint32_t>(h), 3);
  for (uint32_t y = 0; y < h; ++y) {
    for (uint32_t x = static_cast<uint32_t>(map_w); x < w; ++x) put(img, x, y, options.background);
  }

  const std::vector<float> t = normalize(values, options.scale);
  const uint32_t s = options.upscale;
  for (uint32_t r = 0; r < rows; ++r) {
    for (uint32_t c = 0; c < cols; ++c) {
      const float v = t[std::size_t{r} * cols + c];
      const Rgb8 colour = std::isnan(v) ? options.bad : cmap.map(v);
      for (uint32_t dy = 0; dy < s; ++dy) {
        for (uint32_t dx = 0; dx < s; ++dx) put(img, c * s + dx, r * s + dy, colour);
      }
    }
  }
  if (options.colorbar) {
    const uint32_t x0 = static_cast<uint32_t>(map_w) + options.colorbar_gap;
    for (uint32_t y = 0; y < h; ++y) {
      const uint64_t index = h > 1 ? (h - 1 - y) * (Colormap::kSize - 1) / (h - 1) : Colormap::kSize - 1;
      const Rgb8 colour = cmap.entry8(static_cast<int>(index));
      for (uint32_t x = x0; x < w; ++x) put(img, x, y, colour);
    }
  }
  return img;
}

void write_heatmap_png(const std::string& path, std::span<const float> values, uint32_t rows, uint32_t cols,
                       const HeatmapOptions& options) {
  write_png(path, render_heatmap(values, rows, cols, options));
}

}  // namespace mnemo::profiler
