// One open session file as the canvases see it: a worker thread with its own reader, the runs
// and their tokens and steps loaded in the background, and the attention tile cache. While a
// recording appends to the file, poll() refreshes the runs that are still incomplete.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mnemo/profiler/session/session_reader.h"
#include "mnemo/viz/session_worker.h"
#include "mnemo/viz/tile_cache.h"

namespace mnemo::viz {

struct RunData {
  profiler::RunSummary summary;
  std::vector<profiler::TokenRecord> tokens;  // by position
  std::vector<profiler::StepRecord> steps;    // by step
  std::vector<profiler::AnswerRecord> answers;  // a task prompt's answers and the model's predictions
  uint64_t generation = 0;  // bumped at every reload (the recording added steps)
  // Heads to offer: the most of any layer (_layer), or the run's n_heads when that is more. A
  // model's layers may differ (a hybrid's softmax layers have more heads than its recurrent ones)
  // and a recurrent run may not state a run-wide count (Mamba-1: one head per layer, n_heads 0).
  int32_t heads = 0;

  int64_t last_step() const { return steps.empty() ? -1 : steps.back().step; }
  // The token text at a position, printable (control bytes escaped), or "" when unknown.
  std::string token_text(int64_t position) const;
};

// A token's bytes with control bytes escaped (\n, \t, \xNN), for drawing.
std::string printable_token(const std::string& bytes);

class SessionDoc {
 public:
  SessionDoc(std::string path, TextureStore& textures);
  ~SessionDoc();

  const std::string& path() const { return worker_->path(); }
  std::string display_name() const;  // the file name
  SessionWorker& worker() { return *worker_; }
  TileCache& tiles() { return *tiles_; }

  // Once per frame on the UI thread: takes finished loads, refreshes live runs.
  void poll();

  bool loading() const;                        // the run list is not in yet
  std::optional<std::string> error() const;    // why the file cannot be shown
  const std::vector<profiler::RunSummary>& runs() const { return runs_; }
  const profiler::RunSummary* run_summary(int64_t run_id) const;
  // The run's tokens and steps, or nullptr while they load (requested on first call).
  const RunData* run(int64_t run_id);
  bool live() const;  // some run is still being recorded
  // Nothing is being read, and nothing read is waiting for poll() to take it. A finished load
  // leaves the worker idle before poll() takes it: only this says the views have all they asked for.
  bool settled() const;
  uint64_t generation() const { return generation_; }  // bumped when anything reloaded

  // How often incomplete runs are re-read.
  void set_refresh_interval(std::chrono::milliseconds ms) { refresh_every_ = ms; }

 private:
  struct RunSlot {
    std::unique_ptr<RunData> data;
    PendingPtr<RunData> loading;
  };
  void request_runs();

  std::unique_ptr<SessionWorker> worker_;
  std::unique_ptr<TileCache> tiles_;
  std::vector<profiler::RunSummary> runs_;
  bool runs_loaded_ = false;
  PendingPtr<std::vector<profiler::RunSummary>> runs_pending_;
  std::map<int64_t, RunSlot> run_data_;
  std::optional<std::string> error_;
  std::chrono::steady_clock::time_point last_refresh_ = std::chrono::steady_clock::now();
  std::chrono::milliseconds refresh_every_{500};
  uint64_t generation_ = 0;
};

}  // namespace mnemo::viz
