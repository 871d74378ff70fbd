#include "mnemo/viz/memory_texture_store.h"

namespace mnemo::viz {

ImTextureID MemoryTextureStore::create(int w, int h, std::span<const uint32_t> rgba) {
  const uintptr_t id = next_++;
  images_[id] = Image{w, h, std::vector<uint32_t>(rgba.begin(), rgba.end())};
  ++uploads_;
  return reinterpret_cast<ImTextureID>(id);
}

void MemoryTextureStore::update(ImTextureID id, int w, int h, std::span<const uint32_t> rgba) {
  auto it = images_.find(reinterpret_cast<uintptr_t>(id));
  if (it == images_.end()) return;
  it->second = Image{w, h, std::vector<uint32_t>(rgba.begin(), rgba.end())};
  ++uploads_;
}

void MemoryTextureStore::destroy(ImTextureID id) { images_.erase(reinterpret_cast<uintptr_t>(id)); }

const MemoryTextureStore::Image* MemoryTextureStore::find(ImTextureID id) const {
  auto it = images_.find(reinterpret_cast<uintptr_t>(id));
  return it == images_.end() ? nullptr : &it->second;
}

}  // namespace mnemo::viz
