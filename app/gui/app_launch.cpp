#include "app_launch.h"

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QImage>
#include <QStandardPaths>
#include <QThread>

#include <algorithm>
#include <cstdio>

#include "canvas_window.h"
#include "main_window.h"
#include "mnemo/viz/compare.h"
#include "mnemo/viz/demo_session.h"

namespace mnemo::gui {
namespace {

const char* kViews = "attention|overview|tokens|memory|kv|timeline|compare";

bool to_int(const QString& s, int64_t& out) {
  bool ok = false;
  out = s.toLongLong(&ok);
  return ok;
}

void fail(const QString& why) { std::fprintf(stderr, "mnemoscope: %s\n", why.toLocal8Bit().constData()); }

}  // namespace

QString launch_usage() {
  return QString(
             "usage: mnemoscope [FILE ...] [--view %1] [--run R] [--layer L] [--head H] [--step S]\n"
             "                  [--sides R,R,...] [--size WxH] [--screenshot OUT.png] [--demo]\n\n"
             "Opens session files (.mnemo) at a view. With --screenshot, renders the view once its data has\n"
             "loaded, writes the PNG and exits (non-zero, with the reason on stderr, when a file cannot be\n"
             "opened). --sides lists the runs of the first file that the compare view shows side by side\n"
             "(two or more). --size sets the window's size in pixels (640x480 to 7680x4320; the default is\n"
             "1500x950). --demo adds a synthetic session that has every kind of data.\n")
      .arg(kViews);
}

bool parse_launch(const QStringList& args, LaunchOptions& out, QString& problem) {
  for (int i = 1; i < args.size(); ++i) {
    const QString& a = args[i];
    auto value = [&](QString& v) {
      if (i + 1 >= args.size()) {
        problem = a + " needs a value";
        return false;
      }
      v = args[++i];
      return true;
    };
    auto number = [&](auto& slot, int64_t lo) {
      QString v;
      int64_t n = 0;
      if (!value(v)) return false;
      if (!to_int(v, n) || n < lo) {
        problem = a + " expects an integer >= " + QString::number(lo) + ", got '" + v + "'";
        return false;
      }
      slot = static_cast<std::remove_reference_t<decltype(*slot)>>(n);
      return true;
    };
    if (a == "-h" || a == "--help") out.help = true;
    else if (a == "--demo") out.demo = true;
    else if (a == "--view") {
      if (!value(out.view)) return false;
      if (!QString(kViews).split('|').contains(out.view)) {
        problem = "unknown view '" + out.view + "' (one of " + QString(kViews).replace('|', ", ") + ")";
        return false;
      }
    } else if (a == "--screenshot") {
      if (!value(out.screenshot)) return false;
    } else if (a == "--run") {
      if (!number(out.run, 1)) return false;
    } else if (a == "--sides") {
      QString v;
      if (!value(v)) return false;
      out.sides.clear();
      for (const QString& part : v.split(',')) {
        int64_t n = 0;
        if (!to_int(part, n) || n < 1) {
          problem = "--sides expects run numbers separated by commas, got '" + v + "'";
          return false;
        }
        out.sides.push_back(n);
      }
      if (out.sides.size() < 2) {
        problem = "--sides needs two or more runs, got '" + v + "'";
        return false;
      }
    } else if (a == "--size") {
      QString v;
      if (!value(v)) return false;
      const QStringList wh = v.toLower().split('x');
      int64_t w = 0, h = 0;
      if (wh.size() != 2 || !to_int(wh[0], w) || !to_int(wh[1], h) || w < 640 || h < 480 || w > 7680 || h > 4320) {
        problem = "--size expects WIDTHxHEIGHT in pixels, 640x480 to 7680x4320, got '" + v + "'";
        return false;
      }
      out.size = std::make_pair(static_cast<int>(w), static_cast<int>(h));
    } else if (a == "--layer") {
      if (!number(out.layer, 0)) return false;
    } else if (a == "--head") {
      if (!number(out.head, 0)) return false;
    } else if (a == "--step") {
      if (!number(out.step, 0)) return false;
    } else if (a.startsWith("-") && a.size() > 1) {
      problem = "unknown option " + a + " (see --help)";
      return false;
    } else {
      out.files << a;
    }
  }
  return true;
}

int launch(MainWindow& window, const LaunchOptions& o) {
  const bool headless = !o.screenshot.isEmpty();
  if (o.size) {
    // The window was shown at its default size, and the X server's answer to that request can
    // arrive after this one and size the window back: ask until the size has held for 250 ms.
    const QSize want(o.size->first, o.size->second);
    QElapsedTimer waited, held;
    waited.start();
    held.start();
    while (waited.elapsed() < 3000 && !(window.size() == want && held.elapsed() >= 250)) {
      if (window.size() != want) {
        window.resize(want);
        held.restart();
      }
      QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
      QThread::msleep(5);
    }
    if (window.size() != want)
      fail("the window is " + QString::number(window.width()) + "x" + QString::number(window.height()) + ", not " +
           QString::number(want.width()) + "x" + QString::number(want.height()) + " (--size): the screen may be smaller");
  }
  QStringList files = o.files;
  if (o.demo) {
    const QString dir = QStandardPaths::writableLocation(QStandardPaths::TempLocation) + "/mnemoscope-demo-" +
                        QString::number(QCoreApplication::applicationPid());
    QDir().mkpath(dir);
    const QString path = dir + "/demo.mnemo";
    try {
      viz::write_demo_session(path.toStdString());
    } catch (const std::exception& e) {
      fail(QString("cannot write the demo session: ") + e.what());
      return 1;
    }
    files << path;
  }
  for (const QString& f : files) {
    if (headless && !QFileInfo(f).isFile()) {
      fail(f + ": no such file");
      return 1;
    }
  }
  QStringList failures;
  QObject::connect(&window.workspace(), &Workspace::open_failed,
                   [&failures](QString path, QString why) { failures << why; });
  for (const QString& f : files) window.open_file(f);

  // Wait (events flowing) until every file listed its runs or failed.
  QElapsedTimer t;
  t.start();
  auto all_listed = [&] {
    for (const auto& d : window.workspace().docs())
      if (d->loading()) return false;
    return true;
  };
  while (!all_listed() && t.elapsed() < 30000) {
    QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
    window.workspace().poll();
    QThread::msleep(2);
  }
  if (headless && !failures.isEmpty()) {
    for (const QString& f : failures) fail(f);
    return 1;
  }

  Workspace& ws = window.workspace();
  viz::ViewState& vs = ws.primary();
  if (!ws.docs().empty() && !ws.docs().front()->runs().empty()) {
    viz::SessionDoc* first = ws.docs().front().get();
    int64_t run = first->runs().front().id;
    if (o.run) {
      if (!first->run_summary(*o.run)) {
        fail(QString::fromStdString(first->path()) + ": no run " + QString::number(*o.run));
        if (headless) return 1;
      } else {
        run = *o.run;
      }
    }
    ws.show_run(first, run);
    // Compare: the second file's first run, or the first file's next run.
    if (ws.docs().size() > 1 && !ws.docs()[1]->runs().empty()) ws.show_run(ws.docs()[1].get(), ws.docs()[1]->runs().front().id, true);
    else if (first->runs().size() > 1) ws.show_run(first, first->runs()[first->runs().front().id == run ? 1 : 0].id, true);
    else ws.show_run(first, run, true);
    const auto* s = first->run_summary(run);
    if (o.layer) vs.layer = std::min<int>(*o.layer, static_cast<int>(s->info.n_layers) - 1);
    // Not clamped by the run's n_heads (a Mamba-1 run states none; a hybrid's layers differ): the
    // canvas clamps the head to the most of any layer once the run's layers are read.
    if (o.head) vs.head = *o.head;
    if (o.step) vs.step = *o.step;
    ws.secondary().layer = vs.layer, ws.secondary().head = vs.head, ws.secondary().step = vs.step;
    const auto missing = std::find_if(o.sides.begin(), o.sides.end(), [&](int64_t r) { return !first->run_summary(r); });
    if (missing != o.sides.end()) {
      fail(QString::fromStdString(first->path()) + ": no run " + QString::number(*missing) + " (--sides)");
      if (headless) return 1;
    } else if (!o.sides.empty()) {
      const int32_t layer = vs.layer, head = vs.head;  // showing a run resets them
      const int64_t step = vs.step;
      ws.show_run(first, o.sides[0]);
      ws.show_run(first, o.sides[1], true);
      for (viz::ViewState* side : {&vs, &ws.secondary()}) side->layer = layer, side->head = head, side->step = step;
      for (size_t i = 2; i < o.sides.size(); ++i) window.compare_canvas()->add_side(first, o.sides[i]);
    }
  }
  if (!o.view.isEmpty() && !window.show_view(o.view)) {
    fail("view '" + o.view + "' is not available in this build");
    if (headless) return 2;
  }
  if (!headless) return QCoreApplication::exec();

  const QImage shot = window.capture();
  if (shot.isNull() || !shot.save(o.screenshot, "PNG")) {
    fail("cannot write " + o.screenshot);
    return 1;
  }
  return 0;
}

}  // namespace mnemo::gui
