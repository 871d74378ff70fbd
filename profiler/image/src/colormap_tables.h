// The colormap tables embedded at build time (embed_colormaps.cmake writes their definition).
#pragma once

#include <cstddef>

namespace mnemo::profiler::detail {

struct ColormapTable {
  const char* name;
  const float (*rgb)[3];  // 256 sRGB entries, components in 0..1
};

extern const ColormapTable k_colormap_tables[];
extern const std::size_t k_colormap_table_count;

}  // namespace mnemo::profiler::detail
