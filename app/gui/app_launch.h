// The app's command line: files to open, the view to show, and the headless screenshot mode
// that tests and the README use.
#pragma once

#include <QString>
#include <QStringList>

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace mnemo::gui {

class MainWindow;

struct LaunchOptions {
  QStringList files;
  QString view;  // empty: the last one used
  std::optional<int64_t> run;
  std::vector<int64_t> sides;  // --sides: the compare view's runs of the first file, in order
  std::optional<int> layer, head, step;
  QString screenshot;
  std::optional<std::pair<int, int>> size;  // --size WxH: the window's size (a wide comparison, a screenshot)
  bool demo = false;  // a synthetic session with every kind of data (viz demo)
  bool help = false;
};

QString launch_usage();
// False with `problem` set for a bad command line.
bool parse_launch(const QStringList& args, LaunchOptions& out, QString& problem);
// Opens the files, waits for them to load, selects run/layer/head/view; in screenshot mode
// renders, writes the PNG and returns the exit code; otherwise runs the event loop.
int launch(MainWindow& window, const LaunchOptions& options);

}  // namespace mnemo::gui
