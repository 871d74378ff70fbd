#include "record_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QCoreApplication>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QVBoxLayout>

#include <nlohmann/json.hpp>

#include "mnemo/core/error.h"
#include "mnemo/core/thread_pool.h"
#include "mnemo/io/model_file.h"
#include "mnemo/record/record_run.h"
#include "mnemo/runtime/model.h"
#include "mnemo/runtime/plugin_registry.h"
#include "mnemo/tasks/task_set.h"
#include "resources.h"

namespace mnemo::gui {
namespace {

const char* kCaptureNames[6] = {"attention", "metrics", "pyramids", "kv", "ops", "memory"};

}  // namespace

QStringList RecordPanel::discover_models() {
  QStringList found;
  for (const QString& dir : model_dirs()) {
    QDir d(dir);
    for (const QFileInfo& f : d.entryInfoList(QDir::Files | QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name)) {
      const bool gguf = f.isFile() && f.suffix().compare("gguf", Qt::CaseInsensitive) == 0;
      const bool hf = f.isDir() && QFileInfo::exists(f.filePath() + "/config.json");
      if ((gguf || hf) && !found.contains(f.absoluteFilePath())) found << f.absoluteFilePath();
    }
  }
  return found;
}

RecordPanel::RecordPanel(QWidget* parent) : QWidget(parent) {
  auto* form = new QFormLayout;
  model_ = new QComboBox;
  model_->setEditable(true);
  model_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  auto* browse = new QPushButton("…");
  browse->setToolTip("Pick a GGUF file or a Hugging Face folder");
  auto* model_row = new QHBoxLayout;
  model_row->addWidget(model_, 1);
  model_row->addWidget(browse);
  form->addRow("Model", model_row);
  more_models_ = new QListWidget;
  more_models_->setToolTip("Each ticked model is recorded after the one above, on the same prompt, as another run "
                           "of the session (to compare them side by side)");
  more_models_->setMaximumHeight(110);
  form->addRow("Also record", more_models_);
  plugin_ = new QLabel;
  plugin_->setWordWrap(true);
  plugin_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  form->addRow("Plugin", plugin_);
  plugin_options_ = new QLineEdit("{}");
  plugin_options_->setToolTip("Options passed to the architecture plugin, as JSON");
  form->addRow("Plugin options", plugin_options_);
  kv_policy_ = new QComboBox;
  kv_policy_->addItem("full cache (no eviction)");
  kv_policy_->setToolTip("KV-cache policies come with the KV-policy plugins; the engine keeps every key today");
  form->addRow("KV policy", kv_policy_);

  preset_ = new QComboBox;
  preset_->addItem("(custom)");
  for (const QString& p : prompt_presets()) preset_->addItem(QFileInfo(p).completeBaseName(), p);
  form->addRow("Preset", preset_);
  task_label_ = new QLabel;
  task_label_->setWordWrap(true);
  form->addRow("Task", task_label_);
  prompt_ = new QPlainTextEdit;
  prompt_->setPlaceholderText("The prompt");
  prompt_->setMinimumHeight(80);
  form->addRow("Prompt", prompt_);

  tokens_ = new QSpinBox;
  tokens_->setRange(0, 100000);
  tokens_->setValue(32);
  threads_ = new QSpinBox;
  threads_->setRange(0, ThreadPool::max_threads());  // as mnemo --threads
  threads_->setSpecialValueText("all cores");
  temperature_ = new QDoubleSpinBox;
  temperature_->setRange(0, 5);
  temperature_->setSingleStep(0.1);
  ignore_eos_ = new QCheckBox("past end-of-text");
  ignore_eos_->setToolTip("Keep generating after the end-of-sequence token");
  auto* gen_grid = new QGridLayout;
  gen_grid->addWidget(new QLabel("tokens"), 0, 0);
  gen_grid->addWidget(tokens_, 0, 1);
  gen_grid->addWidget(ignore_eos_, 0, 2);
  gen_grid->addWidget(new QLabel("threads"), 1, 0);
  gen_grid->addWidget(threads_, 1, 1);
  gen_grid->addWidget(new QLabel("temperature"), 2, 0);
  gen_grid->addWidget(temperature_, 2, 1);
  form->addRow("Generate", gen_grid);

  auto* cap_grid = new QGridLayout;
  for (int i = 0; i < 6; ++i) {
    captures_[i] = new QCheckBox(kCaptureNames[i]);
    captures_[i]->setChecked(true);
    cap_grid->addWidget(captures_[i], i / 3, i % 3);
  }
  form->addRow("Capture", cap_grid);
  output_ = new QLineEdit(QDir::home().filePath("mnemoscope/session.mnemo"));
  auto* out_browse = new QPushButton("…");
  auto* out_row = new QHBoxLayout;
  out_row->addWidget(output_, 1);
  out_row->addWidget(out_browse);
  form->addRow("Session", out_row);
  label_ = new QLineEdit;
  label_->setPlaceholderText("a name for the run (optional)");
  form->addRow("Label", label_);

  record_ = new QPushButton("Record");
  record_->setDefault(true);
  cancel_ = new QPushButton("Cancel");
  cancel_->setEnabled(false);
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(record_);
  buttons->addWidget(cancel_);
  progress_ = new QProgressBar;
  progress_->setRange(0, 100);
  progress_->setValue(0);
  status_ = new QLabel("Idle");
  status_->setWordWrap(true);

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form);
  layout->addLayout(buttons);
  layout->addWidget(progress_);
  layout->addWidget(status_);
  layout->addStretch(1);

