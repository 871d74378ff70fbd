#include "resources.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>

namespace mnemo::gui {
namespace {

QStringList roots() {
  QStringList r;
  const QString exe = QCoreApplication::applicationDirPath();
  for (const QString& root : {QDir::currentPath(), exe + "/../..", exe + "/..", exe + "/../share/mnemoscope"}) {
    const QString c = QDir(root).canonicalPath();
    if (!c.isEmpty() && !r.contains(c)) r << c;
  }
  return r;
}

}  // namespace

QStringList model_dirs() {
  QStringList dirs;
  const QByteArray env = qgetenv("MNEMO_MODELS_DIR");
  if (!env.isEmpty()) dirs << QString::fromLocal8Bit(env);
  // models/ holds what scripts/setup fetches; assets/models/ the trained task models.
  for (const QString& root : roots())
    for (const QString& dir : {root + "/models", root + "/assets/models"})
      if (QFileInfo(dir).isDir() && !dirs.contains(dir)) dirs << dir;
  return dirs;
}

QStringList prompt_presets() {
  for (const QString& root : roots()) {
    QDir d(root + "/assets/prompts");
    if (!d.exists()) continue;
    QStringList out;
    for (const QFileInfo& f : d.entryInfoList({"*.txt", "*.task.json"}, QDir::Files, QDir::Name))
      out << f.absoluteFilePath();
    return out;
  }
  return {};
}

}  // namespace mnemo::gui
