#include "canvas_window.h"

#include <QGuiApplication>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QOpenGLContext>
#include <QOpenGLFunctions>
#include <QThread>
#include <QWheelEvent>

#include <filesystem>

#include <imgui.h>
#include <backends/imgui_impl_opengl3.h>

#include "gl_texture_store.h"
#include "mnemo/viz/canvas.h"

namespace mnemo::gui {
namespace {

// Qt's special keys are 0x01000000 + n: folded above the 256 printable codes so they fit
// ImGui 1.86's KeysDown[512].
int key_index(int qt_key) {
  if (qt_key >= 0x01000000) return 256 + ((qt_key - 0x01000000) & 0xff);
  return qt_key & 0xff;
}

void load_fonts(ImGuiIO& io) {
  static const ImWchar ranges[] = {
      0x0020, 0x00FF,  // Latin-1
      0x0100, 0x017F,  // Latin Extended-A
      0x0370, 0x03FF,  // Greek (µ, σ)
      0x2010, 0x205E,  // punctuation: – — … ·
      0x2190, 0x21FF,  // arrows
      0x2200, 0x22FF,  // mathematical operators: × ≤ ≥
      0x25A0, 0x25FF,  // geometric shapes
      0,
  };
  const char* candidates[] = {"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"};
  for (const char* path : candidates)
    if (std::filesystem::exists(path) && io.Fonts->AddFontFromFileTTF(path, 15.f, nullptr, ranges)) return;
  io.Fonts->AddFontDefault();  // ImGui's own: ASCII only, but always there
}

}  // namespace

CanvasWindow::CanvasWindow(viz::Canvas* canvas) : QOpenGLWindow(NoPartialUpdate), canvas_(canvas) {
  again_.setSingleShot(true);
  connect(&again_, &QTimer::timeout, this, [this] { update(); });
  clock_.start();
  ensure_context();
}

CanvasWindow::~CanvasWindow() {
  makeCurrent();
  shutdown_backend();
  if (ctx_) ImGui::DestroyContext(ctx_);
  doneCurrent();
}

void CanvasWindow::ensure_context() {
  if (ctx_) return;
  IMGUI_CHECKVERSION();
  ctx_ = ImGui::CreateContext();
  ImGui::SetCurrentContext(ctx_);
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;  // layout lives in QSettings, not in a stray imgui.ini
  io.ConfigFlags |= ImGuiConfigFlags_NavEnableKeyboard;
  const int keys[][2] = {{ImGuiKey_Tab, Qt::Key_Tab},         {ImGuiKey_LeftArrow, Qt::Key_Left},
                         {ImGuiKey_RightArrow, Qt::Key_Right}, {ImGuiKey_UpArrow, Qt::Key_Up},
                         {ImGuiKey_DownArrow, Qt::Key_Down},   {ImGuiKey_PageUp, Qt::Key_PageUp},
                         {ImGuiKey_PageDown, Qt::Key_PageDown}, {ImGuiKey_Home, Qt::Key_Home},
                         {ImGuiKey_End, Qt::Key_End},           {ImGuiKey_Insert, Qt::Key_Insert},
                         {ImGuiKey_Delete, Qt::Key_Delete},     {ImGuiKey_Backspace, Qt::Key_Backspace},
                         {ImGuiKey_Space, Qt::Key_Space},       {ImGuiKey_Enter, Qt::Key_Return},
                         {ImGuiKey_Escape, Qt::Key_Escape},     {ImGuiKey_KeyPadEnter, Qt::Key_Enter},
                         {ImGuiKey_A, Qt::Key_A},               {ImGuiKey_C, Qt::Key_C},
                         {ImGuiKey_V, Qt::Key_V},               {ImGuiKey_X, Qt::Key_X},
                         {ImGuiKey_Y, Qt::Key_Y},               {ImGuiKey_Z, Qt::Key_Z}};
  for (const auto& k : keys) io.KeyMap[k[0]] = key_index(k[1]);
  load_fonts(io);
  ImGui::StyleColorsDark();
  ImGui::GetStyle().WindowRounding = 0.f;
}

void CanvasWindow::initializeGL() {
  // Qt calls this again when the window is re-parented (a dock floats); the old GL context is gone.
  ImGui::SetCurrentContext(ctx_);
  shutdown_backend();
  ImGui_ImplOpenGL3_Init("#version 130");
  backend_ready_ = true;
  connect(context(), &QOpenGLContext::aboutToBeDestroyed, this, &CanvasWindow::on_context_lost, Qt::UniqueConnection);
}

void CanvasWindow::on_context_lost() {
  makeCurrent();
  shutdown_backend();
  doneCurrent();
}

void CanvasWindow::shutdown_backend() {
  if (!backend_ready_) return;
  ImGui::SetCurrentContext(ctx_);
  ImGui_ImplOpenGL3_Shutdown();
  backend_ready_ = false;
}

void CanvasWindow::schedule() {
  if (!again_.isActive()) again_.start(15);
}

void CanvasWindow::paintGL() {
  QElapsedTimer frame;
  frame.start();
  ImGui::SetCurrentContext(ctx_);
  shared_textures().collect();
  if (before_frame_) before_frame_();
  ImGuiIO& io = ImGui::GetIO();
  const qreal dpr = devicePixelRatio();
  io.DisplaySize = ImVec2(static_cast<float>(width()), static_cast<float>(height()));
  io.DisplayFramebufferScale = ImVec2(static_cast<float>(dpr), static_cast<float>(dpr));
  io.DeltaTime = std::max(1e-4f, static_cast<float>(clock_.restart()) / 1000.f);

  ImGui_ImplOpenGL3_NewFrame();
  ImGui::NewFrame();
  // A key pressed and released between two frames must be seen down for one frame (ImGui 1.86
  // has no input queue): releases wait until after NewFrame.
  for (int k : deferred_key_releases_) io.KeysDown[k] = false;
  deferred_key_releases_.clear();

  ImGui::SetNextWindowPos(ImVec2(0, 0));
  ImGui::SetNextWindowSize(io.DisplaySize);
  ImGui::Begin(canvas_->id(), nullptr,
               ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoSavedSettings |
                   ImGuiWindowFlags_NoBringToFrontOnFocus | ImGuiWindowFlags_NoScrollWithMouse);
  canvas_->draw();
  ImGui::End();
  ImGui::Render();
  if (after_frame_) after_frame_();

  QOpenGLFunctions* f = context()->functions();
  f->glViewport(0, 0, static_cast<int>(width() * dpr), static_cast<int>(height() * dpr));
  f->glClearColor(0.1f, 0.1f, 0.11f, 1.f);
  f->glClear(GL_COLOR_BUFFER_BIT);
  ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
  if (capture_next_) {
    capture_next_ = false;
    const int w = static_cast<int>(width() * dpr), h = static_cast<int>(height() * dpr);
    QImage rows(w, h, QImage::Format_RGBA8888);
    f->glReadPixels(0, 0, w, h, GL_RGBA, GL_UNSIGNED_BYTE, rows.bits());
    captured_ = rows.mirrored().convertToFormat(QImage::Format_RGB32);  // GL's rows run bottom-up
    captured_.setDevicePixelRatio(dpr);
  }
  if (measure_) {
    f->glFinish();
    frame_ms_.push_back(static_cast<double>(frame.nsecsElapsed()) / 1e6);
  }
  emit frame_drawn();
  if (canvas_->wants_redraw() || io.WantTextInput) schedule();
}

bool CanvasWindow::event(QEvent* e) {
  if (!ctx_) return QOpenGLWindow::event(e);
  ImGui::SetCurrentContext(ctx_);
  ImGuiIO& io = ImGui::GetIO();
  auto mods = [&](Qt::KeyboardModifiers m) {
    io.KeyCtrl = m & Qt::ControlModifier, io.KeyShift = m & Qt::ShiftModifier, io.KeyAlt = m & Qt::AltModifier;
  };
  switch (e->type()) {
    case QEvent::MouseMove: {
      auto* m = static_cast<QMouseEvent*>(e);
      io.MousePos = ImVec2(static_cast<float>(m->position().x()), static_cast<float>(m->position().y()));
      update();
      return true;
    }
    case QEvent::MouseButtonPress:
    case QEvent::MouseButtonDblClick:
    case QEvent::MouseButtonRelease: {
      auto* m = static_cast<QMouseEvent*>(e);
      io.MousePos = ImVec2(static_cast<float>(m->position().x()), static_cast<float>(m->position().y()));
      const bool down = e->type() != QEvent::MouseButtonRelease;
      const int b = m->button() == Qt::LeftButton ? 0 : m->button() == Qt::RightButton ? 1 : m->button() == Qt::MiddleButton ? 2 : -1;
      if (b >= 0) io.MouseDown[b] = down;
      mods(m->modifiers());
      update();
      return true;
    }
    case QEvent::Wheel: {
      auto* w = static_cast<QWheelEvent*>(e);
      io.MouseWheel += static_cast<float>(w->angleDelta().y()) / 120.f;
      io.MouseWheelH += static_cast<float>(w->angleDelta().x()) / 120.f;
      io.MousePos = ImVec2(static_cast<float>(w->position().x()), static_cast<float>(w->position().y()));
      update();
      return true;
    }
    case QEvent::Leave:
      io.MousePos = ImVec2(-FLT_MAX, -FLT_MAX);
      update();
      return QOpenGLWindow::event(e);
    case QEvent::KeyPress:
    case QEvent::KeyRelease: {
      auto* k = static_cast<QKeyEvent*>(e);
      const int idx = key_index(k->key());
      mods(k->modifiers());
      if (e->type() == QEvent::KeyPress) {
        io.KeysDown[idx] = true;
        if (!k->text().isEmpty() && k->text().at(0).isPrint()) io.AddInputCharactersUTF8(k->text().toUtf8().constData());
      } else if (!k->isAutoRepeat()) {
        deferred_key_releases_.push_back(idx);
      }
      update();
      return true;
    }
    case QEvent::FocusOut:
      for (bool& d : io.KeysDown) d = false;
      io.KeyCtrl = io.KeyShift = io.KeyAlt = false;
      return QOpenGLWindow::event(e);
    default:
      return QOpenGLWindow::event(e);
  }
}

QImage CanvasWindow::render_frame(int timeout_ms) {
  QElapsedTimer t;
  t.start();
  bool drawn = false;
  const auto conn = connect(this, &CanvasWindow::frame_drawn, this, [&] { drawn = true; });
  captured_ = QImage();
  capture_next_ = true;
  // A window just shown (a tab switched to) is exposed a few events later; it draws once it is.
  while (!drawn && t.elapsed() < timeout_ms) {
    if (isExposed()) update();
    QCoreApplication::processEvents(QEventLoop::AllEvents, 5);
    if (!drawn) QThread::msleep(1);
  }
  disconnect(conn);
  capture_next_ = false;
  return captured_;
}

QImage CanvasWindow::render_settled(const std::function<bool()>& idle, int timeout_ms) {
  QElapsedTimer t;
  t.start();
  QImage last;
  int calm = 0;
  // Settled = three frames in a row with nothing loading: tiles requested in one frame arrive,
  // are uploaded in the next, and the one after draws them.
  while (t.elapsed() < timeout_ms) {
    last = render_frame(static_cast<int>(std::max<qint64>(1, timeout_ms - t.elapsed())));
    if (last.isNull()) break;  // never exposed: nothing will draw
    QCoreApplication::processEvents(QEventLoop::AllEvents, 5);
    const bool busy = canvas_->wants_redraw() || (idle && !idle());
    calm = busy ? 0 : calm + 1;
    if (calm >= 3) break;
    if (busy) QThread::msleep(5);
  }
  return last;
}

}  // namespace mnemo::gui
