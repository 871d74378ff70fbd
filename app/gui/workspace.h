// What the app has open: session files, the two sides of the workspace (the second is what
// Compare shows beside the first), and the canvases that draw them. Lives on the UI thread.
#pragma once

#include <QObject>
#include <QTimer>

#include <memory>
#include <string>
#include <vector>

#include "mnemo/viz/canvas.h"
#include "mnemo/viz/session_doc.h"

namespace mnemo::gui {

class Workspace : public QObject {
  Q_OBJECT
 public:
  Workspace();
  ~Workspace() override;

  // Opens a session (or returns the one already open). Errors arrive later through
  // open_failed, since the file is opened off the UI thread.
  viz::SessionDoc* open(const std::string& path);
  void close(viz::SessionDoc* doc);
  const std::vector<std::unique_ptr<viz::SessionDoc>>& docs() const { return docs_; }
  viz::SessionDoc* find(const std::string& path) const;

  viz::ViewState& primary() { return primary_; }
  viz::ViewState& secondary() { return secondary_; }
  // Shows a run on a side (the primary by default), keeping layer and head where they fit.
  void show_run(viz::SessionDoc* doc, int64_t run, bool secondary_side = false);

  void poll();        // every frame and on a timer: sessions take their loads
  // Around every canvas frame: the tile caches' frame (upload budget, stale requests, eviction).
  void begin_frame();
  void end_frame();
  bool settled() const;  // nothing loading anywhere (for screenshots and tests)

 signals:
  void open_failed(QString path, QString why);
  void runs_changed();  // a session listed its runs (or more of them)

 private:
  std::vector<std::unique_ptr<viz::SessionDoc>> docs_;
  std::vector<uint64_t> seen_generation_;
  viz::ViewState primary_, secondary_;
  QTimer poll_timer_;
};

}  // namespace mnemo::gui
