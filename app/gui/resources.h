// Where the app finds what ships beside it: sample and task prompts and model folders, looked up next to
// the working directory and next to the binary (build/bin/ → the source tree's assets/ and models/).
#pragma once

#include <QStringList>

namespace mnemo::gui {

QStringList model_dirs();      // existing directories that may hold models (models/, assets/models/)
QStringList prompt_presets();  // assets/prompts/*.txt and *.task.json (task prompts), sorted

}  // namespace mnemo::gui
