// Where canvases put their pixels. The app implements it with OpenGL textures; tests and the
// headless screenshot path with images in memory. Canvases never call a graphics API themselves.
#pragma once

#include <cstdint>
#include <span>

#include <imgui.h>

namespace mnemo::viz {

// RGBA8 pixels, row-major, top row first (ImGui's UV (0, 0) is the top-left corner).
class TextureStore {
 public:
  virtual ~TextureStore() = default;
  // A new texture of w × h pixels (nearest-neighbour sampling: a cell is a sharp square).
  virtual ImTextureID create(int w, int h, std::span<const uint32_t> rgba) = 0;
  virtual void update(ImTextureID id, int w, int h, std::span<const uint32_t> rgba) = 0;
  virtual void destroy(ImTextureID id) = 0;
};

// Packs a colour as ImGui does (IM_COL32: R in the low byte).
constexpr uint32_t pack_rgba(uint8_t r, uint8_t g, uint8_t b, uint8_t a = 255) {
  return uint32_t{r} | uint32_t{g} << 8 | uint32_t{b} << 16 | uint32_t{a} << 24;
}

}  // namespace mnemo::viz
