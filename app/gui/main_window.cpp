#include "main_window.h"

#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QDateTime>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHeaderView>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPainter>
#include <QPlainTextEdit>
#include <QScrollArea>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>
#include <QTimer>
#include <QTreeWidget>

#include <thread>

#include "canvas_window.h"
#include "gl_texture_store.h"
#include "mnemo/profiler/export/session_export.h"
#include "mnemo/profiler/session/sqlite_db.h"
#include "mnemo/viz/attention_explorer.h"
#include "mnemo/viz/compare.h"
#include "mnemo/viz/kv_view.h"
#include "mnemo/viz/memory_view.h"
#include "mnemo/viz/model_overview.h"
#include "mnemo/viz/timeline.h"
#include "mnemo/viz/token_view.h"
#include "record_panel.h"

namespace mnemo::gui {
namespace {

constexpr int kMaxRecent = 10;

// The views, in tab order; Compare shows any of them side by side.
const std::vector<std::string> kViews = {"attention", "overview", "tokens", "memory", "kv", "timeline"};

std::unique_ptr<viz::Canvas> make_canvas(const std::string& view, viz::ViewState& vs) {
  if (view == "attention") return std::make_unique<viz::AttentionExplorer>(vs);
  if (view == "overview") return std::make_unique<viz::ModelOverview>(vs, shared_textures());
  if (view == "tokens") return std::make_unique<viz::TokenView>(vs);
  if (view == "memory") return std::make_unique<viz::MemoryView>(vs, shared_textures());
  if (view == "kv") return std::make_unique<viz::KvView>(vs, shared_textures());
  if (view == "timeline") return std::make_unique<viz::Timeline>(vs);
  return nullptr;
}

QString run_line(const profiler::RunSummary& r) {
  return QString("run %1 · %2 · %3 · %4 tokens, %5 steps")
      .arg(r.id)
      .arg(QString::fromStdString(r.info.label.empty() ? r.info.architecture : r.info.label))
      .arg(QString::fromStdString(r.status))
      .arg(r.n_tokens)
      .arg(r.n_steps);
}

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setWindowTitle("Mnemoscope");
  setAcceptDrops(true);
  setDockNestingEnabled(true);
  tabs_ = new QTabWidget;
  tabs_->setDocumentMode(true);
  setCentralWidget(tabs_);

  for (const std::string& view : kViews) add_canvas(make_canvas(view, workspace_.primary()));
  auto compare = std::make_unique<viz::CompareCanvas>(workspace_.primary(), workspace_.secondary(), make_canvas, kViews,
                                                      shared_textures());
  compare_ = compare.get();
  add_canvas(std::move(compare));

  build_panels();
  build_menus();
  default_state_ = saveState();
  QSettings s;
  if (!restoreGeometry(s.value("window/geometry").toByteArray()) || !restoreState(s.value("window/state").toByteArray()))
    QTimer::singleShot(0, this, &MainWindow::use_default_layout);  // a first start: panels sized for the canvases
  if (s.contains("window/view")) show_view(s.value("window/view").toString());

