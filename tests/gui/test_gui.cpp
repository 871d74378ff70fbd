// The app under Xvfb, driven by QTest: opens a recorded SmolLM2 session, visits every view,
// hovers and clicks, checks the Inspector and the pixels, records from the Record panel, and
// saves a screenshot of each view as a test artifact (MNEMO_GUI_ARTIFACTS).
#include <QApplication>
#include <QDir>
#include <QFile>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QTreeWidget>

#include <set>

#include "canvas_window.h"
#include "main_window.h"
#include "mnemo/profiler/session/session_reader.h"
#include "mnemo/viz/attention_explorer.h"
#include "record_panel.h"

using namespace mnemo;

namespace {

QString env(const char* name) { return QString::fromLocal8Bit(qgetenv(name)); }

QString inspector_value(const QTreeWidget* t, const QString& field) {
  for (int i = 0; i < t->topLevelItemCount(); ++i)
    if (t->topLevelItem(i)->text(0) == field) return t->topLevelItem(i)->text(1);
  return {};
}

// Generous: the same tests run under ASan, several times slower.
bool wait_settled(gui::MainWindow& w, int ms = 90000) {
  return QTest::qWaitFor([&] {
    w.workspace().poll();
    gui::CanvasWindow* c = w.current_canvas_window();
    if (c) c->update();
    return w.workspace().settled() && (!c || !c->canvas()->wants_redraw());
  }, ms);
}

// One frame drawn, events processed.
void frame(gui::CanvasWindow* c) {
  bool drawn = false;
  auto conn = QObject::connect(c, &gui::CanvasWindow::frame_drawn, [&] { drawn = true; });
  c->update();
  (void)QTest::qWaitFor([&] { return drawn; }, 2000);
  QObject::disconnect(conn);
}

// What keeps the window from settling, for a failure message.
QString unsettled(gui::MainWindow& w) {
  QString out;
  for (const auto& d : w.workspace().docs()) {
    out += QString("%1: loading %2, worker idle %3, queued %4, tiles loading %5, live %6; ")
               .arg(QString::fromStdString(d->display_name()))
               .arg(d->loading())
               .arg(d->worker().idle())
               .arg(d->worker().queued())
               .arg(d->tiles().loading())
               .arg(d->live());
  }
  if (gui::CanvasWindow* c = w.current_canvas_window()) {
    out += QString("canvas wants_redraw %1").arg(c->canvas()->wants_redraw());
    if (auto* x = dynamic_cast<viz::AttentionExplorer*>(c->canvas()))
      out += QString(" (%1; rows %2, level %3, zoom %4)").arg(QString::fromStdString(x->busy_reason())).arg(x->map_rows()).arg(x->level()).arg(x->view().zoom);
  }
  return out;
}

}  // namespace

class GuiTest : public QObject {
  Q_OBJECT

 private:
  QString session_, artifacts_;
  QTemporaryDir tmp_;
  std::unique_ptr<gui::MainWindow> window_;

  gui::MainWindow& window() { return *window_; }
  void save_artifact(const QImage& img, const QString& name) {
    if (artifacts_.isEmpty()) return;
    QDir().mkpath(artifacts_);
    QVERIFY(img.save(artifacts_ + "/" + name + ".png"));
  }

