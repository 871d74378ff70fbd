// A QOpenGLWindow that hosts one Dear ImGui context and draws one canvas in it. It lives inside
// the Qt window through QWidget::createWindowContainer: a QOpenGLWidget would send the whole main
// window through GL composition (PLATFORM.md). Frames are drawn on demand: after input, and while
// the canvas asks for more (data arriving, an animation).
#pragma once

#include <QElapsedTimer>
#include <QImage>
#include <QOpenGLWindow>
#include <QTimer>

#include <functional>
#include <memory>
#include <vector>

struct ImGuiContext;

namespace mnemo::viz {
class Canvas;
}

namespace mnemo::gui {

class CanvasWindow : public QOpenGLWindow {
  Q_OBJECT
 public:
  explicit CanvasWindow(viz::Canvas* canvas);
  ~CanvasWindow() override;

  viz::Canvas* canvas() const { return canvas_; }
  // Called at the start of every frame, before the canvas draws (the host polls its sessions).
  void set_before_frame(std::function<void()> fn) { before_frame_ = std::move(fn); }
  void set_after_frame(std::function<void()> fn) { after_frame_ = std::move(fn); }
  // Renders frames until the canvas and `idle` agree that nothing is loading (or the timeout),
  // then returns the last frame. For screenshots and tests.
  QImage render_settled(const std::function<bool()>& idle, int timeout_ms = 20000);
  // Draws one frame and returns it, read back before the buffers swap (what grabFramebuffer reads
  // after a swap is undefined, and nothing while the window is not exposed yet). Null when no
  // frame could be drawn within the timeout (a hidden window).
  QImage render_frame(int timeout_ms = 5000);
  // Frame times (CPU, from the start of a frame to glFinish) since the last clear.
  const std::vector<double>& frame_ms() const { return frame_ms_; }
  void clear_frame_times() { frame_ms_.clear(); }
  void set_measure_frames(bool on) { measure_ = on; }
  // The ImGui context, for tests that inject input between frames.
  ImGuiContext* imgui() const { return ctx_; }

 signals:
  void frame_drawn();

 protected:
  void initializeGL() override;
  void paintGL() override;
  bool event(QEvent* e) override;

 private slots:
  void on_context_lost();

 private:
  void shutdown_backend();
  void ensure_context();
  void schedule();

  viz::Canvas* canvas_;
  ImGuiContext* ctx_ = nullptr;
  bool backend_ready_ = false;
  std::function<void()> before_frame_, after_frame_;
  QElapsedTimer clock_;
  QTimer again_;
  std::vector<int> deferred_key_releases_;
  std::vector<double> frame_ms_;
  bool measure_ = false;
  bool capture_next_ = false;
  QImage captured_;
};

}  // namespace mnemo::gui
