#include "mnemo/profiler/session/session_writer.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <span>
#include <tuple>

namespace mnemo::profiler {
namespace {

template <class T>
std::span<const uint8_t> bytes_of(const std::vector<T>& v) {
  return {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(T)};
}

const char* codec_name(TileCodec c) { return c == TileCodec::F16 ? "f16" : "zstd-f16"; }

int64_t stat_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
}

std::vector<OpSpan> read_op_spans(const Db& db, int64_t run_id);
void write_op_lod(Db& db, int64_t run_id, std::vector<OpSpan> ops);

}  // namespace

const char* mask_name(AttentionMask m) {
  switch (m) {
    case AttentionMask::None: return "none";
    case AttentionMask::Causal: return "causal";
    case AttentionMask::Window: return "window";
  }
  return "causal";
}

AttentionMask parse_mask(const std::string& name) {
  if (name == "none") return AttentionMask::None;
  if (name == "causal") return AttentionMask::Causal;
  if (name == "window") return AttentionMask::Window;
  throw Error("unknown attention mask '" + name + "'");
}

SessionWriter::SessionWriter(Db& db) : db_(db) {
  step_ = db.prepare("INSERT INTO _step (run_id, step, kind, pos0, n_tokens, start_ns, end_ns) VALUES (?,?,?,?,?,?,?)");
  token_ = db.prepare("INSERT INTO _token (run_id, position, token_id, text, step) VALUES (?,?,?,?,?)");
  query_ = db.prepare(
      "INSERT INTO _attention_query (run_id, layer, step, n_heads, n_kv_heads, q_pos0, n_q, n_k, mask, window, scale, q, "
      "lse) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
  key_ = db.prepare("INSERT INTO _attention_key (run_id, layer, step, n_kv_heads, pos0, n, k) VALUES (?,?,?,?,?,?,?)");
  metric_ = db.prepare(
      "INSERT INTO _head_metric (run_id, layer, head, step, entropy, mean_distance, sink_mass, sparsity) "
      "VALUES (?,?,?,?,?,?,?,?)");
  tile_ = db.prepare(
      "INSERT INTO _pyramid_tile (run_id, layer, head, step, level, ty, tx, rows, cols, codec, max, mean) "
      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
  kv_ = db.prepare(
      "INSERT INTO _kv_occupancy (run_id, step, layer, n_resident, capacity, bytes_used, bytes_reserved, ranges) "
      "VALUES (?,?,?,?,?,?,?,?)");
  memory_ = db.prepare(
      "INSERT INTO _memory_snapshot (run_id, step, layer, segment, kind, rows, cols, data, norms) VALUES (?,?,?,?,?,?,?,?,?)");
  op_ = db.prepare(
      "INSERT INTO _op (run_id, op_id, step, kind, layer, head, thread, start_ns, end_ns) VALUES (?,?,?,?,?,?,?,?,?)");
  kernel_ = db.prepare(
      "INSERT INTO _kernel (run_id, kernel_id, device, stream, name, start_ns, end_ns, correlation_id, op_id) "
      "VALUES (?,?,?,?,?,?,?,?,?)");
  counter_ = db.prepare("INSERT OR REPLACE INTO _counter (run_id, name, t_ns, value) VALUES (?,?,?,?)");
}

SessionWriter::~SessionWriter() {
  if (in_batch_) {
    try {
      commit_batch();  // keep what was written; a failing commit leaves the file at the last good one
    } catch (...) {
    }
  }
}

int64_t SessionWriter::begin_run(const RunInfo& i) {
  Transaction t(db_);
  Stmt s = db_.prepare(
      "INSERT INTO _run (label, model_path, model_format, architecture, plugin_id, plugin_version, model_kind, n_layers, "
      "d_model, n_heads, n_kv_heads, head_dim, vocab_size, context_length, prompt, options_json, machine_json, captures, "
      "max_bytes, wall_start_utc, start_ns) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  s.bind(1, i.label).bind(2, i.model_path).bind(3, i.model_format).bind(4, i.architecture).bind(5, i.plugin_id);
  s.bind(6, i.plugin_version).bind(7, i.model_kind).bind(8, i.n_layers).bind(9, i.d_model).bind(10, i.n_heads);
  s.bind(11, i.n_kv_heads).bind(12, i.head_dim).bind(13, i.vocab_size).bind(14, i.context_length).bind(15, i.prompt);
  s.bind(16, i.options_json).bind(17, i.machine_json).bind(18, i.captures);
  s.bind(19, i.max_bytes).bind(20, i.wall_start_utc).bind(21, i.start_ns);
  s.run();
  run_id_ = db_.last_insert_rowid();
  t.commit();
  return run_id_;
}

void SessionWriter::begin_batch() {
  db_.exec("BEGIN IMMEDIATE");
  in_batch_ = true;
}

void SessionWriter::commit_batch() {
  in_batch_ = false;  // a failed COMMIT leaves SQLite to roll back; we never retry half a batch
  db_.exec("COMMIT");
}

void SessionWriter::write(const Record& r) {
  std::visit([this](const auto& x) { write_one(x); }, r);
}

void SessionWriter::write_one(const StepRecord& r) {
  step_.bind(1, run_id_).bind(2, r.step).bind(3, r.kind).bind(4, r.pos0).bind(5, r.n_tokens).bind(6, r.start_ns);
  step_.bind(7, r.end_ns).run();
}

void SessionWriter::write_one(const TokenRecord& r) {
  token_.bind(1, run_id_).bind(2, r.position).bind(3, int64_t{r.token_id});
  token_.bind_blob(4, {reinterpret_cast<const uint8_t*>(r.text.data()), r.text.size()}).bind(5, r.step).run();
}

void SessionWriter::write_one(const AttentionQueryRecord& r) {
  query_.bind(1, run_id_).bind(2, r.layer).bind(3, r.step).bind(4, r.n_heads).bind(5, r.n_kv_heads).bind(6, r.q_pos0);
  query_.bind(7, r.n_q).bind(8, r.n_k).bind(9, mask_name(r.mask)).bind(10, r.window).bind(11, double{r.scale});
  query_.bind_blob(12, bytes_of(r.q)).bind_blob(13, bytes_of(r.lse)).run();
}

void SessionWriter::write_one(const AttentionKeyRecord& r) {
  key_.bind(1, run_id_).bind(2, r.layer).bind(3, r.step).bind(4, r.n_kv_heads).bind(5, r.pos0).bind(6, r.n);
  key_.bind_blob(7, bytes_of(r.k)).run();
}

void SessionWriter::write_one(const HeadMetricRecord& r) {
  metric_.bind(1, run_id_).bind(2, r.layer).bind(3, r.head).bind(4, r.step).bind(5, r.m.entropy);
  metric_.bind(6, r.m.mean_distance).bind(7, r.m.sink_mass).bind(8, r.m.sparsity).run();
}

void SessionWriter::write_one(const PyramidTileRecord& r) {
  tile_.bind(1, run_id_).bind(2, r.layer).bind(3, r.head).bind(4, r.step).bind(5, r.level).bind(6, r.ty).bind(7, r.tx);
  tile_.bind(8, r.rows).bind(9, r.cols).bind(10, codec_name(r.codec)).bind_blob(11, r.max).bind_blob(12, r.mean).run();
}

void SessionWriter::write_one(const KvRecord& r) {
  std::vector<int64_t> flat;
  flat.reserve(r.ranges.size() * 2);
  for (auto [b, e] : r.ranges) flat.push_back(b), flat.push_back(e);
  kv_.bind(1, run_id_).bind(2, r.step).bind(3, r.layer).bind(4, r.n_resident).bind(5, r.capacity);
  kv_.bind(6, r.bytes_used).bind(7, r.bytes_reserved).bind_blob(8, bytes_of(flat)).run();
}

void SessionWriter::write_one(const MemorySnapshotRecord& r) {
  memory_.bind(1, run_id_).bind(2, r.step).bind(3, r.layer).bind(4, r.segment).bind(5, r.kind).bind(6, r.rows);
  memory_.bind(7, r.cols).bind_blob(8, bytes_of(r.data)).bind_blob(9, bytes_of(r.norms)).run();
}

void SessionWriter::write_one(const OpRecord& r) {
  op_.bind(1, run_id_).bind(2, r.op_id).bind(3, r.step).bind(4, r.kind).bind(5, r.layer).bind(6, r.head);
  op_.bind(7, r.thread).bind(8, r.start_ns).bind(9, r.end_ns).run();
  if (!ops_kept_) return;
  if (ops_.size() < kMaxOpsKept) {
    ops_.push_back({r.thread, r.op_id, r.start_ns, r.end_ns});
  } else {
    ops_kept_ = false;
    std::vector<OpSpan>().swap(ops_);
  }
}

void SessionWriter::write_one(const KernelRecord& r) {
  kernel_.bind(1, run_id_).bind(2, r.kernel_id).bind(3, r.device).bind(4, r.stream).bind(5, r.name);
  kernel_.bind(6, r.start_ns).bind(7, r.end_ns).bind(8, r.correlation_id).bind(9, r.op_id).run();
}

void SessionWriter::write_one(const CounterRecord& r) {
  counter_.bind(1, run_id_).bind(2, r.name).bind(3, r.t_ns).bind(4, r.value).run();
}

void SessionWriter::finish_run(int64_t end_ns, const std::string& error, const std::string& degraded_json) {
  if (in_batch_) commit_batch();
  {
    Transaction t(db_);
    Stmt s = db_.prepare("UPDATE _run SET end_ns = ?, finished = 1, error = ?, degraded_json = ? WHERE run_id = ?");
    s.bind(1, end_ns);
    if (error.empty()) s.bind_null(2);
    else s.bind(2, error);
    s.bind(3, degraded_json).bind(4, run_id_).run();
    t.commit();
  }
  // Secondary structures come after the data (an index halves insert throughput, PLATFORM.md),
  // in one transaction: one write of the pages they share instead of one per statement.
  Transaction t(db_);
  db_.exec(
      "CREATE INDEX IF NOT EXISTS _op_by_time ON _op (run_id, thread, start_ns);"
      "CREATE INDEX IF NOT EXISTS _kernel_by_time ON _kernel (run_id, stream, start_ns);"
      "CREATE INDEX IF NOT EXISTS _token_by_step ON _token (run_id, step)");
  if (!ops_kept_) ops_ = read_op_spans(db_, run_id_);
  write_op_lod(db_, run_id_, std::move(ops_));
  t.commit();
  ops_.clear();
}

int64_t SessionWriter::file_bytes() const { return stat_size(db_.path()) + stat_size(db_.path() + "-wal"); }

namespace {
template <class T>
void copy_blob(std::span<const uint8_t> bytes, std::vector<T>& out, const Db& db, const std::string& what) {
  if (bytes.size() % sizeof(T)) throw SessionError(db.path(), what + ": a BLOB of " + std::to_string(bytes.size()) + " bytes");
  out.resize(bytes.size() / sizeof(T));
  if (!bytes.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
}

// Prepares `sql` (selecting by run, layer and step) on first use and steps onto its row.
std::string step_onto_factors(Stmt& s, const Db& db, const char* sql, const char* kind, int64_t run, int32_t layer,
                              int64_t step) {
  if (!s) s = db.prepare(sql);
  const std::string what = std::string(kind) + " factors of layer " + std::to_string(layer) + ", step " + std::to_string(step);
  s.bind(1, run).bind(2, layer).bind(3, step);
  if (!s.step()) {
    s.reset();
    throw SessionError(db.path(), "the run holds no " + what);
  }
  return what;
}
}  // namespace

void SessionWriter::read_query_factors(int32_t layer, int64_t step, std::vector<uint16_t>& q, std::vector<float>& lse) {
  const std::string what = step_onto_factors(read_query_, db_, "SELECT q, lse FROM _attention_query WHERE run_id = ? AND layer = ? AND step = ?",
                                             "query", run_id_, layer, step);
  copy_blob(read_query_.blob(0), q, db_, what);
  copy_blob(read_query_.blob(1), lse, db_, what);
  read_query_.reset();
}

void SessionWriter::read_key_factors(int32_t layer, int64_t step, std::vector<uint16_t>& k) {
  const std::string what = step_onto_factors(read_key_, db_, "SELECT k FROM _attention_key WHERE run_id = ? AND layer = ? AND step = ?",
                                             "key", run_id_, layer, step);
  copy_blob(read_key_.blob(0), k, db_, what);
  read_key_.reset();
}

namespace {

std::vector<OpSpan> read_op_spans(const Db& db, int64_t run_id) {
  std::vector<OpSpan> ops;
  Stmt s = db.prepare("SELECT thread, op_id, start_ns, end_ns FROM _op WHERE run_id = ?");
  s.bind(1, run_id);
  while (s.step()) ops.push_back({s.integer(0), s.integer(1), s.integer(2), s.integer(3)});
  return ops;
}

// build_op_lod inside the caller's transaction.
void write_op_lod(Db& db, int64_t run_id, std::vector<OpSpan> ops) {
  // By thread, then time; ties in the order of the time index, so the longest op of a bucket is
  // the same whichever way the ops came.
  std::sort(ops.begin(), ops.end(), [](const OpSpan& a, const OpSpan& b) {
    return std::tie(a.thread, a.start, a.id) < std::tie(b.thread, b.start, b.id);
  });
  int64_t t0 = INT64_MAX;
  for (OpSpan& op : ops) {
    op.end = std::max(op.start, op.end);
    t0 = std::min(t0, op.start);
  }
  Stmt start = db.prepare("SELECT start_ns FROM _run WHERE run_id = ?");
  start.bind(1, run_id);
  if (start.step()) t0 = std::min(t0, start.integer(0));
  db.prepare("DELETE FROM _op_lod WHERE run_id = ?").bind(1, run_id).run();
  Stmt ins = db.prepare(
      "INSERT INTO _op_lod (run_id, thread, level, bucket, count, busy_ns, longest_op) VALUES (?,?,?,?,?,?,?)");
  for (auto first = ops.begin(); first != ops.end();) {
    const auto last = std::find_if(first, ops.end(), [&](const OpSpan& op) { return op.thread != first->thread; });
    const std::span<const OpSpan> thread_ops(&*first, static_cast<size_t>(last - first));
    const int64_t thread = first->thread;
    first = last;
    int64_t t_end = t0;
    for (const OpSpan& op : thread_ops) t_end = std::max(t_end, op.end);
    for (int level = 0; level < 48; ++level) {
      const int64_t width = int64_t{1000} << level;
      const int64_t span = (t_end - t0) / width + 1;
      // Fewer than 8 ops per bucket on average: a view at that zoom reads the ops themselves
      // (at most ~8 per bucket it draws), so such a level would cost more rows than it saves.
      if (span * 8 > static_cast<int64_t>(thread_ops.size())) continue;
      struct Bucket {
        int64_t count = 0, busy = 0, longest = -1, longest_dur = -1;
      };
      std::vector<Bucket> buckets(static_cast<size_t>(span));
      for (const OpSpan& op : thread_ops) {
        const int64_t b0 = (op.start - t0) / width, b1 = (std::max(op.end - 1, op.start) - t0) / width;
        for (int64_t b = b0; b <= b1; ++b) {
          Bucket& k = buckets[static_cast<size_t>(b)];
          ++k.count;
          k.busy += std::min(op.end, t0 + (b + 1) * width) - std::max(op.start, t0 + b * width);
          if (op.end - op.start > k.longest_dur) k.longest_dur = op.end - op.start, k.longest = op.id;
        }
      }
      for (int64_t b = 0; b < span; ++b) {
        const Bucket& k = buckets[static_cast<size_t>(b)];
        if (k.count == 0) continue;
        ins.bind(1, run_id).bind(2, thread).bind(3, level).bind(4, b).bind(5, k.count).bind(6, k.busy);
        ins.bind(7, k.longest).run();
      }
      if (span <= 1) break;
    }
  }
}

}  // namespace

void build_op_lod(Db& db, int64_t run_id) { build_op_lod(db, run_id, read_op_spans(db, run_id)); }

void build_op_lod(Db& db, int64_t run_id, std::vector<OpSpan> ops) {
  Transaction t(db);
  write_op_lod(db, run_id, std::move(ops));
  t.commit();
}

}  // namespace mnemo::profiler