 private slots:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);  // settings and recent files in a throwaway place
    QSettings().clear();
    session_ = env("MNEMO_SESSION_FIXTURE");
    artifacts_ = env("MNEMO_GUI_ARTIFACTS");
    QVERIFY2(QFile::exists(session_), qPrintable("no session fixture at '" + session_ + "'"));
    window_ = std::make_unique<gui::MainWindow>();
    window_->set_dialogs_enabled(false);
    window_->resize(1500, 950);
    window_->show();
    QVERIFY(QTest::qWaitForWindowExposed(window_.get()));
  }

  void cleanupTestCase() { window_.reset(); }

  void opensTheSessionAndListsItsRuns() {
    window().open_file(session_);
    QTRY_VERIFY_WITH_TIMEOUT(window().sessions_tree()->topLevelItemCount() == 1 &&
                                 window().sessions_tree()->topLevelItem(0)->childCount() == 2,
                             20000);
    const QTreeWidgetItem* file = window().sessions_tree()->topLevelItem(0);
    QVERIFY(file->child(0)->text(0).contains("smollm2"));
    QVERIFY(file->child(1)->text(0).contains("minilm"));
    // The first run is shown.
    QVERIFY(window().workspace().primary().has_run());
    QCOMPARE(window().workspace().primary().run, 1);
  }

  void attentionViewDrawsTheHeadInTheScalesColours() {
    QVERIFY(window().show_view("attention"));
    viz::ViewState& vs = window().workspace().primary();
    vs.layer = 3, vs.head = 2;
    gui::CanvasWindow* c = window().canvas_window("attention");
    QVERIFY(wait_settled(window()));
    frame(c);
    QVERIFY(wait_settled(window()));
    const QImage img = c->render_frame();
    save_artifact(window().capture(), "attention");
    auto* x = static_cast<viz::AttentionExplorer*>(c->canvas());
    QVERIFY(x->map_rows() > 200);
    QCOMPARE(x->level(), 0);  // 270 tokens fit the canvas: exact cells
    // Every sampled cell's pixel is the scale's colour of the exact probability.
    profiler::SessionReader reader(session_.toStdString());
    std::set<QRgb> colours;
    int checked = 0;
    for (int64_t q = 5; q < x->map_rows(); q += 23) {
      const auto p = reader.row(vs.run, vs.layer, vs.head, q);
      for (int64_t k = 0; k <= q; k += 11) {
        const ImVec2 at = x->cell_center(q, k);
        const QRgb px = img.pixel(static_cast<int>(at.x), static_cast<int>(at.y));
        const uint32_t want = vs.scale.color(p[static_cast<size_t>(k)]);
        QCOMPARE(qRed(px), static_cast<int>(want & 0xff));
        QCOMPARE(qGreen(px), static_cast<int>((want >> 8) & 0xff));
        QCOMPARE(qBlue(px), static_cast<int>((want >> 16) & 0xff));
        colours.insert(px);
        ++checked;
      }
    }
    QVERIFY(checked > 50);
    QVERIFY2(colours.size() > 10, "the map is not blank");
  }

  void hoverShowsTheExactScoreInTheInspector() {
    window().show_view("attention");
    gui::CanvasWindow* c = window().canvas_window("attention");
    auto* x = static_cast<viz::AttentionExplorer*>(c->canvas());
    viz::ViewState& vs = window().workspace().primary();
    profiler::SessionReader reader(session_.toStdString());
    const int64_t q = 200, k = 150;
    const ImVec2 at = x->cell_center(q, k);
    QTest::mouseMove(c, QPoint(qRound(at.x), qRound(at.y)));
    const bool scored = QTest::qWaitFor([&] {
      const QString s = inspector_value(window().inspector(), "score");
      return !s.isEmpty() && s != "…";
    }, 10000);
    if (!scored) {
      QString dump = window().inspector()->headerItem()->text(0) + ":";
      for (int i = 0; i < window().inspector()->topLevelItemCount(); ++i)
        dump += " " + window().inspector()->topLevelItem(i)->text(0) + "=" + window().inspector()->topLevelItem(i)->text(1);
      frame(c);
      dump += " | after one more frame: score=" + inspector_value(window().inspector(), "score");
      auto& worker = vs.doc->worker();
      dump += QString(" | worker queued %1 idle %2, canvas wants_redraw %3").arg(worker.queued()).arg(worker.idle()).arg(c->canvas()->wants_redraw());
      QFAIL(qPrintable("no score in the Inspector after hovering (" + QString::number(at.x) + ", " + QString::number(at.y) + "): " + dump));
    }
    const double shown = inspector_value(window().inspector(), "score").toDouble();
    const double exact = reader.row(vs.run, vs.layer, vs.head, q)[static_cast<size_t>(k)];
    QVERIFY2(std::abs(shown - exact) <= 1e-6 * std::max(1.0, exact), qPrintable(QString("%1 vs %2").arg(shown).arg(exact)));
    QVERIFY2(inspector_value(window().inspector(), "query").startsWith("200 '"), qPrintable(inspector_value(window().inspector(), "query")));
    QVERIFY(inspector_value(window().inspector(), "key").startsWith("150 '"));
    QCOMPARE(vs.cursor_query, std::optional<int64_t>(q));
    // The wheel zooms about the pointer: the hovered cell stays under it.
    const double zoom_before = x->view().zoom;
    for (int i = 0; i < 3; ++i) {
      QWheelEvent wheel(QPointF(at.x, at.y), c->mapToGlobal(QPointF(at.x, at.y)), QPoint(), QPoint(0, 120), Qt::NoButton,
                        Qt::NoModifier, Qt::NoScrollPhase, false);
      QCoreApplication::sendEvent(c, &wheel);
      frame(c);
    }
    QVERIFY(QTest::qWaitFor([&] { frame(c); return !x->wants_redraw(); }, 5000));
    QVERIFY(x->view().zoom > 1.9 * zoom_before);  // three notches of 1.25×
    const auto cell = x->cell_at(at);
    QVERIFY(cell.has_value());
    QCOMPARE(cell->first, q);
    QCOMPARE(cell->second, k);
    x->fit();
  }

  void everyViewRendersAScreenshot() {
    for (const QString& id : window().view_ids()) {
      QVERIFY(window().show_view(id));
      QVERIFY2(wait_settled(window()), qPrintable(id));
      const QImage shot = window().capture();
      QVERIFY(!shot.isNull());
      save_artifact(shot, "view-" + id);
      // Not blank: the canvas area holds many colours.
      const QImage canvas = window().current_canvas_window()->render_frame();
      std::set<QRgb> colours;
      for (int y = 0; y < canvas.height(); y += 7)
        for (int x = 0; x < canvas.width(); x += 7) colours.insert(canvas.pixel(x, y));
      QVERIFY2(colours.size() > 8, qPrintable(id + " looks blank"));
    }
  }

  void aForeignFileShowsAnErrorAndTheAppStaysUp() {
    const QString bad = tmp_.filePath("not-a-session.mnemo");
    QFile f(bad);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("this is not an SQLite file, just text pretending to be a session\n");
    f.close();
    const int before = window().sessions_tree()->topLevelItemCount();
    window().open_file(bad);
    QTRY_VERIFY_WITH_TIMEOUT(window().last_error().contains("not-a-session.mnemo"), 10000);
    QTRY_COMPARE_WITH_TIMEOUT(window().sessions_tree()->topLevelItemCount(), before, 5000);
    QVERIFY(window().isVisible());
    window().open_file(tmp_.filePath("missing.mnemo"));
    QVERIFY(window().last_error().contains("no such file"));
    // The good session still draws.
    window().show_view("attention");
    QVERIFY(wait_settled(window()));
  }

  void recordsFromTheRecordPanelAndTheViewsFollow() {
    const QString model = QString(MNEMO_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
    QVERIFY(QFile::exists(model));
    gui::RecordPanel* rec = window().record_panel();
    const QString out = tmp_.filePath("recorded.mnemo");
    rec->set_model(model);
    rec->set_prompt("The capital of France is");
    rec->set_tokens(80);
    rec->set_ignore_eos(true);
    rec->set_output(out);
    window().show_view("attention");
    auto* x = static_cast<viz::AttentionExplorer*>(window().canvas_window("attention")->canvas());
    QTest::mouseClick(rec->record_button(), Qt::LeftButton);
    QVERIFY(rec->recording());
    // Live: while the recording runs, the explorer follows the newest step, so its map grows.
    std::set<int64_t> sizes_seen;
    while (rec->recording()) {
      frame(window().canvas_window("attention"));
      if (window().workspace().primary().doc == window().workspace().find(out.toStdString()) && x->map_rows() > 0)
        sizes_seen.insert(x->map_rows());
      QTest::qWait(20);
    }
    QVERIFY2(sizes_seen.size() >= 2, qPrintable(QString("map sizes seen while recording: %1").arg(sizes_seen.size())));
    QVERIFY2(window().log_view()->toPlainText().contains("run 1: 80 steps, 85 tokens"), qPrintable(window().log_view()->toPlainText()));
    // The new session is open and shown.
    QTRY_VERIFY_WITH_TIMEOUT(window().workspace().find(out.toStdString()) != nullptr &&
                                 window().workspace().primary().doc == window().workspace().find(out.toStdString()),
                             10000);
    QVERIFY2(wait_settled(window()), qPrintable(unsettled(window())));
    frame(window().canvas_window("attention"));
    QVERIFY(wait_settled(window()));
    profiler::SessionReader reader(out.toStdString());
    // Within a refresh of the run (500 ms) the map reaches the final step; the last token is not run.
    const int64_t final_rows = reader.runs().front().n_tokens - 1;
    QVERIFY(QTest::qWaitFor([&] {
      frame(window().canvas_window("attention"));
      return x->map_rows() == final_rows;
    }, 30000));
    save_artifact(window().capture(), "recorded");
  }

  // A task prompt from the presets, recorded on two task models in one go: two runs of one
  // session, each with the task's answers and the model's predictions; editing the prompt drops
  // the task.
  void recordsATaskPromptOnSeveralModelsInOneGo() {
    const QString models = QString(MNEMO_SOURCE_DIR) + "/assets/models/";
    gui::RecordPanel* rec = window().record_panel();
    const QString out = tmp_.filePath("task.mnemo");
    rec->set_model(models + "transformer-mqar");
    rec->set_more_models({models + "transformer-passkey"});
    QVERIFY(rec->set_preset(QString(MNEMO_SOURCE_DIR) + "/assets/prompts/mqar.task.json"));
    QCOMPARE(rec->task(), QString("mqar"));
    rec->set_prompt("k1 v1 k1");
    QCOMPARE(rec->task(), QString());  // edited: its answers no longer apply
    QVERIFY(rec->set_preset(QString(MNEMO_SOURCE_DIR) + "/assets/prompts/passkey.task.json"));
    QVERIFY(rec->set_preset(QString(MNEMO_SOURCE_DIR) + "/assets/prompts/mqar.task.json"));
    QCOMPARE(rec->task(), QString("mqar"));
    rec->set_tokens(2);
    rec->set_output(out);
    QTest::mouseClick(rec->record_button(), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!rec->recording(), 60000);
    const QString log = window().log_view()->toPlainText();
    QVERIFY2(log.contains("(transformer-mqar): 2 steps, 66 tokens") && log.contains("16 of 16 answers right") &&
                 log.contains("(transformer-passkey)"),
             qPrintable(log));
    profiler::SessionReader reader(out.toStdString());
    const auto runs = reader.runs();
    QCOMPARE(runs.size(), size_t{2});
    QCOMPARE(QString::fromStdString(runs[0].info.label), QString("transformer-mqar"));
    for (const auto& run : runs) QCOMPARE(reader.answers(run.id).size(), size_t{16});
    int64_t right = 0;
    for (const auto& a : reader.answers(runs[0].id)) right += a.predicted_token == a.expected_token;
    QCOMPARE(right, int64_t{16});
  }
};

int main(int argc, char** argv) {
  QCoreApplication::setAttribute(Qt::AA_ShareOpenGLContexts);
  QApplication app(argc, argv);
  QApplication::setOrganizationName("Mnemoscope");
  QApplication::setApplicationName("mnemoscope-tests");
  GuiTest t;
  return QTest::qExec(&t, argc, argv);
}

#include "test_gui.moc"
