// How values become colours in the canvases: a perceptually uniform colormap (profiler/image)
// under a linear, log or rank scale. Rank uses the empirical distribution of a sample of the
// head's values (its overview tile), so tiles coloured at different times agree.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "mnemo/profiler/colormap.h"
#include "mnemo/profiler/scale.h"

namespace mnemo::viz {

class ColorScale {
 public:
  ColorScale();

  profiler::ScaleKind kind() const { return kind_; }
  const profiler::Colormap& colormap() const { return *map_; }
  float lo() const { return lo_; }
  float hi() const { return hi_; }
  float log_floor() const { return log_floor_; }
  // Changes bump version(), so whoever coloured pixels with an older version recolours them.
  uint64_t version() const { return version_; }

  void set_kind(profiler::ScaleKind k);
  void set_colormap(const profiler::Colormap& m);
  void set_range(float lo, float hi);  // linear and log; hi > lo
  void set_log_floor(float floor);     // > 0
  // A signed map (a recurrent layer's implicit attention mixes with negative weights): linear and
  // log scales become diverging, blue below 0, near-white at 0, red above, symmetric about 0 up
  // to max(|lo|, |hi|) (log: sign × log10 of the magnitude from the floor up). Rank is unchanged
  // (its sample orders signed values already).
  void set_signed(bool is_signed);
  bool is_signed() const { return signed_ && kind_ != profiler::ScaleKind::Rank; }
  // The values rank is taken against (finite ones kept, sorted); also sets the range to them.
  void set_sample(std::span<const float> values);
  bool has_sample() const { return !sample_.empty(); }

  // Position of v in [0, 1] under the scale; NaN for a non-finite v.
  float position(float v) const;
  uint32_t color(float v) const;  // RGBA8 packed for ImGui; non-finite values are dark grey
  void colorize(std::span<const float> values, std::span<uint32_t> out) const;
  // The value at position t in [0, 1] (inverse of position), for colour-bar labels.
  float value_at(float t) const;

  static const char* kind_name(profiler::ScaleKind k);

 private:
  profiler::ScaleKind kind_ = profiler::ScaleKind::Linear;
  const profiler::Colormap* map_;
  float lo_ = 0.f, hi_ = 1.f, log_floor_ = 1e-4f;
  bool signed_ = false;
  float signed_position(float v) const;  // in [0, 1], 0.5 at v = 0
  std::vector<float> sample_;  // sorted
  uint32_t lut_[profiler::Colormap::kSize];
  uint64_t version_ = 1;
};

// A diverging colour for signed quantities (differences, memory contents): t in [−1, 1] runs
// from blue (−1) through near-white (0) to red (+1), interpolated between ColorBrewer's RdBu
// stops; NaN gives dark grey.
uint32_t diverging_color(float t);

}  // namespace mnemo::viz
