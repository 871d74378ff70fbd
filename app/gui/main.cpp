// mnemoscope: the desktop app.
//
//   mnemoscope [FILE ...] [--view attention|overview|tokens|memory|kv|timeline|compare] [--run R]
//              [--layer L] [--head H] [--sides R,R,...] [--size WxH] [--screenshot OUT.png]
//
// With --screenshot it renders the view once its data has loaded, writes the PNG and exits:
// non-zero, with the reason on stderr, when a file cannot be opened or the view does not exist.
#include <QApplication>
#include <QCommandLineParser>
#include <QSurfaceFormat>
#include <QTimer>

#include <cstdio>

#include "app_launch.h"
#include "main_window.h"

int main(int argc, char** argv) {
  // One GL namespace for every canvas window: tiles uploaded by one canvas draw in another.
  QCoreApplication::setAttribute(Qt::AA_ShareOpenGLContexts);
  QApplication app(argc, argv);
  QApplication::setOrganizationName("Mnemoscope");
  QApplication::setApplicationName("mnemoscope");
  QApplication::setApplicationVersion(MNEMO_VERSION);

  mnemo::gui::LaunchOptions options;
  QString problem;
  if (!mnemo::gui::parse_launch(QApplication::arguments(), options, problem)) {
    std::fprintf(stderr, "mnemoscope: %s\n", problem.toLocal8Bit().constData());
    return 2;
  }
  if (options.help) {
    std::printf("%s", mnemo::gui::launch_usage().toLocal8Bit().constData());
    return 0;
  }
  mnemo::gui::MainWindow window;
  window.show();
  if (!options.screenshot.isEmpty()) {
    window.set_dialogs_enabled(false);
    window.use_default_layout();
  }
  return mnemo::gui::launch(window, options);
}