  connect(browse, &QPushButton::clicked, this, [this] {
    const QString f = QFileDialog::getOpenFileName(this, "Model", QString(), "Models (*.gguf config.json);;All files (*)");
    if (!f.isEmpty()) set_model(QFileInfo(f).fileName() == "config.json" ? QFileInfo(f).absolutePath() : f);
  });
  connect(out_browse, &QPushButton::clicked, this, [this] {
    const QString f = QFileDialog::getSaveFileName(this, "Session", output_->text(), "Sessions (*.mnemo)",
                                                   nullptr, QFileDialog::DontConfirmOverwrite);
    if (!f.isEmpty()) output_->setText(f);
  });
  connect(model_, &QComboBox::currentTextChanged, this, [this] { describe_model(); });
  connect(preset_, &QComboBox::currentIndexChanged, this, [this](int i) {
    if (i <= 0) return;
    const QString path = preset_->itemData(i).toString();
    if (path.endsWith(".task.json")) {
      try {
        task_ = tasks::load_task_prompt(path.toStdString());
        prompt_->setPlainText(QString::fromStdString(task_->example.text));
      } catch (const std::exception& e) {
        task_.reset();
        status_->setText(QString("Cannot use the task prompt: %1").arg(e.what()));
      }
      describe_task();
      return;
    }
    QFile f(path);
    if (f.open(QIODevice::ReadOnly)) prompt_->setPlainText(QString::fromUtf8(f.readAll()));
  });
  connect(prompt_, &QPlainTextEdit::textChanged, this, [this] { describe_task(); });
  connect(record_, &QPushButton::clicked, this, &RecordPanel::start);
  connect(cancel_, &QPushButton::clicked, this, &RecordPanel::cancel);
  refresh_models();
  load_settings();
  describe_model();
  describe_task();
}

RecordPanel::~RecordPanel() {
  cancel_flag_.store(true);
  if (worker_.joinable()) worker_.join();
  save_settings();
}

void RecordPanel::refresh_models() {
  const QString current = model_->currentText();
  model_->clear();
  more_models_->clear();
  for (const QString& m : discover_models()) {
    model_->addItem(QFileInfo(m).fileName(), m);
    add_more_model(m, false);
  }
  if (!current.isEmpty()) set_model(current);
}

void RecordPanel::add_more_model(const QString& path, bool checked) {
  auto* item = new QListWidgetItem(QFileInfo(path).fileName(), more_models_);
  item->setData(Qt::UserRole, path);
  item->setToolTip(path);
  item->setFlags(item->flags() | Qt::ItemIsUserCheckable);
  item->setCheckState(checked ? Qt::Checked : Qt::Unchecked);
}

void RecordPanel::set_more_models(const QStringList& paths) {
  for (int i = 0; i < more_models_->count(); ++i) {
    QListWidgetItem* item = more_models_->item(i);
    item->setCheckState(paths.contains(item->data(Qt::UserRole).toString()) ? Qt::Checked : Qt::Unchecked);
  }
  for (const QString& p : paths) {
    bool listed = false;
    for (int i = 0; i < more_models_->count() && !listed; ++i) listed = more_models_->item(i)->data(Qt::UserRole) == p;
    if (!listed) add_more_model(p, true);
  }
}

QStringList RecordPanel::checked_models() const {
  QStringList out;
  for (int i = 0; i < more_models_->count(); ++i)
    if (more_models_->item(i)->checkState() == Qt::Checked) out << more_models_->item(i)->data(Qt::UserRole).toString();
  return out;
}

QStringList RecordPanel::models_to_record() const {
  QStringList models;
  const QString first = model_->currentData().isValid() ? model_->currentData().toString() : model_->currentText();
  if (!first.isEmpty()) models << first;
  for (const QString& path : checked_models())
    if (!models.contains(path)) models << path;
  return models;
}

