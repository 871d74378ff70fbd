#include "mnemo/profiler/colormap.h"

#include <algorithm>
#include <cmath>

#include "colormap_tables.h"
#include "mnemo/core/error.h"

namespace mnemo::profiler {

RgbF Colormap::entry(int i) const {
  const float* c = rgb_[std::clamp(i, 0, kSize - 1)];
  return {c[0], c[1], c[2]};
}

Rgb8 Colormap::entry8(int i) const {
  // float × 255 is exact in double, so "round half up" is the same everywhere (and in the tests).
  const auto to8 = [](float v) { return static_cast<uint8_t>(std::floor(static_cast<double>(v) * 255.0 + 0.5)); };
  const RgbF c = entry(i);
  return {to8(c.r), to8(c.g), to8(c.b)};
}

int Colormap::index(float t) {
  if (!(t > 0.0f)) return 0;  // also NaN
  if (t >= 1.0f) return kSize - 1;
  return std::min(static_cast<int>(t * kSize), kSize - 1);
}

const Colormap* find_colormap(std::string_view name) {
  static const std::vector<Colormap> maps = [] {
    std::vector<Colormap> v;
    for (std::size_t i = 0; i < detail::k_colormap_table_count; ++i) {
      v.push_back(Colormap(detail::k_colormap_tables[i].name, detail::k_colormap_tables[i].rgb));
    }
    return v;
  }();
  for (const Colormap& m : maps) {
    if (m.name() == name) return &m;
  }
  return nullptr;
}

const Colormap& colormap(std::string_view name) {
  if (const Colormap* m = find_colormap(name)) return *m;
  std::string known;
  for (std::string_view n : colormap_names()) known += (known.empty() ? "" : ", ") + std::string(n);
  throw UsageError("unknown colormap '" + std::string(name) + "' (known: " + known + ")");
}

std::vector<std::string_view> colormap_names() {
  std::vector<std::string_view> names;
  for (std::size_t i = 0; i < detail::k_colormap_table_count; ++i) names.emplace_back(detail::k_colormap_tables[i].name);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace mnemo::profiler
