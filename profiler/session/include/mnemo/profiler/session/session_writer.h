// Writes runs into a session file: one prepared statement per table, records inside batched
// transactions the caller opens and commits (the recorder commits at step ends). Single-threaded:
// the recorder's writer thread owns it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mnemo/profiler/session/records.h"
#include "mnemo/profiler/session/sqlite_db.h"

namespace mnemo::profiler {

// One op's place on the timeline: what the level-of-detail pass needs of it.
struct OpSpan {
  int64_t thread = 0, id = 0, start = 0, end = 0;
};

class SessionWriter {
 public:
  explicit SessionWriter(Db& db);  // db from open_session_for_recording
  ~SessionWriter();

  // Inserts the run (committed at once, so it shows as incomplete until finish_run) and returns its id.
  int64_t begin_run(const RunInfo& info);
  int64_t run_id() const { return run_id_; }

  void begin_batch();
  void write(const Record& r);  // inside a batch
  template <class T>
  void write(const T& r) {  // the same without wrapping a record in a variant (no copy)
    write_one(r);
  }
  void commit_batch();
  bool in_batch() const { return in_batch_; }

  // Marks the run finished (status complete when error is empty), stores what the byte budget
  // dropped, then builds the op level-of-detail table and the secondary indexes.
  void finish_run(int64_t end_ns, const std::string& error, const std::string& degraded_json);

  // Bytes the file and its log take on disk now.
  int64_t file_bytes() const;

  // Reads back one factor of one layer and step of this run, as written (rows not yet committed
  // included: the same connection sees them). Throws SessionError when the run holds no such row.
  void read_factor(int32_t layer, int64_t step, const std::string& factor, FactorData& out);

  // The session's id of a mixer kind, registering the name on first use.
  int64_t mixer_kind_id(const std::string& name);

 private:
  int64_t register_name(const char* table, const std::string& name);  // _op_kind, _mixer_kind
  int64_t op_kind_id(int32_t producer_kind);
  void write_one(const StepRecord& r);
  void write_one(const TokenRecord& r);
  void write_one(const LayerRecord& r);
  void write_one(const MixerFactorRecord& r);
  void write_one(const StateStatRecord& r);
  void write_one(const StateMatrixRecord& r);
  void write_one(const HeadMetricRecord& r);
  void write_one(const PyramidTileRecord& r);
  void write_one(const KvRecord& r);
  void write_one(const MemorySnapshotRecord& r);
  void write_one(const OpRecord& r);
  void write_one(const OpKindRecord& r);
  void write_one(const KernelRecord& r);
  void write_one(const CounterRecord& r);
  void write_one(const AnswerRecord& r);

  Db& db_;
  int64_t run_id_ = 0;
  bool in_batch_ = false;
  Stmt step_, token_, layer_, factor_, metric_, tile_, kv_, memory_, state_stat_, state_matrix_, op_, kernel_, counter_, answer_;
  Stmt read_factor_;  // prepared on first use: most runs never read back
  std::map<std::string, int64_t> mixer_kinds_;
  std::vector<int64_t> op_kinds_;  // the producer's op kind id -> the session's
  std::vector<std::string> op_kind_names_;  // the producer's op kind id -> its name ("" when unnamed)
  std::vector<uint32_t> crcs_;     // scratch: a factor row's checksums
  // The run's ops as written, for the level-of-detail pass at finish_run (reading 23k ops back
  // through the time index took 8 ms of a 540-token recording's close). Past kMaxOpsKept the
  // pass reads them back instead, rather than holding more memory.
  static constexpr size_t kMaxOpsKept = size_t{1} << 21;  // 64 MiB
  std::vector<OpSpan> ops_;
  bool ops_kept_ = true;
};

// Builds _op_lod for a run from its ops, given in any order. Levels with fewer than 8 ops per
// bucket on average are skipped: a view that fine reads the ops themselves.
void build_op_lod(Db& db, int64_t run_id, std::vector<OpSpan> ops);
// The same, reading the run's ops back from the file.
void build_op_lod(Db& db, int64_t run_id);

}  // namespace mnemo::profiler
