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

#include "mnemo/profiler/session/mixer_map.h"
#include "mnemo/profiler/session/records.h"
#include "mnemo/profiler/session/sqlite_db.h"

namespace mnemo::profiler {

// What a session may claim before the reader refuses it. Every count read from a file sizes
// something further on (the overview's layer × head grid and its jobs, the token view's heads, the
// KV view's layers × steps, a map's rows), so the reader checks them once, when a run, its steps or
// its KV records are read, and throws Error naming the file, the run and the field: a hostile or
// damaged file then gives a message, never a huge allocation in a view. The limits are far above
// any model that exists (today's largest: ~126 layers × 128 heads, head_dim ≤ 256, ~256k vocab).
namespace session_limits {
inline constexpr int64_t kMaxLayers = 4096;
inline constexpr int64_t kMaxHeads = 4096;       // query heads; KV heads are at most as many
inline constexpr int64_t kMaxLayerHeads = 65536;  // layers × heads: one overview thumbnail each
inline constexpr int64_t kMaxHeadDim = 4096;      // also the attention factors' row length
inline constexpr int64_t kMaxDModel = int64_t{1} << 20;
inline constexpr int64_t kMaxVocab = int64_t{1} << 24;
inline constexpr int64_t kMaxPositions = int64_t{1} << 24;  // token positions, context, steps
}  // namespace session_limits

struct RunCounts {
  int64_t attention_heads = 0;   // (layer, head, step) rows with factors
  int64_t memory_snapshots = 0;
  int64_t kv_snapshots = 0;
  int64_t ops = 0;
  int64_t kernels = 0;
};

// See SessionReader::segment_attention. Memory slots are numbered 0 .. memory_slots-1 (read) and
// the write slots likewise; tokens by their position in the sequence.
struct SegmentAttention {
  int64_t segment = 0, memory_slots = 0;
  int64_t token0 = 0, n_tokens = 0;  // the segment's tokens recorded: positions token0 .. token0+n_tokens-1
  // [memory_slots][memory_slots]: how much each read slot draws on the read slots before it (its
  // own included): memory rows are rows of the segment like the tokens.
  std::vector<float> read_reads;
  // [n_tokens][memory_slots]: how much each token draws on each slot of the memory it reads.
  std::vector<float> token_reads;
  // [n_tokens][n_tokens]: how much each token draws on the segment's tokens before it (its own
  // included), as the map shows them.
  std::vector<float> token_tokens;
  // [memory_slots][memory_slots + n_tokens + memory_slots]: how much each write slot draws on the
  // read slots, the tokens and the write slots before it (its own included); empty when the
  // segment was not completed (a partial last segment writes nothing).
  std::vector<float> write_reads;
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
  std::string label;  // what the values are: the layer's MixerMap label ("softmax probabilities", ...)
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
  int64_t channels_per_head = 0;  // channel maps the layer's kind offers per head (0: none)
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
  // Throws Error for an unknown run, and for a run whose shape (layers, heads, KV heads, head
  // dim, d_model, vocabulary, context) is negative or beyond session_limits, naming the field.
  RunSummary run(int64_t run_id) const;

  // Steps and KV records are checked against session_limits as they are read (Error otherwise).
  std::vector<StepRecord> steps(int64_t run_id) const;
  int64_t newest_step(int64_t run_id) const;  // -1 before the first committed step
  // The error every reader of attention gives for a run without a committed step (one being
  // recorded, not past its first step yet, or one whose recorder stopped before it), rather than
  // blaming the captures.
  Error no_committed_step(int64_t run_id) const;
  std::vector<TokenRecord> tokens(int64_t run_id) const;
  // The task answers of a run recorded on a task example, by position; empty for other runs and
  // for files made before the table existed.
  std::vector<AnswerRecord> answers(int64_t run_id) const;
  std::vector<KvRecord> kv(int64_t run_id) const;
  std::vector<HeadMetricRecord> head_metrics(int64_t run_id, std::optional<int64_t> step = {}) const;
  std::vector<CounterRecord> counters(int64_t run_id) const;
  // Memory tokens / recurrent-state summaries (architectures that keep them), in step order.
  std::vector<MemorySnapshotRecord> memory_snapshots(int64_t run_id, std::optional<int32_t> layer = {}) const;
  // A segmented model's (recurrent memory transformer's) attention between the tokens of one
  // segment and its memory slots, for one head of one layer, recomputed exactly from the recorded
  // factors (the token rows' q, k and lse by position; the memory rows' memory_q, memory_lse and
  // memory_k). Throws Error when the layer was not recorded under the mask "segments" or the
  // segment's memory rows are missing.
  SegmentAttention segment_attention(int64_t run_id, int32_t layer, int32_t head, int64_t segment);
  // Recurrent state per layer, head and step: norms and effective ranks, and the full matrices
  // recorded (fp32, checksums verified), in step order.
  std::vector<StateStatRecord> state_stats(int64_t run_id, std::optional<int32_t> layer = {}) const;
  std::vector<StateMatrixRecord> state_matrices(int64_t run_id, int32_t layer, int32_t head) const;

