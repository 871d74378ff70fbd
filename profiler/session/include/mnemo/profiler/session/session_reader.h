// Reads sessions: runs and their metadata, steps and tokens, attention tiles at any level (level 0
// exact by recomputation from the recorded factors, upper levels from the stored pyramid plus the
// rows recorded after it), row and column slices, top-k keys, per-head metrics, KV occupancy, ops
// with level-of-detail queries for timelines, counters.
//
// Opens read-only and never writes; works while a recorder is still appending (each call sees the
// steps committed so far). Not thread-safe: give each thread its own reader.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "mnemo/profiler/session/records.h"
#include "mnemo/profiler/session/sqlite_db.h"

namespace mnemo::profiler {

struct RunCounts {
  int64_t attention_heads = 0;   // (layer, head, step) rows with factors
  int64_t memory_snapshots = 0;
  int64_t kv_snapshots = 0;
  int64_t ops = 0;
  int64_t kernels = 0;
};

struct RunSummary {
  int64_t id = 0;
  RunInfo info;
  std::string status;  // complete | incomplete
  std::string error;
  std::string degraded_json;
  std::optional<int64_t> end_ns;
  int64_t n_tokens = 0, n_steps = 0;
  int64_t bytes = 0;  // payload bytes of the run's rows
  RunCounts counts;
};

// A tile of one head's map at one step. Level 0: `values` are exact probabilities and rows/cols
// are map cells. Level L: cells pool 2^L × 2^L map cells; `max` and `mean` as _pyramid_tile.
struct AttentionTile {
  int level = 0;
  int64_t ty = 0, tx = 0;
  int64_t row0 = 0, col0 = 0;  // first cell of the tile at its level
  int64_t rows = 0, cols = 0;  // cells in the tile (fewer at the map's edges; 0 outside the map)
  std::vector<float> max, mean;  // [rows][cols]; at level 0 both hold the probabilities
  int64_t recomputed_rows = 0;   // map rows recomputed from factors (0 when all came from the pyramid)
};

struct MapShape {
  int64_t rows = 0;  // query positions up to and including the step
  int64_t cols = 0;  // keys resident at the step
  int head_dim = 0;
};

struct TimelineBucket {
  int64_t t0_ns = 0, t1_ns = 0;
  int64_t count = 0;    // ops overlapping the bucket
  int64_t busy_ns = 0;  // time inside ops
  int64_t longest_op = -1;
};

struct OpRow {
  int64_t op_id = 0, step = 0;
  std::string kind;
  int32_t layer = -1, head = -1, thread = 0;
  int64_t start_ns = 0, end_ns = 0;
};

class SessionReader {
 public:
  explicit SessionReader(const std::string& path);  // throws SessionError
  ~SessionReader();

  const std::string& path() const { return db_.path(); }
  int64_t schema_version() const { return schema_version_; }
  const Db& db() const { return db_; }

  std::vector<RunSummary> runs() const;
  RunSummary run(int64_t run_id) const;  // throws Error for an unknown run

  std::vector<StepRecord> steps(int64_t run_id) const;
  int64_t newest_step(int64_t run_id) const;  // -1 before the first committed step
  // The error every reader of attention gives for a run without a committed step (one being
  // recorded, not past its first step yet, or one whose recorder stopped before it), rather than
  // blaming the captures.
  Error no_committed_step(int64_t run_id) const;
  std::vector<TokenRecord> tokens(int64_t run_id) const;
  std::vector<KvRecord> kv(int64_t run_id) const;
  std::vector<HeadMetricRecord> head_metrics(int64_t run_id, std::optional<int64_t> step = {}) const;
  std::vector<CounterRecord> counters(int64_t run_id) const;
  // Memory tokens / recurrent-state summaries (architectures that keep them), in step order.
  std::vector<MemorySnapshotRecord> memory_snapshots(int64_t run_id, std::optional<int32_t> layer = {}) const;

  // Attention. Throws Error naming what is missing (unknown run/step/layer/head, factors not
  // recorded or dropped by the byte budget, tile outside the map).
  MapShape map_shape(int64_t run_id, int64_t step, int32_t layer, int32_t head);
  AttentionTile tile(int64_t run_id, int64_t step, int32_t layer, int32_t head, int level, int64_t ty, int64_t tx);
  std::vector<float> row(int64_t run_id, int32_t layer, int32_t head, int64_t query_pos);  // over its keys
  std::vector<float> column(int64_t run_id, int64_t step, int32_t layer, int32_t head, int64_t key_pos);  // over rows
  std::vector<std::pair<int64_t, float>> top_k(int64_t run_id, int32_t layer, int32_t head, int64_t query_pos, int k);

  // Ops: those overlapping [t0, t1) (on one thread, or all with thread < 0), and a timeline of
  // n_buckets equal buckets over [t0, t1) built from the level-of-detail table where it is coarse
  // enough, from the ops themselves where it is not.
  std::vector<OpRow> ops(int64_t run_id, int64_t t0_ns, int64_t t1_ns, int64_t thread = -1) const;
  std::vector<int64_t> op_threads(int64_t run_id) const;
  std::vector<TimelineBucket> timeline(int64_t run_id, int64_t thread, int64_t t0_ns, int64_t t1_ns, int64_t n_buckets) const;

 private:
  struct HeadFactors;  // one (run, layer, head): q rows and the KV head's keys, fp32
  struct HeadRows;     // one (run, layer, head): the keys each recorded query saw, no factors
  HeadFactors& factors(int64_t run_id, int32_t layer, int32_t head);  // every row, cached
  // The cached factors when there are, else the queries of rows [q_begin, q_end) alone (and every
  // key), valid until the next call.
  HeadFactors& factors_for_rows(int64_t run_id, int32_t layer, int32_t head, int64_t q_begin, int64_t q_end);
  void load_factors(HeadFactors& f, int64_t run_id, int32_t layer, int32_t head, int64_t newest_step, int64_t q_begin,
                    int64_t q_end);
  const HeadRows& head_rows(int64_t run_id, int32_t layer, int32_t head);
  int head_dim(int64_t run_id) const;
  int64_t rows_at_step(int64_t run_id, int64_t step) const;
  static int64_t keys_seen(const HeadRows& h, int64_t rows);  // keys visible to the first `rows` rows
  static MapShape shape_at(const HeadRows& h, int64_t rows);   // of the map of the first `rows` rows
  void recompute_pooled(HeadFactors& f, int64_t n_cols, int level, int64_t row_begin, int64_t row_end, AttentionTile& t);

  Db db_;
  int64_t schema_version_ = 0;
  // Recently used heads' factors (a few MB each), most recent first.
  std::list<std::unique_ptr<HeadFactors>> cache_;
  std::list<std::unique_ptr<HeadRows>> rows_cache_;
  std::unique_ptr<HeadFactors> ranged_;  // factors_for_rows' buffers
  std::vector<float> pool_scratch_;  // recompute_pooled's block of probabilities, reused
};

}  // namespace mnemo::profiler
