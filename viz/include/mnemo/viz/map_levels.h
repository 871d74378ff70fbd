// Pyramid levels of an attention map, as the canvases pick them: level L pools 2^L × 2^L cells,
// and the first level whose map fits one tile is the head's overview.
#pragma once

#include <cstdint>

#include "mnemo/profiler/session/attention_math.h"

namespace mnemo::viz {

using profiler::cells_at_level;

// The first level whose rows × cols map fits one kTileSize × kTileSize tile.
constexpr int fit_level_of(int64_t rows, int64_t cols) {
  int level = 0;
  while (cells_at_level(rows, level) > profiler::kTileSize || cells_at_level(cols, level) > profiler::kTileSize) ++level;
  return level;
}

}  // namespace mnemo::viz