  // What a layer is (_layer), and the label of its heads' maps (its MixerMap's). Throws Error for a
  // layer the run does not describe, or a mixer kind this build has no map for.
  const MixerLayer& layer(int64_t run_id, int32_t layer);
  std::string map_label(int64_t run_id, int32_t layer);
  // The label of one channel's map ("implicit attention, exact, channel 3 of head 0"), or of the
  // head's map for channel −1; throws Error as check_channel() does.
  std::string map_label(int64_t run_id, int32_t layer, int32_t head, int64_t channel);
  // Channel maps a head of the layer offers (MixerMapKind::channels_per_head; 0: none).
  int64_t channels_per_head(int64_t run_id, int32_t layer);
  // Throws Error naming the file, run, layer and mixer when `channel` is not −1 and the layer's heads
  // have no such channel (none at all, or fewer).
  void check_channel(int64_t run_id, int32_t layer, int64_t channel);

  // Attention. Throws Error naming what is missing (unknown run/step/layer/head, factors not
  // recorded or dropped by the byte budget, tile outside the map). `channel` ≥ 0 asks for that
  // channel's own map instead of the head's (kinds with channels_per_head; check_channel()); such a
  // map is recomputed at every level (a stored pyramid holds the head's map).
  MapShape map_shape(int64_t run_id, int64_t step, int32_t layer, int32_t head);
  AttentionTile tile(int64_t run_id, int64_t step, int32_t layer, int32_t head, int level, int64_t ty, int64_t tx,
                     int64_t channel = -1);
  std::vector<float> row(int64_t run_id, int32_t layer, int32_t head, int64_t query_pos,
                         int64_t channel = -1);  // over its keys
  std::vector<float> column(int64_t run_id, int64_t step, int32_t layer, int32_t head, int64_t key_pos,
                            int64_t channel = -1);  // over rows
  std::vector<std::pair<int64_t, float>> top_k(int64_t run_id, int32_t layer, int32_t head, int64_t query_pos, int k,
                                               int64_t channel = -1);

  // Ops: those overlapping [t0, t1) (on one thread, or all with thread < 0), and a timeline of
  // n_buckets equal buckets over [t0, t1) built from the level-of-detail table where it is coarse
  // enough, from the ops themselves where it is not.
  std::vector<OpRow> ops(int64_t run_id, int64_t t0_ns, int64_t t1_ns, int64_t thread = -1) const;
  std::vector<int64_t> op_threads(int64_t run_id) const;
  std::vector<TimelineBucket> timeline(int64_t run_id, int64_t thread, int64_t t0_ns, int64_t t1_ns, int64_t n_buckets) const;

 private:
  struct HeadMap;   // one (run, layer, head, channel): its MixerMap over the steps loaded
  struct HeadRows;  // one (run, layer, head): the keys each recorded query saw, no factors
  class Factors;    // the FactorSource over this file
  HeadMap& map(int64_t run_id, int32_t layer, int32_t head, int64_t channel);  // every row, cached
  // The cached map when there is one, else one made for rows [q_begin, q_end) alone, valid until
  // the next call.
  HeadMap& map_for_rows(int64_t run_id, int32_t layer, int32_t head, int64_t channel, int64_t q_begin, int64_t q_end);
  std::unique_ptr<HeadMap> make_map(int64_t run_id, int32_t layer, int32_t head, int64_t channel, int64_t newest_step,
                                    int64_t q_begin, int64_t q_end);
  const MixerMapKind& kind_of(int64_t run_id, int32_t layer);
  // What a label adds for a layer recorded under the mask "segments" ("" otherwise).
  std::string segments_note(int64_t run_id, int32_t layer);
  const HeadRows& head_rows(int64_t run_id, int32_t layer, int32_t head);
  int head_dim(int64_t run_id) const;
  int64_t rows_at_step(int64_t run_id, int64_t step) const;
  static int64_t keys_seen(const HeadRows& h, int64_t rows);  // keys visible to the first `rows` rows
  static MapShape shape_at(const HeadRows& h, int64_t rows);   // of the map of the first `rows` rows
  void recompute_pooled(HeadMap& m, int64_t n_cols, int level, int64_t row_begin, int64_t row_end, AttentionTile& t);

  Db db_;
  int64_t schema_version_ = 0;
  // Recently used heads' maps (a few MB of factors each), most recent first.
  std::list<std::unique_ptr<HeadMap>> cache_;
  std::list<std::unique_ptr<HeadRows>> rows_cache_;
  std::unique_ptr<HeadMap> ranged_;  // map_for_rows' map
  std::map<std::pair<int64_t, int32_t>, MixerLayer> layers_;
  std::vector<float> pool_scratch_;  // recompute_pooled's block of probabilities, reused
};

}  // namespace mnemo::profiler