bool RecordPanel::set_preset(const QString& path) {
  const int i = preset_->findData(QFileInfo(path).absoluteFilePath());
  if (i < 0) return false;
  preset_->setCurrentIndex(i);
  return true;
}

QString RecordPanel::task() const { return task_ ? QString::fromStdString(task_->task) : QString(); }

void RecordPanel::describe_task() {
  if (task_ && prompt_->toPlainText().toStdString() != task_->example.text) task_.reset();  // edited: no answers
  if (!task_) {
    task_label_->setText("none (a task prompt preset, *.task.json, stores each model's answers with the run)");
    return;
  }
  task_label_->setText(QString("%1 at length %2: each run stores the model's prediction of the %3 answers (task "
                               "models only)")
                           .arg(QString::fromStdString(task_->task))
                           .arg(task_->length)
                           .arg(task_->example.answers.size()));
}

void RecordPanel::set_model(const QString& path) {
  const int i = model_->findData(path);
  if (i >= 0) model_->setCurrentIndex(i);
  else model_->setCurrentText(path);
}

void RecordPanel::set_prompt(const QString& text) { prompt_->setPlainText(text); }
void RecordPanel::set_output(const QString& path) { output_->setText(path); }
void RecordPanel::set_tokens(int n) { tokens_->setValue(n); }
void RecordPanel::set_ignore_eos(bool on) { ignore_eos_->setChecked(on); }

void RecordPanel::describe_model() {
  const QString path = model_->currentData().isValid() ? model_->currentData().toString() : model_->currentText();
  if (path.isEmpty()) {
    plugin_->setText("No model found under models/ (scripts/setup fetches the default ones)");
    return;
  }
  try {
    // Reads the header and metadata only (memory-mapped); no weights are touched.
    auto file = io::open_model(path.toStdString());
    const std::string arch = file->architecture();
    // The plugin that will run it: loaded, so that one claiming the architecture but failing to
    // load is not named (recording would pass over it too).
    const auto plugin = rt::PluginRegistry::discover().load_for(arch);
    const rt::PluginInfo& p = plugin->info();
    plugin_->setText(QString("%1 %2 serves %3").arg(QString::fromStdString(p.id), QString::fromStdString(p.version),
                                                    QString::fromStdString(arch)));
  } catch (const std::exception& e) {
    plugin_->setText(QString::fromStdString(e.what()));
  }
}

void RecordPanel::start() {
  if (recording()) return;
  const QStringList models = models_to_record();
  const QString out = output_->text().trimmed();
  QStringList caps;
  for (int i = 0; i < 6; ++i)
    if (captures_[i]->isChecked()) caps << kCaptureNames[i];
  record::RecordRequest req;
  rt::ModelOptions options;
  try {
    if (models.isEmpty()) throw UsageError("pick a model first");
    if (out.isEmpty()) throw UsageError("name the session file");
    if (prompt_->toPlainText().isEmpty()) throw UsageError("the prompt is empty");
    if (!nlohmann::json::accept(plugin_options_->text().toStdString()))
      throw UsageError("plugin options must be JSON, e.g. {}");
    options.plugin_options = plugin_options_->text().toStdString();
    options.threads = threads_->value();
    req.session_path = out.toStdString();
    req.prompt = prompt_->toPlainText().toStdString();
    req.n_new = tokens_->value();
    req.sampling.temperature = static_cast<float>(temperature_->value());
    req.ignore_eos = ignore_eos_->isChecked();
    req.captures = record::Captures::parse(caps.isEmpty() ? "none" : caps.join(",").toStdString());
    req.label = label_->text().toStdString();
    req.task = task_;
    req.cancel = &cancel_flag_;
  } catch (const std::exception& e) {
    status_->setText(QString("Cannot record: %1").arg(e.what()));
    emit log(status_->text());
    return;
  }
  QDir().mkpath(QFileInfo(out).absolutePath());
  save_settings();
  cancel_flag_.store(false);
  announced_ = false;
  record_->setEnabled(false);
  cancel_->setEnabled(true);
  progress_->setValue(0);
  status_->setText("Loading the model…");
  emit log(QString("recording %1 into %2").arg(models.join(", "), out));
  worker_ = std::thread([this, models, req, options] {
    QStringList done;
    QString failure;
    // One model at a time, each opened when its turn comes (one model's memory at a time).
    for (const QString& model : models) {
      record::RecordRequest r = req;
      if (models.size() > 1 && r.label.empty()) r.label = QFileInfo(model).fileName().toStdString();
      try {
        auto m = rt::Model::open(model.toStdString(), options, rt::PluginRegistry::discover());
        const auto result = record::record_run(*m, r, [this](const record::RecordProgress& p) {
          QMetaObject::invokeMethod(this, "on_progress", Qt::QueuedConnection, Q_ARG(qint64, p.step),
                                    Q_ARG(qint64, p.planned_steps), Q_ARG(qint64, p.tokens),
                                    Q_ARG(double, p.tokens_per_s), Q_ARG(double, p.mb_written));
        });
        const int64_t right = profiler::answers_right(result.answers);
        done << QString("run %1%2: %3 steps, %4 tokens in %5 s%6%7")
                    .arg(result.run_id)
                    .arg(r.label.empty() ? QString() : QString(" (%1)").arg(QString::fromStdString(r.label)))
                    .arg(result.steps)
                    .arg(result.tokens)
                    .arg(static_cast<double>(result.wall_ns) / 1e9, 0, 'f', 2)
                    .arg(r.task ? QString(", %1 of %2 answers right").arg(right).arg(result.answers.size()) : QString())
                    .arg(result.cancelled ? " (cancelled: what was recorded is kept)" : "");
        if (result.cancelled) break;
      } catch (const std::exception& e) {
        failure = QString("%1: %2").arg(QFileInfo(model).fileName(), QString::fromStdString(e.what()));
        break;
      }
    }
    const bool ok = failure.isEmpty();
    const QString message = ok ? done.join("; ") : (done.isEmpty() ? failure : done.join("; ") + "; then " + failure);
    QMetaObject::invokeMethod(this, "on_done", Qt::QueuedConnection, Q_ARG(bool, ok), Q_ARG(QString, message));
  });
}

