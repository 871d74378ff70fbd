// Helpers of the implicit-attention tests: a whole map assembled from tiles of a given size, and
// the error measure.
#pragma once

#include <algorithm>
#include <functional>
#include <vector>

#include "mnemo/profiler/session/implicit_attention.h"

namespace mnemo::testing {

using TileFn = std::function<void(const profiler::TileRange&, float*, int64_t)>;

// Rows [r0, r1) × columns [c0, c1) of a map computed tile by tile (tiles of `tile` cells, the last
// ones partial), into [r1−r0][c1−c0].
inline std::vector<float> map_from_tiles(const TileFn& fn, int64_t r0, int64_t r1, int64_t c0, int64_t c1, int64_t tile) {
  std::vector<float> map((r1 - r0) * (c1 - c0), -1.f);
  const int64_t ld = c1 - c0;
  for (int64_t a = r0; a < r1; a += tile)
    for (int64_t b = c0; b < c1; b += tile) {
      const profiler::TileRange t{a, std::min(r1, a + tile), b, std::min(c1, b + tile)};
      fn(t, map.data() + (a - r0) * ld + (b - c0), ld);
    }
  return map;
}

inline double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

}  // namespace mnemo::testing
