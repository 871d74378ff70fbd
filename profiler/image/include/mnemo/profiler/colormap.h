// Perceptually uniform colormaps (viridis, magma, inferno, plasma, cividis): 256-entry sRGB
// tables compiled in from assets/colormaps/*.csv, looked up as matplotlib does.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mnemo::profiler {

struct Rgb8 {
  uint8_t r = 0, g = 0, b = 0;
  friend bool operator==(const Rgb8&, const Rgb8&) = default;
};

struct RgbF {
  float r = 0, g = 0, b = 0;
};

class Colormap {
 public:
  static constexpr int kSize = 256;

  std::string_view name() const { return name_; }
  RgbF entry(int i) const;  // table entry i in [0, kSize), components in 0..1
  Rgb8 entry8(int i) const; // the same rounded to 8 bits (round half up)
  // Colour of t in [0, 1] (clamped; NaN gives entry 0): entry floor(t * 256), 1 gives entry 255.
  Rgb8 map(float t) const { return entry8(index(t)); }
  static int index(float t);

 private:
  friend const Colormap* find_colormap(std::string_view name);
  Colormap(std::string_view name, const float (*rgb)[3]) : name_(name), rgb_(rgb) {}
  std::string_view name_;
  const float (*rgb_)[3];
};

const Colormap* find_colormap(std::string_view name);  // nullptr for an unknown name
const Colormap& colormap(std::string_view name);       // throws UsageError listing the known names
std::vector<std::string_view> colormap_names();        // sorted

}  // namespace mnemo::profiler
