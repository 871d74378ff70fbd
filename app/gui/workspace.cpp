#include "workspace.h"

#include <filesystem>

#include "gl_texture_store.h"

namespace mnemo::gui {

Workspace::Workspace() {
  // Also when no canvas is painting: the Sessions panel lists runs as they load.
  connect(&poll_timer_, &QTimer::timeout, this, &Workspace::poll);
  poll_timer_.start(100);
}

Workspace::~Workspace() = default;

viz::SessionDoc* Workspace::find(const std::string& path) const {
  std::error_code ec;
  const auto want = std::filesystem::weakly_canonical(path, ec);
  for (const auto& d : docs_)
    if (std::filesystem::weakly_canonical(d->path(), ec) == want) return d.get();
  return nullptr;
}

viz::SessionDoc* Workspace::open(const std::string& path) {
  if (viz::SessionDoc* d = find(path)) return d;
  docs_.push_back(std::make_unique<viz::SessionDoc>(path, shared_textures()));
  seen_generation_.push_back(0);
  return docs_.back().get();
}

void Workspace::close(viz::SessionDoc* doc) {
  for (viz::ViewState* vs : {&primary_, &secondary_})
    if (vs->doc == doc) vs->doc = nullptr, vs->run = -1;
  for (size_t i = 0; i < docs_.size(); ++i)
    if (docs_[i].get() == doc) {
      docs_.erase(docs_.begin() + static_cast<long>(i));
      seen_generation_.erase(seen_generation_.begin() + static_cast<long>(i));
      break;
    }
  emit runs_changed();
}

void Workspace::show_run(viz::SessionDoc* doc, int64_t run, bool secondary_side) {
  viz::ViewState& vs = secondary_side ? secondary_ : primary_;
  vs.doc = doc;
  vs.run = run;
  vs.step = -1;
  if (const auto* s = doc ? doc->run_summary(run) : nullptr) {
    if (vs.layer >= s->info.n_layers) vs.layer = 0;
    if (vs.head >= s->info.n_heads) vs.head = 0;
  }
}

void Workspace::poll() {
  std::vector<std::pair<QString, QString>> failed;
  for (size_t i = 0; i < docs_.size(); ++i) {
    viz::SessionDoc& d = *docs_[i];
    d.poll();
    if (auto why = d.error()) failed.emplace_back(QString::fromStdString(d.path()), QString::fromStdString(*why));
    if (d.generation() != seen_generation_[i]) {
      seen_generation_[i] = d.generation();
      // The first side with nothing to show gets the first run of the first session that has one.
      if (!primary_.has_run() && !d.runs().empty()) show_run(&d, d.runs().front().id);
      emit runs_changed();
    }
  }
  for (const auto& [path, why] : failed) {
    if (viz::SessionDoc* d = find(path.toStdString())) close(d);
    emit open_failed(path, why);
  }
}

void Workspace::begin_frame() {
  poll();
  for (const auto& d : docs_) d->tiles().begin_frame();
}

void Workspace::end_frame() {
  for (const auto& d : docs_) d->tiles().end_frame();
}

bool Workspace::settled() const {
  for (const auto& d : docs_)
    if (!d->settled()) return false;
  return true;
}

}  // namespace mnemo::gui
