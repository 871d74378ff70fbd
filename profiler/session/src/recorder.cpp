#include "mnemo/profiler/session/recorder.h"

#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <map>

#include <nlohmann/json.hpp>

#include "mnemo/core/thread_pool.h"
#include "mnemo/profiler/session/attention_math.h"
#include "mnemo/profiler/session/session_file.h"
#include "mnemo/profiler/session/session_writer.h"
#include "layer_factors.h"
#include "sync_notifying_vfs.h"

namespace mnemo::profiler {
namespace {

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

int64_t capture_bytes(const AttentionCapture& a) {
  const size_t floats = a.lse.size() + a.entropy.size() + a.mean_distance.size() + a.sink.size() + a.effective_keys.size() +
                        a.pooled_max.size() + a.pooled_sum.size();
  const auto bytes = [](const FactorData& d) { return value_count(d) * (dtype_of(d) == FactorDtype::F32 ? 4 : 2); };
  return static_cast<int64_t>(bytes(a.q) + bytes(a.k) + floats * 4) + 128;
}

// What the budget lets through, from most to least: everything; no pyramid tiles; no attention
// factors either; only the run's skeleton (steps, tokens, counters, KV occupancy).
enum class Tier { Full = 0, NoTiles, NoFactors, Skeleton };

template <class T>
bool allowed(Tier tier) {
  if (tier == Tier::Full) return true;
  if (std::is_same_v<T, PyramidTileRecord>) return false;
  if (tier == Tier::NoTiles) return true;
  if (std::is_same_v<T, MixerFactorRecord> || std::is_same_v<T, StateMatrixRecord>) return false;
  if (tier == Tier::NoFactors) return true;
  return std::is_same_v<T, StepRecord> || std::is_same_v<T, TokenRecord> || std::is_same_v<T, CounterRecord> ||
         std::is_same_v<T, KvRecord> || std::is_same_v<T, AnswerRecord>;
}

const char* tier_dropped(Tier t) {
  switch (t) {
    case Tier::NoTiles: return "pyramid tiles (overview levels are pooled on request from the factors)";
    case Tier::NoFactors: return "attention factors and pyramid tiles (per-head metrics kept)";
    case Tier::Skeleton: return "everything but steps, tokens, counters, KV occupancy and task answers";
    default: return "";
  }
}

// A head's metrics averaged over the step's rows, from the kernel's per-row statistics; `rows` are
// the step's query rows.
HeadMetrics metrics_from_kernel(const AttentionCapture& a, int h, std::span<const QueryRow> rows, const MaskSpec& mask) {
  HeadMetrics m;
  for (int64_t i = 0; i < a.n_q; ++i) {
    const size_t at = static_cast<size_t>(h * a.n_q + i);
    const QueryRow& row = rows[static_cast<size_t>(i)];
    const int64_t visible = std::max<int64_t>(0, std::min(mask.end(row), a.n_k) - mask.begin(row));
    m.entropy += a.entropy[at];
    m.mean_distance += a.mean_distance[at];
    m.sink_mass += a.sink[at];
    if (visible > 0) m.sparsity += sparsity_of(a.effective_keys[at], visible);
  }
  const double n = static_cast<double>(std::max<int64_t>(1, a.n_q));
  return {m.entropy / n, m.mean_distance / n, m.sink_mass / n, m.sparsity / n};
}

// Head h's slice of the kernel's 4×4 cells: level 2 of a map that this step starts.
PooledLevel level2_from_kernel(const AttentionCapture& a, int h) {
  PooledLevel base;
  base.level = 2, base.rows = (a.n_q + 3) / 4, base.cols = (a.n_k + 3) / 4;
  const auto from = static_cast<std::ptrdiff_t>(h * base.rows * base.cols), to = from + static_cast<std::ptrdiff_t>(base.rows * base.cols);
  base.max.assign(a.pooled_max.begin() + from, a.pooled_max.begin() + to);
  base.sum.assign(a.pooled_sum.begin() + from, a.pooled_sum.begin() + to);
  return base;
}

// The core the engine's pool lends the writer (RecorderOptions::borrow_core_from): held while
// there is work, given back before waiting for more and while SQLite waits in an fsync (a
// checkpoint's), so that the core does not idle. The writer runs on the lending worker's CPU
// (pinned by the Recorder for the recording's length): it is then woken where the lent core is,
// not beside an engine thread.
class CoreLoan final : public SyncListener {
 public:
  CoreLoan(ThreadPool* pool, std::atomic<int64_t>* loans) : pool_(pool), loans_(loans) {
    listen_to_syncs_on_this_thread(this);
    if (pool_) ThreadPool::pin_calling_thread(pool_->lender_cpu());
  }
  ~CoreLoan() override {
    listen_to_syncs_on_this_thread(nullptr);
    give_back();
  }
  CoreLoan(const CoreLoan&) = delete;
  CoreLoan& operator=(const CoreLoan&) = delete;

