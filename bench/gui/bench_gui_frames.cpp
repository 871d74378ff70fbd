// The app's frame times on a session, measured inside the real window (CanvasWindow's frame
// timer: from the start of a frame to glFinish, so llvmpipe's rasterisation is included):
//
//   open      from open_file() to the model overview's heads in view drawn with their thumbnails,
//             and to every thumbnail loaded
//   static    redrawing the attention map without input (the baseline of the same run)
//   zoom/pan  scripted wheel zooms about the pointer from the whole map down to single cells,
//             and drags across the map at several zooms, each event followed by one frame
//
//   bench_gui_frames SESSION [--layer L] [--head H] [--rounds N]   (prints one JSON line)
// Run it under Xvfb: bench/gui/bench_gui.py does.
#include <QApplication>
#include <QElapsedTimer>
#include <QMouseEvent>
#include <QStandardPaths>
#include <QTest>
#include <QWheelEvent>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "canvas_window.h"
#include "main_window.h"
#include "mnemo/viz/attention_explorer.h"
#include "mnemo/viz/model_overview.h"

using namespace mnemo;

namespace {

struct Stats {
  double p50 = 0, p90 = 0, p99 = 0, max = 0;
  size_t n = 0;
};

Stats stats(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))]; };
  s.p50 = at(0.5), s.p90 = at(0.9), s.p99 = at(0.99), s.max = v.back(), s.n = v.size();
  return s;
}

std::string json(const char* name, const Stats& s) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "\"%s\": {\"frames\": %zu, \"p50_ms\": %.2f, \"p90_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f}",
                name, s.n, s.p50, s.p90, s.p99, s.max);
  return buf;
}

// Draws one frame of `c` and waits for it.
void frame(gui::CanvasWindow* c) {
  bool drawn = false;
  auto conn = QObject::connect(c, &gui::CanvasWindow::frame_drawn, [&] { drawn = true; });
  c->update();
  QElapsedTimer t;
  t.start();
  while (!drawn && t.elapsed() < 5000) QCoreApplication::processEvents(QEventLoop::AllEvents, 1);
  QObject::disconnect(conn);
}

bool settle(gui::MainWindow& w, int timeout_ms) {
  QElapsedTimer t;
  t.start();
  while (t.elapsed() < timeout_ms) {
    gui::CanvasWindow* c = w.current_canvas_window();
    frame(c);
    if (w.workspace().settled() && !c->canvas()->wants_redraw()) return true;
  }
  return false;
}

void wheel(gui::CanvasWindow* c, QPointF at, int notches) {
  QWheelEvent e(at, c->mapToGlobal(at), QPoint(), QPoint(0, 120 * notches), Qt::NoButton, Qt::NoModifier, Qt::NoScrollPhase,
                false);
  QCoreApplication::sendEvent(c, &e);
}

void mouse(gui::CanvasWindow* c, QEvent::Type type, QPointF at, Qt::MouseButtons buttons) {
  QMouseEvent e(type, at, c->mapToGlobal(at), type == QEvent::MouseMove ? Qt::NoButton : Qt::LeftButton, buttons,
                Qt::NoModifier);
  QCoreApplication::sendEvent(c, &e);
}

}  // namespace

