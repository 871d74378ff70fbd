#include "mnemo/viz/session_doc.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace mnemo::viz {
namespace {

RunData load_run(profiler::SessionReader& r, int64_t run_id) {
  RunData d;
  d.summary = r.run(run_id);
  d.tokens = r.tokens(run_id);
  d.steps = r.steps(run_id);
  d.answers = r.answers(run_id);
  d.heads = static_cast<int32_t>(d.summary.info.n_heads);
  for (int64_t l = 0; l < d.summary.info.n_layers; ++l) {
    try {
      d.heads = std::max(d.heads, r.layer(run_id, static_cast<int32_t>(l)).n_heads);
    } catch (const std::exception&) {
      // A layer the run does not describe (yet): the run's own count stands for it.
    }
  }
  return d;
}

}  // namespace

std::string RunData::token_text(int64_t position) const {
  if (position < 0 || position >= static_cast<int64_t>(tokens.size())) return {};
  return printable_token(tokens[static_cast<size_t>(position)].text);
}

std::string printable_token(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else out += static_cast<char>(c);
  }
  return out;
}

SessionDoc::SessionDoc(std::string path, TextureStore& textures)
    : worker_(std::make_unique<SessionWorker>(std::move(path))),
      tiles_(std::make_unique<TileCache>(*worker_, textures)) {
  request_runs();
}

SessionDoc::~SessionDoc() {
  tiles_.reset();   // textures first, while the store is alive
  worker_.reset();  // then the thread (it may still hold jobs that reference pendings only)
}

std::string SessionDoc::display_name() const { return std::filesystem::path(path()).filename().string(); }

void SessionDoc::request_runs() {
  runs_pending_ = worker_->compute<std::vector<profiler::RunSummary>>(
      Priority::Now, [](profiler::SessionReader& r) { return r.runs(); });
}

bool SessionDoc::loading() const { return !runs_loaded_ && !error_; }

bool SessionDoc::settled() const {
  if (loading() || runs_pending_ || !worker_->idle() || tiles_->loading() > 0) return false;
  for (const auto& [id, slot] : run_data_)
    if (slot.loading) return false;
  return true;
}

std::optional<std::string> SessionDoc::error() const {
  if (error_) return error_;
  if (worker_->open_failed()) return worker_->open_error();
  return std::nullopt;
}

const profiler::RunSummary* SessionDoc::run_summary(int64_t run_id) const {
  for (const auto& r : runs_)
    if (r.id == run_id) return &r;
  return nullptr;
}

bool SessionDoc::live() const {
  for (const auto& r : runs_)
    if (r.status != "complete" && !r.end_ns) return true;
  return false;
}

const RunData* SessionDoc::run(int64_t run_id) {
  RunSlot& slot = run_data_[run_id];
  if (!slot.data && !slot.loading) {
    slot.loading = worker_->compute<RunData>(Priority::Now, [run_id](profiler::SessionReader& r) { return load_run(r, run_id); });
  }
  return slot.data.get();
}

void SessionDoc::poll() {
  if (worker_->open_failed() && !error_) error_ = worker_->open_error();
  if (runs_pending_ && runs_pending_->ready()) {
    if (runs_pending_->failed()) {
      if (!runs_loaded_) error_ = runs_pending_->error();
    } else {
      runs_ = std::move(*runs_pending_->mutable_value());
      runs_loaded_ = true;
      ++generation_;
      // A run that grew or finished since its tokens and steps were read is read again (the
      // last refresh of a live run may have come before its final steps).
      for (auto& [id, slot] : run_data_) {
        const profiler::RunSummary* s = run_summary(id);
        if (s && slot.data && !slot.loading &&
            (s->n_steps != static_cast<int64_t>(slot.data->steps.size()) || s->status != slot.data->summary.status)) {
          const int64_t run_id = id;
          slot.loading = worker_->compute<RunData>(Priority::Visible,
                                                   [run_id](profiler::SessionReader& r) { return load_run(r, run_id); });
        }
      }
    }
    runs_pending_.reset();
  }
  for (auto& [id, slot] : run_data_) {
    if (slot.loading && slot.loading->ready()) {
      if (!slot.loading->failed()) {
        const uint64_t g = slot.data ? slot.data->generation + 1 : 1;
        slot.data = std::make_unique<RunData>(std::move(*slot.loading->mutable_value()));
        slot.data->generation = g;
        ++generation_;
      }
      slot.loading.reset();
    }
  }
  // A recording in progress: re-read the run list and the loaded runs that are not finished.
  const auto now = std::chrono::steady_clock::now();
  if (runs_loaded_ && live() && !runs_pending_ && now - last_refresh_ >= refresh_every_) {
    last_refresh_ = now;
    request_runs();
    for (auto& [id, slot] : run_data_) {
      const profiler::RunSummary* s = run_summary(id);
      if (slot.data && !slot.loading && s && s->status != "complete" && !s->end_ns) {
        const int64_t run_id = id;
        slot.loading = worker_->compute<RunData>(Priority::Visible, [run_id](profiler::SessionReader& r) { return load_run(r, run_id); });
      }
    }
  }
}

}  // namespace mnemo::viz