  bool held() const { return held_; }
  void take() {
    if (pool_ && !held_ && (held_ = pool_->borrow_core())) loans_->fetch_add(1, std::memory_order_relaxed);
  }
  void give_back() {
    if (held_) pool_->return_core();
    held_ = false;
  }
  void before_sync() override {
    held_before_sync_ = held_;
    give_back();
  }
  void after_sync() override {
    if (held_before_sync_) take();
  }

 private:
  ThreadPool* pool_;
  std::atomic<int64_t>* loans_;
  bool held_ = false, held_before_sync_ = false;
};

}  // namespace

struct Recorder::Impl {
  Db db;
  std::unique_ptr<SessionWriter> writer;
  RecorderOptions options;

  std::mutex mu;
  std::condition_variable not_empty, not_full;
  std::deque<std::pair<Item, int64_t>> queue;
  int64_t queued_bytes = 0;

  RecorderStats stats;  // guarded by mu
  std::atomic<int64_t> core_loans{0};
  std::string failure;  // guarded by mu
  Tier tier = Tier::Full;
  nlohmann::json degraded = nlohmann::json::array();
  int64_t current_step = 0;
  std::vector<LayerFactors> layers;
  std::vector<bool> described;  // per layer: its _layer row is written

  std::mutex pool_mu;
  // Buffers the writer handed back, by capacity: the engine takes the smallest that fits (a row
  // of statistics must not take the buffer a pooled map needs) in O(log n), while the engine
  // waits: a decode step takes ~8 per layer from a pool of hundreds.
  std::multimap<size_t, std::vector<uint16_t>> free_half;
  std::multimap<size_t, std::vector<float>> free_float;
  // At most this much is kept for reuse: decode steps' buffers, not an 8k prefill's.
  static constexpr size_t kPoolBytes = size_t{64} << 20;
  size_t pooled_bytes = 0;

  // The smallest pooled buffer of at least n elements, or an empty one; the caller sizes it.
  template <class T>
  std::vector<T> take(std::multimap<size_t, std::vector<T>>& pool, size_t n) {
    std::vector<T> v;
    if (const auto fit = pool.lower_bound(n); fit != pool.end()) {
      v = std::move(fit->second);
      pool.erase(fit);
      pooled_bytes -= v.capacity() * sizeof(T);
    }
    return v;
  }
  // take() under the pool's lock, then the buffer sized without it (see take_half_buffer).
  template <class T>
  std::vector<T> take_sized(std::multimap<size_t, std::vector<T>>& pool, size_t n) {
    std::vector<T> v;
    {
      std::lock_guard lock(pool_mu);
      v = take(pool, n);
    }
    v.resize(n);
    return v;
  }
  template <class T>
  void keep(std::multimap<size_t, std::vector<T>>& pool, std::vector<T>& v) {
    const size_t bytes = v.capacity() * sizeof(T);
    if (bytes == 0 || pooled_bytes + bytes > kPoolBytes) return;
    pooled_bytes += bytes;
    pool.emplace(v.capacity(), std::move(v));
  }
  void keep(FactorData& d) {
    if (auto* f = std::get_if<std::vector<float>>(&d)) keep(free_float, *f);
    else keep(free_half, std::get<std::vector<uint16_t>>(d));
  }
  void recycle(AttentionCapture& a) {
    std::lock_guard lock(pool_mu);
    keep(a.q);
    keep(a.k);
    for (auto* v : {&a.lse, &a.entropy, &a.mean_distance, &a.sink, &a.effective_keys, &a.pooled_max, &a.pooled_sum})
      keep(free_float, *v);
  }

