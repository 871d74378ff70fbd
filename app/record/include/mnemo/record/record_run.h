// Records one generation (or one encoder pass) into a session: the loop behind `mnemo record`
// and the app's Record panel.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "mnemo/profiler/session/recorder.h"
#include "mnemo/record/capture.h"
#include "mnemo/runtime/model.h"
#include "mnemo/runtime/sampler.h"
#include "mnemo/tasks/task_set.h"

namespace mnemo::record {

struct RecordRequest {
  std::string session_path;
  std::string prompt;
  int64_t n_new = 64;  // decoders: tokens to generate
  rt::SamplingParams sampling;
  bool ignore_eos = false;
  Captures captures;
  std::optional<int64_t> max_bytes;
  std::string label;
  // A task prompt (its text is `prompt`): fed as the task models were trained, without the
  // tokenizer's special tokens, and after the recorded generation each answer is scored (the
  // logits before it, fed in segments as `mnemo eval` does) and stored with the run.
  std::optional<tasks::TaskPrompt> task;
  int pyramid_first_level = 3;
  profiler::FactorDtype factor_dtype = profiler::FactorDtype::F32;  // of the stored q and k
  // When the engine's pool fills every core, the session writer borrows one of them between
  // kernels (ThreadPool::borrow_core) instead of preempting an engine thread mid-kernel.
  bool lend_core_to_writer = true;
  const std::atomic<bool>* cancel = nullptr;  // set to stop after the current step
};

struct RecordProgress {
  int64_t step = 0;           // the step just committed to the queue
  int64_t planned_steps = 0;  // steps the run will take if it does not stop early
  int64_t tokens = 0;         // positions run so far
  double tokens_per_s = 0;    // of the last step (prefill: prompt tokens/s)
  double mb_written = 0;
  double eta_s = 0;
};

struct RecordResult {
  int64_t run_id = 0;
  int64_t steps = 0, tokens = 0, generated = 0;
  std::string generated_text;
  int64_t wall_ns = 0;
  int64_t prefill_ns = 0;  // of wall_ns: the first forward (the prompt), its probes included
  int64_t closing_ns = 0;  // of wall_ns: after the model's last step, until the file was closed
  profiler::RecorderStats stats;
  bool cancelled = false;
  std::vector<profiler::AnswerRecord> answers;  // of a task prompt, as stored
};

// Throws UsageError for a request the model cannot serve, SessionError when the session cannot be
// written (after keeping everything committed), Error for a failed forward pass (the run is then
// marked finished with that error).
RecordResult record_run(rt::Model& model, const RecordRequest& request,
                        const std::function<void(const RecordProgress&)>& on_progress = {});

// The machine description stored with every run: CPU, cores, threads, kernel level, libraries.
std::string machine_json(rt::Model& model);

}  // namespace mnemo::record
