// TextureStore on OpenGL. The app shares one GL namespace between all its canvas windows
// (Qt::AA_ShareOpenGLContexts), so a texture created while one canvas paints can be drawn by
// another. Textures freed while no context is current are deleted at the next paint.
#pragma once

#include <vector>

#include "mnemo/viz/texture_store.h"

namespace mnemo::gui {

class GlTextureStore : public viz::TextureStore {
 public:
  ImTextureID create(int w, int h, std::span<const uint32_t> rgba) override;
  void update(ImTextureID id, int w, int h, std::span<const uint32_t> rgba) override;
  void destroy(ImTextureID id) override;
  // Deletes what destroy() deferred; call with a context current.
  void collect();
  int64_t live() const { return live_; }

 private:
  std::vector<unsigned> doomed_;
  int64_t live_ = 0;
};

GlTextureStore& shared_textures();

}  // namespace mnemo::gui
