// The Record panel: pick a model (those found under models/), see which architecture plugin
// serves it, write or pick a prompt, choose what to capture, and record into a session off the
// UI thread. The session opens in the workspace as soon as its file exists, so the views fill in
// while the recording runs.
#pragma once

#include <QWidget>

#include <atomic>
#include <memory>
#include <thread>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
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
  void save_settings() const;
  void load_settings();

  QComboBox* model_;
  QLabel* plugin_;
  QLineEdit* plugin_options_;
  QComboBox* kv_policy_;
  QComboBox* preset_;
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
  std::thread worker_;
  std::atomic<bool> cancel_flag_{false};
  bool announced_ = false;
};

}  // namespace mnemo::gui