  // True when the record went to the file; false when the byte budget dropped it.
  template <class T>
  bool write(const T& r) {
    const int64_t bytes = approx_bytes(r);
    if (options.max_bytes) {
      // Degrade before the budget is crossed, in tiers, so the run keeps its shape.
      const double used = static_cast<double>(stats.bytes_written + bytes) / static_cast<double>(*options.max_bytes);
      const Tier want = used > 1.0 ? Tier::Skeleton : used > 0.9 ? Tier::NoFactors : used > 0.8 ? Tier::NoTiles : Tier::Full;
      while (tier < want) {
        tier = static_cast<Tier>(static_cast<int>(tier) + 1);
        degraded.push_back({{"step", current_step}, {"dropped", tier_dropped(tier)}});
      }
      if (!allowed<T>(tier)) {
        std::lock_guard lock(mu);
        ++stats.records_dropped;
        return false;
      }
    }
    if (!writer->in_batch()) {
      writer->begin_batch();
      batch_bytes = 0;
    }
    writer->write(r);
    batch_bytes += bytes;
    // A long prefill commits along the way: its pages and their checkpoint are written while the
    // prefill computes, not all at once during the first decode steps. The step's own row comes
    // at its end, so a reader going by steps still sees whole steps only.
    if (batch_bytes >= options.commit_bytes) {
      writer->commit_batch();
      batch_bytes = 0;
    }
    std::lock_guard lock(mu);
    stats.bytes_written += bytes;
    ++stats.records_written;
    return true;
  }

  void process(AttentionCapture& a);
  // Cuts one pooled level of a head's map (map_rows × map_cols cells at level 0) into tiles.
  void write_tiles(const PooledLevel& lv, int32_t layer, int32_t head, int64_t step, int64_t map_rows, int64_t map_cols);

