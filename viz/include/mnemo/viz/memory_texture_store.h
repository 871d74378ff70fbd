// A TextureStore that keeps pixels in memory: the headless host of the viz tests, and a way to
// read back exactly what a canvas uploaded.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "mnemo/viz/texture_store.h"

namespace mnemo::viz {

class MemoryTextureStore : public TextureStore {
 public:
  struct Image {
    int w = 0, h = 0;
    std::vector<uint32_t> rgba;
    uint32_t at(int x, int y) const { return rgba[static_cast<size_t>(y) * static_cast<size_t>(w) + static_cast<size_t>(x)]; }
  };
  ImTextureID create(int w, int h, std::span<const uint32_t> rgba) override;
  void update(ImTextureID id, int w, int h, std::span<const uint32_t> rgba) override;
  void destroy(ImTextureID id) override;
  const Image* find(ImTextureID id) const;
  size_t live() const { return images_.size(); }
  int64_t uploads() const { return uploads_; }

 private:
  std::map<uintptr_t, Image> images_;
  uintptr_t next_ = 1;
  int64_t uploads_ = 0;
};

}  // namespace mnemo::viz