void RecordPanel::cancel() {
  cancel_flag_.store(true);
  status_->setText("Cancelling after the current step…");
}

void RecordPanel::on_progress(qint64 step, qint64 planned, qint64 tokens, double tokens_per_s, double mb) {
  if (!announced_) {
    announced_ = true;
    emit session_created(output_->text().trimmed());
  }
  progress_->setValue(planned > 0 ? static_cast<int>(100 * (step + 1) / planned) : 0);
  status_->setText(QString("step %1 of %2 · %3 tokens · %4 tok/s · %5 MB")
                       .arg(step)
                       .arg(planned)
                       .arg(tokens)
                       .arg(tokens_per_s, 0, 'f', 1)
                       .arg(mb, 0, 'f', 1));
}

void RecordPanel::on_done(bool ok, QString message) {
  if (worker_.joinable()) worker_.join();
  record_->setEnabled(true);
  cancel_->setEnabled(false);
  if (ok) progress_->setValue(100);
  status_->setText(ok ? message : QString("Recording failed: %1").arg(message));
  emit log(status_->text());
  const QString out = output_->text().trimmed();
  if (!announced_ && QFileInfo::exists(out)) emit session_created(out);
  emit finished(out, ok, message);
}

void RecordPanel::save_settings() const {
  QSettings s;
  s.beginGroup("record");
  s.setValue("model", model_->currentData().isValid() ? model_->currentData().toString() : model_->currentText());
  s.setValue("prompt", prompt_->toPlainText());
  s.setValue("tokens", tokens_->value());
  s.setValue("threads", threads_->value());
  s.setValue("temperature", temperature_->value());
  s.setValue("ignore_eos", ignore_eos_->isChecked());
  s.setValue("output", output_->text());
  s.setValue("plugin_options", plugin_options_->text());
  s.setValue("more_models", checked_models());
  QStringList caps;
  for (int i = 0; i < 6; ++i)
    if (captures_[i]->isChecked()) caps << kCaptureNames[i];
  s.setValue("captures", caps);
}

void RecordPanel::load_settings() {
  QSettings s;
  s.beginGroup("record");
  if (s.contains("model")) set_model(s.value("model").toString());
  prompt_->setPlainText(s.value("prompt", "The capital of France is").toString());
  tokens_->setValue(s.value("tokens", 32).toInt());
  threads_->setValue(s.value("threads", 0).toInt());
  temperature_->setValue(s.value("temperature", 0.0).toDouble());
  ignore_eos_->setChecked(s.value("ignore_eos", false).toBool());
  if (s.contains("output")) output_->setText(s.value("output").toString());
  plugin_options_->setText(s.value("plugin_options", "{}").toString());
  // Only models still on disk come back ticked.
  QStringList more;
  for (const QString& m : s.value("more_models").toStringList())
    if (QFileInfo::exists(m)) more << m;
  set_more_models(more);
  if (s.contains("captures")) {
    const QStringList caps = s.value("captures").toStringList();
    for (int i = 0; i < 6; ++i) captures_[i]->setChecked(caps.contains(kCaptureNames[i]));
  }
}

}  // namespace mnemo::gui