  connect(&workspace_, &Workspace::runs_changed, this, &MainWindow::refresh_sessions);
  connect(&workspace_, &Workspace::open_failed, this, [this](QString path, QString why) {
    log("cannot open " + path + ": " + why);
    show_error("Cannot open session", why);
  });
  connect(tabs_, &QTabWidget::currentChanged, this, [this] { refresh_inspector(); });
  statusBar()->showMessage("Open a session (File › Open, or drop a .mnemo file here) or record one");
}

MainWindow::~MainWindow() {
  // Canvases (and their tiles' textures) go before the GL windows that draw them.
  for (CanvasWindow* w : windows_) w->set_before_frame({}), w->set_after_frame({});
}

void MainWindow::add_canvas(std::unique_ptr<viz::Canvas> canvas) {
  auto* window = new CanvasWindow(canvas.get());
  window->set_before_frame([this] { workspace_.begin_frame(); });
  window->set_after_frame([this] { workspace_.end_frame(); });
  connect(window, &CanvasWindow::frame_drawn, this, [this, window] {
    if (window == current_canvas_window()) refresh_inspector();
    // A canvas may ask for another view (a click on a head thumbnail opens the explorer).
    for (viz::ViewState* vs : {&workspace_.primary(), &workspace_.secondary()})
      if (!vs->requested_view.empty()) {
        const QString id = QString::fromStdString(vs->requested_view);
        vs->requested_view.clear();
        show_view(id);
      }
  });
  QWidget* container = QWidget::createWindowContainer(window);
  container->setFocusPolicy(Qt::StrongFocus);
  container->setMinimumSize(320, 240);
  container->setObjectName(QString("canvas-") + canvas->id());
  tabs_->addTab(container, canvas->title());
  windows_.push_back(window);
  canvases_.push_back(std::move(canvas));
}

void MainWindow::build_panels() {
  auto make_dock = [this](const QString& title, const QString& name, QWidget* w, Qt::DockWidgetArea area) {
    auto* d = new QDockWidget(title, this);
    d->setObjectName(name);
    d->setWidget(w);
    addDockWidget(area, d);
    docks_.push_back(d);
    return d;
  };
  sessions_ = new QTreeWidget;
  sessions_->setHeaderHidden(true);
  sessions_->setContextMenuPolicy(Qt::CustomContextMenu);
  make_dock("Sessions", "sessions", sessions_, Qt::LeftDockWidgetArea);
  record_ = new RecordPanel;
  // Scrolls rather than widening the dock: the canvases keep the room.
  auto* record_scroll = new QScrollArea;
  record_scroll->setWidget(record_);
  record_scroll->setWidgetResizable(true);
  record_scroll->setFrameShape(QFrame::NoFrame);
  QDockWidget* rec = make_dock("Record", "record", record_scroll, Qt::LeftDockWidgetArea);
  inspector_ = new QTreeWidget;
  inspector_->setColumnCount(2);
  inspector_->setHeaderLabels({"", ""});
  // Fixed columns: the Inspector follows the pointer, and a dock that resized with its text
  // would move the canvas under the pointer.
  inspector_->header()->setSectionResizeMode(0, QHeaderView::Interactive);
  inspector_->header()->setStretchLastSection(true);
  inspector_->setColumnWidth(0, 100);
  inspector_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  inspector_->setMinimumWidth(280);
  inspector_->setRootIsDecorated(false);
  inspector_->setWordWrap(true);
  make_dock("Inspector", "inspector", inspector_, Qt::RightDockWidgetArea);
  log_ = new QPlainTextEdit;
  log_->setReadOnly(true);
  log_->setMaximumBlockCount(5000);
  make_dock("Log", "log", log_, Qt::BottomDockWidgetArea);
  tabifyDockWidget(docks_[0], rec);
  docks_[0]->raise();

  connect(sessions_, &QTreeWidget::itemClicked, this, [this](QTreeWidgetItem* item) {
    const QString path = item->data(0, Qt::UserRole).toString();
    const qint64 run = item->data(0, Qt::UserRole + 1).toLongLong();
    if (viz::SessionDoc* d = workspace_.find(path.toStdString()); d && run > 0) workspace_.show_run(d, run);
    for (CanvasWindow* w : windows_) w->update();
  });
  connect(sessions_, &QTreeWidget::customContextMenuRequested, this, [this](const QPoint& at) {
    QTreeWidgetItem* item = sessions_->itemAt(at);
    if (!item) return;
    const QString path = item->data(0, Qt::UserRole).toString();
    const qint64 run = item->data(0, Qt::UserRole + 1).toLongLong();
    viz::SessionDoc* d = workspace_.find(path.toStdString());
    if (!d) return;
    QMenu menu;
    if (run > 0) {
      menu.addAction("Show", [this, d, run] { workspace_.show_run(d, run); });
      menu.addAction("Compare with the shown run", [this, d, run] {
        workspace_.show_run(d, run, true);
        show_view("compare");
      });
      menu.addAction("Add to the comparison", [this, d, run] {
        compare_->add_side(d, run);
        show_view("compare");
      });
    }
    menu.addAction("Close session", [this, d] { workspace_.close(d); });
    menu.exec(sessions_->viewport()->mapToGlobal(at));
  });
  connect(record_, &RecordPanel::log, this, &MainWindow::log);
  connect(record_, &RecordPanel::session_created, this, [this](QString path) {
    open_file(path);
    // The new run is the session's last one: show it as soon as it is listed.
    viz::SessionDoc* d = workspace_.find(path.toStdString());
    auto follow = std::make_shared<QMetaObject::Connection>();
    *follow = connect(&workspace_, &Workspace::runs_changed, this, [this, d, follow] {
      if (!d || d->runs().empty()) return;
      workspace_.show_run(d, d->runs().back().id);
      disconnect(*follow);
    });
  });
}

void MainWindow::build_menus() {
  QMenu* file = menuBar()->addMenu("&File");
  file->addAction("&Open…", QKeySequence::Open, this, [this] {
    const QStringList files = QFileDialog::getOpenFileNames(this, "Open session", QString(), "Sessions (*.mnemo);;All files (*)");
    for (const QString& f : files) open_file(f);
  });
  recent_menu_ = file->addMenu("Open &Recent");
  rebuild_recent_menu();
  file->addSeparator();
  file->addAction("Export view as &PNG…", QKeySequence("Ctrl+Shift+P"), this, &MainWindow::export_view_png);
  file->addAction("&Export session…", QKeySequence("Ctrl+E"), this, &MainWindow::export_session);
  file->addSeparator();
  file->addAction("&Quit", QKeySequence::Quit, this, &QWidget::close);

  view_menu_ = menuBar()->addMenu("&View");
  for (int i = 0; i < tabs_->count(); ++i) {
    const QString id = QString::fromUtf8(canvases_[static_cast<size_t>(i)]->id());
    view_menu_->addAction(tabs_->tabText(i), QKeySequence(QString("Ctrl+%1").arg(i + 1)), this, [this, id] { show_view(id); });
  }
  view_menu_->addSeparator();
  for (QDockWidget* d : docks_) view_menu_->addAction(d->toggleViewAction());
  view_menu_->addSeparator();
  view_menu_->addAction("Reset layout", this, &MainWindow::reset_layout);

  QMenu* help = menuBar()->addMenu("&Help");
  help->addAction("Keyboard shortcuts", QKeySequence::HelpContents, this, &MainWindow::show_shortcuts);
  help->addAction("About Mnemoscope", this, &MainWindow::show_about);
}

QDockWidget* MainWindow::dock(const QString& name) const {
  for (QDockWidget* d : docks_)
    if (d->objectName() == name) return d;
  return nullptr;
}

void MainWindow::use_default_layout() {
  restoreState(default_state_);
  resize(1500, 950);
  // Panel sizes apply once the window is laid out.
  resizeDocks({docks_[0], dock("inspector")}, {300, 290}, Qt::Horizontal);
  resizeDocks({dock("log")}, {130}, Qt::Vertical);
}

void MainWindow::reset_layout() {
  use_default_layout();
  for (QDockWidget* d : docks_) d->show();
}

void MainWindow::open_file(const QString& path) {
  const QString abs = QFileInfo(path).absoluteFilePath();
  if (!QFileInfo(abs).isFile()) {
    show_error("Cannot open session", abs + ": no such file");
    log("cannot open " + abs + ": no such file");
    return;
  }
  workspace_.open(abs.toStdString());
  update_recent(abs);
  log("opened " + abs);
  refresh_sessions();
}

bool MainWindow::show_view(const QString& id) {
  for (size_t i = 0; i < canvases_.size(); ++i)
    if (id == canvases_[i]->id()) {
      tabs_->setCurrentIndex(static_cast<int>(i));
      windows_[i]->update();
      return true;
    }
  return false;
}

QString MainWindow::current_view() const {
  const int i = tabs_->currentIndex();
  return i >= 0 ? QString::fromUtf8(canvases_[static_cast<size_t>(i)]->id()) : QString();
}

QStringList MainWindow::view_ids() const {
  QStringList ids;
  for (const auto& c : canvases_) ids << c->id();
  return ids;
}

CanvasWindow* MainWindow::canvas_window(const QString& id) const {
  for (size_t i = 0; i < canvases_.size(); ++i)
    if (id == canvases_[i]->id()) return windows_[i];
  return nullptr;
}

CanvasWindow* MainWindow::current_canvas_window() const {
  const int i = tabs_->currentIndex();
  return i >= 0 ? windows_[static_cast<size_t>(i)] : nullptr;
}

void MainWindow::refresh_sessions() {
  // Rebuilt from the workspace; the selection is kept by (path, run).
  QString sel_path;
  qint64 sel_run = 0;
  if (QTreeWidgetItem* cur = sessions_->currentItem())
    sel_path = cur->data(0, Qt::UserRole).toString(), sel_run = cur->data(0, Qt::UserRole + 1).toLongLong();
  sessions_->clear();
  for (const auto& d : workspace_.docs()) {
    auto* top = new QTreeWidgetItem(sessions_, {QString::fromStdString(d->display_name())});
    const QString path = QString::fromStdString(d->path());
    top->setToolTip(0, path);
    top->setData(0, Qt::UserRole, path);
    top->setData(0, Qt::UserRole + 1, qint64{0});
    if (d->loading()) new QTreeWidgetItem(top, {"loading…"});
    for (const auto& r : d->runs()) {
      auto* item = new QTreeWidgetItem(top, {run_line(r)});
      item->setData(0, Qt::UserRole, path);
      item->setData(0, Qt::UserRole + 1, qint64{r.id});
      item->setToolTip(0, QString::fromStdString(r.info.model_path + "\n" + r.info.prompt.substr(0, 200)));
      const auto& p = workspace_.primary();
      if (p.doc == d.get() && p.run == r.id) {
        QFont f = item->font(0);
        f.setBold(true);
        item->setFont(0, f);
      }
      if (path == sel_path && r.id == sel_run) sessions_->setCurrentItem(item);
    }
    top->setExpanded(true);
  }
}

void MainWindow::refresh_inspector() {
  const int i = tabs_->currentIndex();
  if (i < 0) return;
  const viz::Inspection& in = canvases_[static_cast<size_t>(i)]->inspection();
  // Only rebuild when it changed: the Inspector follows the pointer at frame rate.
  QStringList flat{QString::fromStdString(in.title)};
  for (const auto& [k, v] : in.fields) flat << QString::fromStdString(k) << QString::fromStdString(v);
  if (inspector_->property("flat").toStringList() == flat) return;
  inspector_->setProperty("flat", flat);
  inspector_->clear();
  inspector_->setHeaderLabels({QString::fromStdString(in.title), ""});
  for (const auto& [k, v] : in.fields)
    new QTreeWidgetItem(inspector_, {QString::fromStdString(k), QString::fromStdString(v)});
}

void MainWindow::update_recent(const QString& path) {
  QSettings s;
  QStringList recent = s.value("recent").toStringList();
  recent.removeAll(path);
  recent.prepend(path);
  while (recent.size() > kMaxRecent) recent.removeLast();
  s.setValue("recent", recent);
  rebuild_recent_menu();
}

void MainWindow::rebuild_recent_menu() {
  recent_menu_->clear();
  const QStringList recent = QSettings().value("recent").toStringList();
  for (const QString& f : recent) recent_menu_->addAction(f, this, [this, f] { open_file(f); });
  recent_menu_->setEnabled(!recent.isEmpty());
}

void MainWindow::log(const QString& line) {
  log_->appendPlainText(QDateTime::currentDateTime().toString("hh:mm:ss  ") + line);
}

void MainWindow::show_error(const QString& title, const QString& text) {
  last_error_ = text;
  statusBar()->showMessage(title + ": " + text, 10000);
  if (!dialogs_) return;
  auto* box = new QMessageBox(QMessageBox::Warning, title, text, QMessageBox::Ok, this);
  box->setAttribute(Qt::WA_DeleteOnClose);
  box->open();  // not exec(): the app keeps drawing and recording behind the dialog
}

QImage MainWindow::capture(int timeout_ms) {
  CanvasWindow* w = current_canvas_window();
  if (!w) return grab().toImage();
  const QImage gl = w->render_settled([this] { return workspace_.settled(); }, timeout_ms);
  QImage shot = grab().toImage();
  // The GL surface is a native child window that grab() cannot see: paint its frame in place.
  QWidget* container = tabs_->currentWidget();
  const QPoint at = container->mapTo(this, QPoint(0, 0));
  QPainter p(&shot);
  const qreal dpr = shot.devicePixelRatio();
  p.drawImage(QRectF(at, QSizeF(container->size())), gl, QRectF(QPointF(0, 0), QSizeF(gl.size())));
  (void)dpr;
  return shot;
}

void MainWindow::export_view_png() {
  const QString f = QFileDialog::getSaveFileName(this, "Export view as PNG", current_view() + ".png", "PNG (*.png)");
  if (f.isEmpty()) return;
  CanvasWindow* w = current_canvas_window();
  if (!w || !w->render_frame().save(f, "PNG")) show_error("Export failed", "could not write " + f);
  else log("wrote " + f);
}

void MainWindow::export_session() {
  const viz::ViewState& vs = workspace_.primary();
  if (!vs.has_run()) {
    show_error("Nothing to export", "open a session first");
    return;
  }
  QDialog dlg(this);
  dlg.setWindowTitle("Export session");
  auto* form = new QFormLayout(&dlg);
  auto* format = new QComboBox;
  format->addItems({"Perfetto trace (.pftrace)", "Chrome trace (.json)", "CSV tables (folder)"});
  auto* scope = new QComboBox;
  scope->addItems({QString("run %1").arg(vs.run), "every run"});
  form->addRow("Format", format);
  form->addRow("Runs", scope);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
  form->addRow(buttons);
  connect(buttons, &QDialogButtonBox::accepted, &dlg, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, &dlg, &QDialog::reject);
  if (dlg.exec() != QDialog::Accepted) return;
  const int kind = format->currentIndex();
  const QString base = QFileInfo(QString::fromStdString(vs.doc->path())).completeBaseName();
  const QString out = kind == 2 ? QFileDialog::getExistingDirectory(this, "CSV folder")
                                : QFileDialog::getSaveFileName(this, "Export to", base + (kind == 0 ? ".pftrace" : ".json"));
  if (out.isEmpty()) return;
  const std::string path = vs.doc->path();
  const std::optional<int64_t> run = scope->currentIndex() == 0 ? std::optional<int64_t>(vs.run) : std::nullopt;
  log("exporting " + QString::fromStdString(path) + " to " + out);
  // Off the UI thread, with its own reader: a large session takes seconds.
  std::thread([this, path, run, out, kind] {
    QString message;
    try {
      profiler::SessionReader reader(path);
      if (kind == 0) profiler::export_perfetto(reader, run, out.toStdString());
      else if (kind == 1) profiler::export_chrome(reader, run, out.toStdString());
      else profiler::export_csv(reader, run, out.toStdString());
      message = "wrote " + out;
    } catch (const std::exception& e) {
      message = QString("export failed: ") + e.what();
    }
    QMetaObject::invokeMethod(this, [this, message] { log(message); }, Qt::QueuedConnection);
  }).detach();
}

void MainWindow::show_shortcuts() {
  QMessageBox::information(this, "Keyboard shortcuts",
                           "Ctrl+O  open a session\n"
                           "Ctrl+1…7  views\n"
                           "Ctrl+E  export the session\n"
                           "Ctrl+Shift+P  export the view as PNG\n\n"
                           "In a map: wheel zooms about the pointer, drag pans, double-click or Home fits.\n"
                           "Hover a cell for its query, key and exact score.");
}

void MainWindow::show_about() {
  QMessageBox::about(this, "About Mnemoscope",
                     QString("<b>Mnemoscope</b> %1<br>A microscope for the internals of sequence models.<br><br>"
                             "Qt %2 · Dear ImGui %3 · SQLite %4")
                         .arg(QApplication::applicationVersion(), qVersion(), ImGui::GetVersion(),
                              QString::fromStdString(profiler::sqlite_library_version())));
}

void MainWindow::closeEvent(QCloseEvent* e) {
  if (record_->recording() && dialogs_) {
    if (QMessageBox::question(this, "Recording", "A recording is running. Stop it and quit? What was recorded is kept.") !=
        QMessageBox::Yes) {
      e->ignore();
      return;
    }
  }
  record_->cancel();
  QSettings s;
  s.setValue("window/geometry", saveGeometry());
  s.setValue("window/state", saveState());
  s.setValue("window/view", current_view());
  QMainWindow::closeEvent(e);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* e) {
  if (e->mimeData()->hasUrls()) e->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* e) {
  for (const QUrl& u : e->mimeData()->urls())
    if (u.isLocalFile()) open_file(u.toLocalFile());
}

}  // namespace mnemo::gui
