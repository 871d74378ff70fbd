// The Record panel: pick a model (those found under models/ and assets/models/), see which
// architecture plugin serves it, write or pick a prompt (a task prompt records the task's answers
// with each model's predictions), choose what to capture, and record into a session off the UI
// thread; models ticked under "Also record" get a run each on the same prompt, one after the
// other. The session opens in the workspace as soon as its file exists, so the views fill in
// while the recording runs.
#pragma once

#include <QWidget>

#include <atomic>
#include <memory>
#include <optional>
#include <thread>

#include "mnemo/tasks/task_set.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QDoubleSpinBox;

namespace mnemo::gui {

struct RecordSettings;

class RecordPanel : public QWidget {
  Q_OBJECT
 public:
  explicit RecordPanel(QWidget* parent = nullptr);
  ~RecordPanel() override;

  bool recording() const { return worker_.joinable(); }
  // Models found on disk: GGUF files and Hugging Face folders under the model directories.
  static QStringList discover_models();
  void set_model(const QString& path);
  void set_prompt(const QString& text);
  void set_output(const QString& path);
  void set_tokens(int n);
  void set_ignore_eos(bool on);
  // Picks a preset by its file (a .txt prompt or a .task.json task prompt); false if not offered.
  bool set_preset(const QString& path);
  // Ticks exactly these models under "Also record" (adding those not discovered).
  void set_more_models(const QStringList& paths);
  // The task whose answers the next recording stores, or "" (none, or the prompt was edited).
  QString task() const;
  QPushButton* record_button() const { return record_; }

 public slots:
  void start();
  void cancel();

 signals:
  void session_created(QString path);      // the file exists: open it to watch live
  void finished(QString path, bool ok, QString message);
  void log(QString line);

 private slots:
  void on_progress(qint64 step, qint64 planned, qint64 tokens, double tokens_per_s, double mb);
  void on_done(bool ok, QString message);

 private:
  void refresh_models();
  void describe_model();
  void describe_task();
  void add_more_model(const QString& path, bool checked);  // a row of "Also record"
  QStringList checked_models() const;    // ticked under "Also record"
  QStringList models_to_record() const;  // the Model field's, then the ticked ones
  void save_settings() const;
  void load_settings();

  QComboBox* model_;
  QLabel* plugin_;
  QLineEdit* plugin_options_;
  QComboBox* kv_policy_;
  QListWidget* more_models_;
  QComboBox* preset_;
  QLabel* task_label_;
  QPlainTextEdit* prompt_;
  QSpinBox* tokens_;
  QSpinBox* threads_;
  QDoubleSpinBox* temperature_;
  QCheckBox* ignore_eos_;
  QCheckBox* captures_[6];
  QLineEdit* output_;
  QLineEdit* label_;
  QPushButton* record_;
  QPushButton* cancel_;
  QProgressBar* progress_;
  QLabel* status_;
  std::optional<tasks::TaskPrompt> task_;  // from the preset, while the prompt is its text
  std::thread worker_;
  std::atomic<bool> cancel_flag_{false};
  bool announced_ = false;
};

}  // namespace mnemo::gui