int main(int argc, char** argv) {
  QCoreApplication::setAttribute(Qt::AA_ShareOpenGLContexts);
  QApplication app(argc, argv);
  QApplication::setOrganizationName("Mnemoscope");
  QApplication::setApplicationName("mnemoscope-bench");
  QStandardPaths::setTestModeEnabled(true);
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_gui_frames SESSION [--layer L] [--head H] [--rounds N]\n");
    return 2;
  }
  const QString session = argv[1];
  int layer = 3, head = 2, rounds = 2;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--layer") layer = std::atoi(argv[i + 1]);
    else if (a == "--head") head = std::atoi(argv[i + 1]);
    else if (a == "--rounds") rounds = std::atoi(argv[i + 1]);
  }

  gui::MainWindow w;
  w.set_dialogs_enabled(false);
  w.resize(1500, 950);
  w.show();
  if (!QTest::qWaitForWindowExposed(&w)) return 1;

  // Open → overview with every thumbnail.
  const bool has_overview = w.view_ids().contains("overview");
  QElapsedTimer t;
  t.start();
  w.show_view(has_overview ? "overview" : "attention");
  w.open_file(session);
  // First the heads in view with their thumbnails (the grid fills from the top), then all of them.
  double in_view_ms = -1;
  if (has_overview) {
    auto* overview = static_cast<viz::ModelOverview*>(w.canvas_window("overview")->canvas());
    while (t.elapsed() < 60000) {
      frame(w.current_canvas_window());
      if (overview->metrics_loaded() && overview->drawn_thumbnails_loaded()) break;
    }
    in_view_ms = static_cast<double>(t.nsecsElapsed()) / 1e6;
  }
  if (!settle(w, 60000)) std::fprintf(stderr, "bench_gui_frames: the first view did not settle\n");
  const double open_ms = static_cast<double>(t.nsecsElapsed()) / 1e6;
  if (!w.last_error().isEmpty()) {
    std::fprintf(stderr, "bench_gui_frames: %s\n", w.last_error().toLocal8Bit().constData());
    return 1;
  }

  // The attention map of one head, fitted.
  w.show_view("attention");
  viz::ViewState& vs = w.workspace().primary();
  vs.layer = layer, vs.head = head;
  gui::CanvasWindow* c = w.canvas_window("attention");
  auto* x = static_cast<viz::AttentionExplorer*>(c->canvas());
  settle(w, 60000);
  c->set_measure_frames(true);

  c->clear_frame_times();
  for (int i = 0; i < 120; ++i) frame(c);
  const Stats still = stats(c->frame_ms());

  std::vector<double> zoom_ms, pan_ms;
  int loading_frames = 0, frames = 0;
  const QPointF centre(c->width() * 0.55, c->height() * 0.6);
  for (int round = 0; round < rounds; ++round) {
    x->fit();
    settle(w, 60000);
    // Zoom from the whole map to ~20 px per cell, one notch every second frame (the zoom eases).
    c->clear_frame_times();
    for (int i = 0; i < 2 * 30; ++i) {
      if (i % 2 == 0) wheel(c, centre, 1);
      frame(c);
      loading_frames += c->canvas()->wants_redraw(), ++frames;
    }
    zoom_ms.insert(zoom_ms.end(), c->frame_ms().begin(), c->frame_ms().end());
    // Pan at the deepest zoom, then at two coarser ones: drags of 12 px per frame.
    for (int depth = 0; depth < 3; ++depth) {
      c->clear_frame_times();
      QPointF p = centre;
      mouse(c, QEvent::MouseButtonPress, p, Qt::LeftButton);
      for (int i = 0; i < 90; ++i) {
        p += QPointF(i < 45 ? -12 : 8, i % 30 < 15 ? -6 : 6);
        mouse(c, QEvent::MouseMove, p, Qt::LeftButton);
        frame(c);
        loading_frames += c->canvas()->wants_redraw(), ++frames;
      }
      mouse(c, QEvent::MouseButtonRelease, p, Qt::NoButton);
      pan_ms.insert(pan_ms.end(), c->frame_ms().begin(), c->frame_ms().end());
      c->clear_frame_times();
      for (int i = 0; i < 8; ++i) {
        wheel(c, centre, -1);
        frame(c);
        frame(c);
        loading_frames += c->canvas()->wants_redraw(), ++frames;
      }
      zoom_ms.insert(zoom_ms.end(), c->frame_ms().begin(), c->frame_ms().end());
    }
  }
  std::vector<double> all = zoom_ms;
  all.insert(all.end(), pan_ms.begin(), pan_ms.end());
  const Stats interactive = stats(all);
  std::printf("{\"bench\": \"gui_frames\", \"session\": \"%s\", \"map_rows\": %lld, \"layer\": %d, \"head\": %d, "
              "\"open_to_heads_in_view_ms\": %.1f, \"open_to_%s_ms\": %.1f, %s, %s, %s, %s, \"interactive_p50_over_static_p50\": %.2f, "
              "\"frames_with_tiles_loading\": %d, \"interactive_frames\": %d}\n",
              session.toLocal8Bit().constData(), static_cast<long long>(x->map_rows()), layer, head, in_view_ms,
              has_overview ? "overview" : "attention", open_ms, json("static", still).c_str(),
              json("zoom", stats(zoom_ms)).c_str(), json("pan", stats(pan_ms)).c_str(), json("interactive", interactive).c_str(),
              still.p50 > 0 ? interactive.p50 / still.p50 : 0.0, loading_frames, frames);
  return 0;
}
