#include "gl_texture_store.h"

#include <QOpenGLContext>
#include <QOpenGLFunctions>

namespace mnemo::gui {
namespace {

QOpenGLFunctions* gl() {
  QOpenGLContext* c = QOpenGLContext::currentContext();
  return c ? c->functions() : nullptr;
}

}  // namespace

GlTextureStore& shared_textures() {
  static GlTextureStore store;
  return store;
}

ImTextureID GlTextureStore::create(int w, int h, std::span<const uint32_t> rgba) {
  QOpenGLFunctions* f = gl();
  if (!f) return nullptr;
  collect();
  GLuint id = 0;
  f->glGenTextures(1, &id);
  f->glBindTexture(GL_TEXTURE_2D, id);
  // Nearest: one attention score is one sharp square at any zoom.
  f->glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
  f->glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
  f->glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
  f->glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
  f->glPixelStorei(GL_UNPACK_ALIGNMENT, 4);
  f->glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, w, h, 0, GL_RGBA, GL_UNSIGNED_BYTE, rgba.data());
  ++live_;
  return reinterpret_cast<ImTextureID>(static_cast<intptr_t>(id));
}

void GlTextureStore::update(ImTextureID id, int w, int h, std::span<const uint32_t> rgba) {
  QOpenGLFunctions* f = gl();
  if (!f || !id) return;
  f->glBindTexture(GL_TEXTURE_2D, static_cast<GLuint>(reinterpret_cast<intptr_t>(id)));
  f->glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, w, h, 0, GL_RGBA, GL_UNSIGNED_BYTE, rgba.data());
}

void GlTextureStore::destroy(ImTextureID id) {
  if (!id) return;
  doomed_.push_back(static_cast<unsigned>(reinterpret_cast<intptr_t>(id)));
  --live_;
  collect();
}

void GlTextureStore::collect() {
  QOpenGLFunctions* f = gl();
  if (!f || doomed_.empty()) return;
  f->glDeleteTextures(static_cast<GLsizei>(doomed_.size()), reinterpret_cast<const GLuint*>(doomed_.data()));
  doomed_.clear();
}

}  // namespace mnemo::gui
