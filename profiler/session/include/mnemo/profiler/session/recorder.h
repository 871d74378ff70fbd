// The recorder: a dedicated writer thread behind a bounded queue. Producers (the engine's probe
// callbacks, through an adapter) submit records and per-layer attention captures; the writer
// thread turns captures into factor rows, per-head metrics and pyramid tiles, writes everything
// in batched transactions and commits ended steps together, at most commit_interval_ms after
// they end (the prefill at once), so a killed process loses at most the steps of the last
// interval. Producers wait only when the queue is full (back-pressure, counted).
//
// A byte budget degrades the recording instead of failing it: past 80% of the budget pyramid
// tiles are dropped, past 90% the attention factors too (metrics stay), past 100% everything but
// steps, tokens, counters and KV occupancy. Each degradation is recorded in the run's
// degraded_json with the step where it began.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "mnemo/profiler/session/records.h"

namespace mnemo {
class ThreadPool;
}

namespace mnemo::profiler {

// One layer's attention at one step, as the engine computed it (layouts as the engine's probe).
struct AttentionCapture {
  int64_t step = 0;
  int32_t layer = 0;
  int64_t q_pos0 = 0, n_q = 0, n_k = 0;
  int32_t n_heads = 0, n_kv_heads = 0, head_dim = 0;
  AttentionMask mask = AttentionMask::Causal;
  int64_t window = 0;
  float scale = 1.f;
  FactorData q;            // [n_heads][n_q][head_dim] fp32 or fp16, post-RoPE (head-major, as stored)
  std::vector<float> lse;  // [n_heads][n_q]
  int64_t k_pos0 = 0;      // keys below were appended this step: positions k_pos0 .. n_k-1
  FactorData k;            // [n_kv_heads][n_k - k_pos0][head_dim], the same dtype as q
  // What the engine's attention kernel gathered on the way, so the writer need not recompute the
  // scores; each empty when not gathered (the writer then recomputes from the factors).
  // Per row, [n_heads][n_q]: entropy (nats), mean distance, sink mass, effective keys (1/Σp²).
  std::vector<float> entropy, mean_distance, sink, effective_keys;
  // This step's rows pooled over 4 × 4 cells, [n_heads][ceil(n_q/4)][ceil(n_k/4)]: max and sum of
  // p. Used for the pyramid when the step starts the map (q_pos0 == 0).
  std::vector<float> pooled_max, pooled_sum;
};

struct RecorderOptions {
  int64_t max_queue_bytes = int64_t{256} << 20;
  std::optional<int64_t> max_bytes;  // the session's budget for this run
  bool attention_factors = true;     // q/k/lse rows
  // What the producer should convert q and k to (AttentionCapture::q/k): fp32 keeps recomputed
  // scores equal to the engine's; fp16 halves their bytes (docs/SESSION_FORMAT.md, "Exactness").
  FactorDtype factor_dtype = FactorDtype::F32;
  bool head_metrics = true;
  bool pyramids = true;
  int pyramid_first_level = 3;       // lower levels are pooled on request from the factors
  TileCodec tile_codec = TileCodec::ZstdF16;
  int64_t commit_interval_ms = 100;  // ended steps are committed together at most this late
  int64_t commit_bytes = int64_t{8} << 20;  // a step writing more commits every this many bytes
  // The engine's pool, when it fills every core: the writer then works only on a core the pool
  // lends it between parts (ThreadPool::borrow_core) instead of preempting an engine thread in
  // the middle of one. The engine must run the pool from the thread that constructs the
  // recorder (ThreadPool::pin_lender keeps that thread off the lent CPU until finish()). Must
  // outlive the recorder's finish().
  ThreadPool* borrow_core_from = nullptr;
};

struct RecorderStats {
  int64_t steps_committed = 0;
  int64_t bytes_written = 0;        // payload estimate of what was written
  int64_t file_bytes = 0;           // the file and its log on disk, at the last commit
  int64_t records_written = 0;
  int64_t records_dropped = 0;      // by the byte budget
  int64_t backpressure_waits = 0;   // submits that found the queue full
  int64_t backpressure_ns = 0;      // time producers spent waiting
  int64_t peak_queue_bytes = 0;
  int64_t writer_cpu_ns = 0;        // CPU time of the writer thread (analysis, encoding, SQLite)
  int64_t core_loans = 0;           // times the writer borrowed a core from the engine's pool
};

class Recorder {
 public:
  // Opens (or creates) the session and inserts the run; throws SessionError when it cannot.
  Recorder(const std::string& path, const RunInfo& run, RecorderOptions options = {});
  ~Recorder();  // finishes with an error note if finish() was not called

  int64_t run_id() const { return run_id_; }

  void submit(Record r);
  // Many records as one queue item: what a producer gathers over a step (op timings, KV rows)
  // costs one lock and one wake-up instead of one per record.
  void submit(std::vector<Record> records);
  void submit(AttentionCapture a);
  // Several captures as one queue item (a decode step's layers), processed in order.
  void submit(std::vector<AttentionCapture> captures);

  // Buffers for captures (sized n, contents unspecified), recycled by the writer thread once a
  // capture is written: a steady recording allocates and page-faults nothing per step.
  std::vector<uint16_t> take_half_buffer(size_t n);
  static int64_t capture_size(const AttentionCapture& a);  // what it counts against the queue
  std::vector<float> take_float_buffer(size_t n);
  // A factor buffer of the recording's factor dtype (RecorderOptions::factor_dtype), sized n.
  FactorData take_factor_buffer(size_t n);
  FactorDtype factor_dtype() const;
  void end_step(int64_t step);  // the step is complete: committed within commit_interval_ms

  // Whether a step whose rows q_pos0 .. q_pos0+n_q-1 see n_k keys gets pyramid tiles built from
  // the engine's 4×4 cells (AttentionCapture::pooled_max/sum): what an adapter asks the engine for.
  bool wants_pooled_cells(int64_t q_pos0, int64_t n_q, int64_t n_k) const;

  // Waits for the queue to drain, marks the run finished (with `error` unless empty), builds the
  // level-of-detail tables and closes the file. Throws SessionError when the recording had failed
  // (disk full, write error) after keeping everything committed before it.
  void finish(const std::string& error = "");

  // Set when a write failed: the recording stopped, later submissions are discarded.
  bool failed() const { return failed_.load(); }
  std::string failure() const;
  RecorderStats stats() const;

 private:
  struct StepEnd {
    int64_t step;
  };
  struct Finish {
    std::string error;
  };
  using Item = std::variant<Record, std::vector<Record>, AttentionCapture, std::vector<AttentionCapture>, StepEnd, Finish>;
  struct Impl;

  void push(Item item, int64_t bytes);
  void writer_loop();

  std::unique_ptr<Impl> impl_;
  int64_t run_id_ = 0;
  std::atomic<bool> failed_{false};
  std::thread thread_;
  bool finished_ = false;
};

}  // namespace mnemo::profiler