  // Commit point: everything up to the last ended step becomes durable and visible to readers.
  int64_t pending_step = -1;  // the newest ended step not yet committed
  int64_t batch_bytes = 0;    // written in the open transaction
  int64_t last_commit_ns = 0;
  void commit_steps() {
    if (pending_step >= 0) {
      // The throughput counter rides in the commit it describes.
      if (!writer->in_batch()) writer->begin_batch();
      writer->write(CounterRecord{"bytes_written", now_ns(), static_cast<double>(stats.bytes_written)});
    }
    if (writer->in_batch()) writer->commit_batch();
    last_commit_ns = now_ns();
    if (pending_step < 0) return;
    const int64_t file_bytes = writer->file_bytes();
    timespec cpu{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    std::lock_guard lock(mu);
    stats.writer_cpu_ns = int64_t{cpu.tv_sec} * 1000000000 + cpu.tv_nsec;
    stats.steps_committed = pending_step + 1;
    stats.file_bytes = file_bytes;
    pending_step = -1;
  }

  // On a lent core the writer starts on a batch, not on every item: the end of a step (or of the
  // run), or kLoanBatchBytes of captures. Each loan ends with the engine's worker coming back
  // late for the run in progress, whose parts the caller already took alone, so a prefill lent
  // out per layer lost about a part's time per layer.
  static constexpr int64_t kLoanBatchBytes = int64_t{8} << 20;
  int ends_queued = 0;  // StepEnd and Finish items in the queue; guarded by mu
  // Producers waiting for room in the queue (guarded by mu): the writer must start on what is
  // queued even short of a batch, or a capture bigger than the queue's room waits forever.
  int producers_waiting = 0;
  bool ready() const {
    return !queue.empty() &&
           (!options.borrow_core_from || ends_queued > 0 || queued_bytes >= kLoanBatchBytes || producers_waiting > 0);
  }
  static bool ends_something(const Item& item) {
    return std::holds_alternative<StepEnd>(item) || std::holds_alternative<Finish>(item);
  }

  // The queue's two ends, with mu held: the writer is woken when ready() says it should start.
  void enqueue(Item item, int64_t bytes) {
    queued_bytes += bytes;
    stats.peak_queue_bytes = std::max(stats.peak_queue_bytes, queued_bytes);
    if (ends_something(item)) ++ends_queued;
    queue.emplace_back(std::move(item), bytes);
    if (ready()) not_empty.notify_one();
  }
  Item dequeue() {
    Item item = std::move(queue.front().first);
    queued_bytes -= queue.front().second;
    queue.pop_front();
    if (ends_something(item)) --ends_queued;
    not_full.notify_all();
    return item;
  }

  // Waits until ready(); false when `timeout` (negative: none) passed first.
  bool wait_for_items(std::unique_lock<std::mutex>& lock, std::chrono::milliseconds timeout) {
    if (timeout.count() < 0) {
      not_empty.wait(lock, [&] { return ready(); });
      return true;
    }
    return not_empty.wait_for(lock, timeout, [&] { return ready(); });
  }
};

Recorder::Recorder(const std::string& path, const RunInfo& run, RecorderOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->db = open_session_for_recording(path);
  impl_->options = options;
  impl_->writer = std::make_unique<SessionWriter>(impl_->db);
  RunInfo info = run;
  if (options.max_bytes) info.max_bytes = options.max_bytes;
  run_id_ = impl_->writer->begin_run(info);
  // On this thread: pin_lender() keeps the thread that runs the engine off the lent CPU.
  if (options.borrow_core_from) options.borrow_core_from->pin_lender();
  try {
    thread_ = std::thread([this] { writer_loop(); });
  } catch (...) {
    if (options.borrow_core_from) options.borrow_core_from->unpin_lender();
    throw;
  }
}

Recorder::~Recorder() {
  if (!finished_) {
    try {
      finish("the recording was abandoned before it finished");
    } catch (...) {
    }
  }
}

void Recorder::push(Item item, int64_t bytes) {
  std::unique_lock lock(impl_->mu);
  if (failed_.load()) return;  // the writer stopped; nothing more reaches the file
  if (impl_->queued_bytes > 0 && impl_->queued_bytes + bytes > impl_->options.max_queue_bytes) {
    const int64_t t0 = now_ns();
    ++impl_->stats.backpressure_waits;
    ++impl_->producers_waiting;
    impl_->not_empty.notify_one();  // a writer waiting for a full batch starts now
    impl_->not_full.wait(lock, [&] {
      return impl_->queued_bytes == 0 || impl_->queued_bytes + bytes <= impl_->options.max_queue_bytes || failed_.load();
    });
    --impl_->producers_waiting;
    impl_->stats.backpressure_ns += now_ns() - t0;
  }
  impl_->enqueue(std::move(item), bytes);
}

void Recorder::submit(Record r) {
  const int64_t bytes = approx_bytes(r);
  push(std::move(r), bytes);
}

void Recorder::submit(std::vector<Record> records) {
  if (records.empty()) return;
  int64_t bytes = 0;
  for (const Record& r : records) bytes += approx_bytes(r);
  push(std::move(records), bytes);
}

void Recorder::submit(AttentionCapture a) {
  const int64_t bytes = capture_bytes(a);
  push(std::move(a), bytes);
}

void Recorder::submit(std::vector<AttentionCapture> captures) {
  if (captures.empty()) return;
  int64_t bytes = 0;
  for (const AttentionCapture& a : captures) bytes += capture_bytes(a);
  push(std::move(captures), bytes);
}

int64_t Recorder::capture_size(const AttentionCapture& a) { return capture_bytes(a); }

// The buffer is sized after the pool's lock is released: growing one (an 8k prefill's pooled map
// is ~276 MB, each page faulted in and zeroed) must not hold up the writer handing buffers back,
// which it does on a core the engine lent it.
std::vector<uint16_t> Recorder::take_half_buffer(size_t n) { return impl_->take_sized(impl_->free_half, n); }

std::vector<float> Recorder::take_float_buffer(size_t n) { return impl_->take_sized(impl_->free_float, n); }

FactorData Recorder::take_factor_buffer(size_t n) {
  if (impl_->options.factor_dtype == FactorDtype::F16) return take_half_buffer(n);
  return take_float_buffer(n);
}

FactorDtype Recorder::factor_dtype() const { return impl_->options.factor_dtype; }

void Recorder::end_step(int64_t step) { push(StepEnd{step}, 16); }

bool Recorder::wants_pooled_cells(int64_t q_pos0, int64_t n_q, int64_t n_k) const {
  const RecorderOptions& o = impl_->options;
  if (!o.pyramids || n_q <= 1 || q_pos0 != 0 || o.pyramid_first_level < 2) return false;
  const LevelRange levels = stored_levels(q_pos0 + n_q, n_k, o.pyramid_first_level);
  return levels.first <= levels.last;
}

std::string Recorder::failure() const {
  std::lock_guard lock(impl_->mu);
  return impl_->failure;
}

RecorderStats Recorder::stats() const {
  std::lock_guard lock(impl_->mu);
  RecorderStats s = impl_->stats;
  s.core_loans = impl_->core_loans.load(std::memory_order_relaxed);
  return s;
}

void Recorder::finish(const std::string& error) {
  if (finished_) return;
  finished_ = true;
  {
    // Bypasses the failed() check so the writer always sees the end.
    std::lock_guard lock(impl_->mu);
    impl_->enqueue(Finish{error}, 0);
  }
  thread_.join();
  if (impl_->options.borrow_core_from) impl_->options.borrow_core_from->unpin_lender();
  const std::string why = failure();
  if (!why.empty()) throw SessionError(impl_->db.path(), why);
}

void Recorder::writer_loop() {
  // Named so that profilers and top show which thread is the recorder's.
  pthread_setname_np(pthread_self(), "mnemo-recorder");
  Impl& m = *impl_;
  const auto interval = std::chrono::milliseconds(m.options.commit_interval_ms);
  CoreLoan loan(m.options.borrow_core_from, &m.core_loans);
  for (;;) {
    Item item;
    bool idle = false;
    {
      std::unique_lock lock(m.mu);
      if (m.queue.empty() && loan.held()) {
        lock.unlock();
        loan.give_back();
        lock.lock();
      }
      // Ended steps wait at most one commit interval, also when nothing else arrives. Holding the
      // core, the writer goes on while anything is queued.
      if (!loan.held() && !m.wait_for_items(lock, m.pending_step >= 0 ? interval : std::chrono::milliseconds(-1))) {
        idle = true;
      } else {
        item = m.dequeue();
      }
    }
    loan.take();
    if (idle) {
      try {
        m.commit_steps();
      } catch (const std::exception& e) {
        std::lock_guard lock(m.mu);
        m.failure = std::string("recording stopped at step ") + std::to_string(m.current_step) + ": " + e.what();
        failed_.store(true);
        m.not_full.notify_all();
      }
      continue;
    }
    try {
      if (auto* f = std::get_if<Finish>(&item)) {
        if (failed_.load()) {
          // Try to leave a note on the run; if the disk is still full it stays "incomplete".
          try {
            m.writer->finish_run(now_ns(), failure(), m.degraded.dump());
          } catch (...) {
          }
          return;
        }
        m.commit_steps();
        m.writer->finish_run(now_ns(), f->error, m.degraded.dump());
        {
          timespec cpu{};
          clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
          std::lock_guard lock(m.mu);
          m.stats.writer_cpu_ns = int64_t{cpu.tv_sec} * 1000000000 + cpu.tv_nsec;
        }
        // A finished session is one self-contained file: leaving WAL mode checkpoints the log
        // and deletes it. A viewer holding the file open keeps it in WAL; the log is then emptied.
        // (Truncating the log before leaving WAL would write and free it twice: ~3 ms of a close.)
        bool left_wal = false;
        try {
          Stmt mode = m.db.prepare("PRAGMA journal_mode = DELETE");
          left_wal = mode.step() && mode.text(0) == "delete";
        } catch (const SessionError&) {  // busy: a viewer holds the file
        }
        try {
          if (!left_wal) m.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
        } catch (const SessionError&) {
        }
        return;
      }
      if (failed_.load()) continue;  // drain without writing
      auto write_record = [&](const Record& r) {
        if (auto* s = std::get_if<StepRecord>(&r)) m.current_step = s->step;
        std::visit([&](const auto& x) { m.write(x); }, r);
      };
      if (auto* r = std::get_if<Record>(&item)) {
        write_record(*r);
      } else if (auto* batch = std::get_if<std::vector<Record>>(&item)) {
        for (const Record& r : *batch) write_record(r);
      } else if (auto* a = std::get_if<AttentionCapture>(&item)) {
        m.current_step = a->step;
        m.process(*a);
        m.recycle(*a);
      } else if (auto* batch = std::get_if<std::vector<AttentionCapture>>(&item)) {
        for (AttentionCapture& c : *batch) {
          m.current_step = c.step;
          m.process(c);
          m.recycle(c);
        }
      } else if (auto* e = std::get_if<StepEnd>(&item)) {
        // Steps are committed in groups: a commit rewrites every page the group touched, and a
        // decode step touches the same few pages as the next one. The prefill commits at once.
        m.pending_step = e->step;
        if (e->step == 0 || now_ns() - m.last_commit_ns >= m.options.commit_interval_ms * 1000000) m.commit_steps();
      }
    } catch (const std::exception& e) {
      // Disk full or another write error: stop here. Committed steps stay in the file.
      std::lock_guard lock(m.mu);
      m.failure = std::string("recording stopped at step ") + std::to_string(m.current_step) + ": " + e.what();
      failed_.store(true);
      m.not_full.notify_all();
    }
  }
}

void Recorder::Impl::process(AttentionCapture& a) {
  const int d = a.head_dim;
  const int64_t n_new_k = a.n_k - a.k_pos0;
  if (a.n_heads <= 0 || a.n_kv_heads <= 0 || a.n_heads % a.n_kv_heads || d <= 0 || a.n_q < 0 || n_new_k < 0 ||
      value_count(a.q) != static_cast<size_t>(a.n_q * a.n_heads * d) || a.lse.size() != static_cast<size_t>(a.n_q * a.n_heads) ||
      value_count(a.k) != static_cast<size_t>(n_new_k * a.n_kv_heads * d) || a.q.index() != a.k.index())
    throw Error("inconsistent attention capture at layer " + std::to_string(a.layer) + ", step " + std::to_string(a.step));
  const int64_t map_rows = a.q_pos0 + a.n_q;
  const LevelRange levels = options.pyramids && a.n_q > 1 ? stored_levels(map_rows, a.n_k, options.pyramid_first_level)
                                                          : LevelRange{};
  const bool pyramid = levels.first <= levels.last;
  const bool engine_metrics = !a.entropy.empty();
  // The engine's 4×4 cells are level 2 of the map when this step starts it.
  const bool engine_cells = !a.pooled_max.empty() && a.q_pos0 == 0 && levels.first >= 2;
  const int64_t cell_rows = (a.n_q + 3) / 4, cell_cols = (a.n_k + 3) / 4;
  if ((engine_metrics && (a.entropy.size() != a.lse.size() || a.mean_distance.size() != a.lse.size() ||
                          a.sink.size() != a.lse.size() || a.effective_keys.size() != a.lse.size())) ||
      (!a.pooled_max.empty() && (a.pooled_max.size() != static_cast<size_t>(a.n_heads * cell_rows * cell_cols) ||
                                 a.pooled_sum.size() != a.pooled_max.size())))
    throw Error("inconsistent attention statistics at layer " + std::to_string(a.layer) + ", step " + std::to_string(a.step));
  if (layers.size() <= static_cast<size_t>(a.layer)) layers.resize(static_cast<size_t>(a.layer) + 1);
  LayerFactors& f = layers[static_cast<size_t>(a.layer)];
  const MaskSpec mask{a.mask, a.window};
  const int group = a.n_heads / a.n_kv_heads;

  // This step's rows of every head ([h][i]), before the lse moves on.
  std::vector<QueryRow> step_rows(a.lse.size());
  for (int h = 0; h < a.n_heads; ++h)
    for (int64_t i = 0; i < a.n_q; ++i) {
      const size_t at = static_cast<size_t>(h * a.n_q + i);
      step_rows[at] = {a.q_pos0 + i, a.n_k, a.lse[at]};
    }

  // The layer's descriptor, once: the mixer, its heads and dims, mask and scale.
  if (described.size() <= static_cast<size_t>(a.layer)) described.resize(static_cast<size_t>(a.layer) + 1, false);
  if (!described[static_cast<size_t>(a.layer)]) {
    LayerRecord l;
    l.layer = a.layer, l.n_heads = a.n_heads, l.n_kv_heads = a.n_kv_heads, l.key_dim = d, l.value_dim = d;
    l.mask = mask_name(a.mask), l.window = a.window, l.scale = a.scale;
    described[static_cast<size_t>(a.layer)] = write(l);
  }
  // The factors go to the file as the capture holds them (head-major, one row per layer, step and
  // factor); the buffers move into the records and back, so the engine gets them again for reuse.
  MixerFactorRecord keys{a.layer, a.step, "k", a.n_kv_heads, n_new_k, d, a.k_pos0, {}, 0, std::move(a.k)};
  const bool keys_in_file = options.attention_factors && write(keys);
  a.k = std::move(keys.data);
  f.keep_keys(a.step, a.k_pos0, n_new_k, a.k, keys_in_file);
  MixerFactorRecord lse{a.layer, a.step, "lse", a.n_heads, a.n_q, 1, a.q_pos0, {}, a.n_k, std::move(a.lse)};
  MixerFactorRecord queries{a.layer, a.step, "q", a.n_heads, a.n_q, d, a.q_pos0, {}, a.n_k, std::move(a.q)};
  // The lse first: when the byte budget cuts in between, a lone lse row is ignored by readers
  // (they go by the q rows), where a q row without its lse could not be recomputed.
  const bool rows_in_file = options.attention_factors && write(lse) && write(queries);
  a.q = std::move(queries.data);
  a.lse = std::move(std::get<std::vector<float>>(lse.data));
  f.keep_rows(a.step, a.q_pos0, a.n_q, a.n_k, a.q, a.lse, rows_in_file);

  std::vector<float> head_q;
  std::vector<QueryRow> head_rows;
  std::vector<float> kf, p;
  int kf_group = -1;
  // Without the engine's statistics the scores are recomputed from the factors, earlier rows'
  // included: those the file holds are read back once per capture, before the heads.
  const bool recompute_metrics = options.head_metrics && !engine_metrics;
  const bool recompute_pyramid = pyramid && !engine_cells;
  if (recompute_metrics || recompute_pyramid)
    f.load([&](int64_t step, FactorData& q, std::vector<float>& lse) {
             writer->read_factor(a.layer, step, "q", q);
             FactorData l;
             writer->read_factor(a.layer, step, "lse", l);
             if (auto* v = std::get_if<std::vector<float>>(&l)) lse = std::move(*v);
             else throw Error("lse factors of layer " + std::to_string(a.layer) + " are not f32");
           },
           [&](int64_t step, FactorData& k) { writer->read_factor(a.layer, step, "k", k); });
  for (int h = 0; h < a.n_heads; ++h) {
    const int g = h / group;
    const std::span<const QueryRow> rows_now(step_rows.data() + h * a.n_q, static_cast<size_t>(a.n_q));
    if (options.head_metrics && engine_metrics) write(HeadMetricRecord{a.layer, h, a.step, metrics_from_kernel(a, h, rows_now, mask)});
    std::optional<PyramidBuilder> builder;
    if (pyramid && engine_cells) builder.emplace(map_rows, a.n_k, level2_from_kernel(a, h));
    if (recompute_metrics || recompute_pyramid) {
      // Without the engine's statistics: the scores again from the factors. The pyramid pools
      // every row up to this step, earlier ones included.
      if (kf_group != g) f.head_keys(g, d, a.n_k, kf), kf_group = g;
      if (recompute_pyramid) builder.emplace(map_rows, a.n_k, levels.first);
      HeadMetricAccumulator acc;
      const int64_t row_begin = recompute_pyramid ? 0 : a.q_pos0;
      f.head_rows(h, d, row_begin, map_rows, head_q, head_rows);
      constexpr int64_t kChunk = 32;
      for (int64_t r0 = row_begin; r0 < map_rows; r0 += kChunk) {
        const int64_t nr = std::min(kChunk, map_rows - r0);
        p.resize(static_cast<size_t>(nr * a.n_k));
        const std::span<const QueryRow> rows(head_rows.data() + (r0 - row_begin), static_cast<size_t>(nr));
        attention_probs({head_q.data() + (r0 - row_begin) * d, static_cast<size_t>(nr * d)}, rows, kf, 0, a.n_k, d, a.scale,
                        mask, p.data());
        if (recompute_pyramid) builder->add_rows(r0, nr, p.data(), a.n_k);
        if (recompute_metrics)
          for (int64_t i = std::max<int64_t>(0, a.q_pos0 - r0); i < nr; ++i)
            acc.add_row({p.data() + i * a.n_k, static_cast<size_t>(a.n_k)}, rows[static_cast<size_t>(i)], mask);
      }
      if (recompute_metrics) write(HeadMetricRecord{a.layer, h, a.step, acc.result()});
    }
    if (builder && tier == Tier::Full)
      for (const PooledLevel& lv : builder->finish(levels.last))
        if (lv.level >= levels.first && lv.level <= levels.last) write_tiles(lv, a.layer, h, a.step, map_rows, a.n_k);
  }
}

void Recorder::Impl::write_tiles(const PooledLevel& lv, int32_t layer, int32_t head, int64_t step, int64_t map_rows,
                                 int64_t map_cols) {
  std::vector<float> mx, mean;
  // Level-0 cells inside a pooled cell: its row's count times its column's (fewer at the edges).
  std::vector<float> inv_cols(static_cast<size_t>(lv.cols));
  for (int64_t C = 0; C < lv.cols; ++C) inv_cols[static_cast<size_t>(C)] = 1.f / static_cast<float>(cells_inside(lv.level, 0, C, 1, map_cols));
  for (int64_t ty = 0; ty * kTileSize < lv.rows; ++ty)
    for (int64_t tx = 0; tx * kTileSize < lv.cols; ++tx) {
      PyramidTileRecord t;
      t.layer = layer, t.head = head, t.level = lv.level, t.step = step, t.ty = ty, t.tx = tx;
      t.rows = std::min(kTileSize, lv.rows - ty * kTileSize);
      t.cols = std::min(kTileSize, lv.cols - tx * kTileSize);
      t.codec = options.tile_codec;
      mx.resize(static_cast<size_t>(t.rows * t.cols));
      mean.resize(mx.size());
      for (int64_t r = 0; r < t.rows; ++r) {
        const int64_t R = ty * kTileSize + r, C0 = tx * kTileSize;
        const float inv_rows = 1.f / static_cast<float>(cells_inside(lv.level, R, 0, map_rows, 1));
        const float* from_max = lv.max.data() + R * lv.cols + C0;
        const float* from_sum = lv.sum.data() + R * lv.cols + C0;
        float* to_max = mx.data() + r * t.cols;
        float* to_mean = mean.data() + r * t.cols;
        std::copy_n(from_max, t.cols, to_max);
        for (int64_t c = 0; c < t.cols; ++c) to_mean[c] = from_sum[c] * inv_rows * inv_cols[static_cast<size_t>(C0 + c)];
      }
      t.max = encode_tile(mx, t.codec);
      t.mean = encode_tile(mean, t.codec);
      write(t);
    }
}

}  // namespace mnemo::profiler
