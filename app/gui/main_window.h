// The main window: canvases as tabs in the centre (one GL surface each, only the visible one
// draws), and dockable Sessions, Record, Inspector and Log panels around them. Menus, recent
// files, drag and drop, and the layout persist through QSettings.
#pragma once

#include <QMainWindow>

#include <memory>
#include <vector>

#include "workspace.h"

class QDockWidget;
class QMenu;
class QPlainTextEdit;
class QTabWidget;
class QTreeWidget;
class QTreeWidgetItem;

namespace mnemo::viz {
class CompareCanvas;
}

namespace mnemo::gui {

class CanvasWindow;
class RecordPanel;

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  Workspace& workspace() { return workspace_; }
  void open_file(const QString& path);
  // Brings a canvas forward by its id ("attention", "overview", ...); false for an unknown id.
  bool show_view(const QString& id);
  QString current_view() const;
  CanvasWindow* canvas_window(const QString& id) const;
  viz::CompareCanvas* compare_canvas() const { return compare_; }
  CanvasWindow* current_canvas_window() const;
  QStringList view_ids() const;
  RecordPanel* record_panel() const { return record_; }
  QTreeWidget* sessions_tree() const { return sessions_; }
  QTreeWidget* inspector() const { return inspector_; }
  QPlainTextEdit* log_view() const { return log_; }
  QDockWidget* dock(const QString& name) const;

  // Renders the current view until its data settled, then the whole window with it.
  QImage capture(int timeout_ms = 30000);
  // The last error shown in a dialog (tests read it; dialogs are not modal in tests).
  const QString& last_error() const { return last_error_; }
  void set_dialogs_enabled(bool on) { dialogs_ = on; }
  // The layout a fresh install has (screenshots and tests do not depend on a user's settings).
  void use_default_layout();

 public slots:
  void log(const QString& line);
  void reset_layout();

 protected:
  void closeEvent(QCloseEvent* e) override;
  void dragEnterEvent(QDragEnterEvent* e) override;
  void dropEvent(QDropEvent* e) override;

 private:
  void build_menus();
  void build_panels();
  void add_canvas(std::unique_ptr<viz::Canvas> canvas);
  void refresh_sessions();
  void refresh_inspector();
  void update_recent(const QString& path);
  void rebuild_recent_menu();
  void show_error(const QString& title, const QString& text);
  void export_view_png();
  void export_session();
  void show_shortcuts();
  void show_about();

  Workspace workspace_;
  QTabWidget* tabs_ = nullptr;
  std::vector<std::unique_ptr<viz::Canvas>> canvases_;
  viz::CompareCanvas* compare_ = nullptr;  // one of canvases_
  std::vector<CanvasWindow*> windows_;
  QTreeWidget* sessions_ = nullptr;
  QTreeWidget* inspector_ = nullptr;
  QPlainTextEdit* log_ = nullptr;
  RecordPanel* record_ = nullptr;
  std::vector<QDockWidget*> docks_;
  QMenu* recent_menu_ = nullptr;
  QMenu* view_menu_ = nullptr;
  QByteArray default_state_;
  QString last_error_;
  bool dialogs_ = true;
};

}  // namespace mnemo::gui
