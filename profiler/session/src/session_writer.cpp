#include "mnemo/profiler/session/session_writer.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <span>
#include <tuple>

#include "mnemo/profiler/session/checksum.h"

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
    case AttentionMask::Segments: return "segments";
  }
  return "causal";
}

const char* dtype_name(FactorDtype d) { return d == FactorDtype::F16 ? "f16" : "f32"; }

FactorDtype parse_dtype(const std::string& name) {
  if (name == "f32") return FactorDtype::F32;
  if (name == "f16") return FactorDtype::F16;
  throw Error("unknown factor dtype '" + name + "' (f32 or f16)");
}

AttentionMask parse_mask(const std::string& name) {
  if (name == "none") return AttentionMask::None;
  if (name == "causal") return AttentionMask::Causal;
  if (name == "window") return AttentionMask::Window;
  if (name == "segments") return AttentionMask::Segments;
  throw Error("unknown attention mask '" + name + "'");
}

SessionWriter::SessionWriter(Db& db) : db_(db) {
  step_ = db.prepare("INSERT INTO _step (run_id, step, kind, pos0, n_tokens, start_ns, end_ns) VALUES (?,?,?,?,?,?,?)");
  token_ = db.prepare("INSERT INTO _token (run_id, position, token_id, text, step) VALUES (?,?,?,?,?)");
  answer_ = db.prepare(
      "INSERT INTO _answer (run_id, position, expected_token, predicted_token, expected_p, predicted_p, predicted_text) "
      "VALUES (?,?,?,?,?,?,?)");
  layer_ = db.prepare(
      "INSERT OR REPLACE INTO _layer (run_id, layer, mixer, memory, n_heads, n_kv_heads, key_dim, value_dim, state_rows, "
      "state_cols, mask, window, scale) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
  factor_ = db.prepare(
      "INSERT INTO _mixer_factor (run_id, layer, step, factor, n_heads, n, width, dtype, pos0, positions, n_keys, crc32, "
      "data) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
  state_stat_ = db.prepare(
      "INSERT INTO _state_stat (run_id, layer, head, step, norm, effective_rank) VALUES (?,?,?,?,?,?)");
  state_matrix_ = db.prepare(
      "INSERT INTO _state_matrix (run_id, layer, head, step, rows, cols, dtype, crc32, data) VALUES (?,?,?,?,?,?,?,?,?)");
  metric_ = db.prepare(
      "INSERT INTO _head_metric (run_id, layer, head, step, entropy, mean_distance, sink_mass, sparsity) "
      "VALUES (?,?,?,?,?,?,?,?)");
  tile_ = db.prepare(
      "INSERT INTO _pyramid_tile (run_id, layer, head, step, level, ty, tx, rows, cols, codec, max_crc32, mean_crc32, "
      "max, mean) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
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
  // Op kinds by name: the producer's ids map onto the session's, so runs of different engines
  // (or engine versions) share one _op_kind table.
  op_kinds_.clear();
  for (const std::string& name : i.op_kinds) op_kinds_.push_back(register_name("_op_kind", name));
  op_kind_names_ = i.op_kinds;
  for (const LayerRecord& l : i.layers) write_one(l);
  t.commit();
  return run_id_;
}

int64_t SessionWriter::register_name(const char* table, const std::string& name) {
  db_.prepare(std::string("INSERT OR IGNORE INTO ") + table + " (name) VALUES (?)").bind(1, name).run();
  Stmt id = db_.prepare(std::string("SELECT kind FROM ") + table + " WHERE name = ?");
  id.bind(1, name);
  if (!id.step()) throw SessionError(db_.path(), std::string(table) + ": '" + name + "' was not registered");
  return id.integer(0);
}

int64_t SessionWriter::op_kind_id(int32_t producer_kind) {
  const auto kind = static_cast<size_t>(producer_kind);
  if (producer_kind >= 0 && kind < op_kinds_.size() && op_kinds_[kind] >= 0) return op_kinds_[kind];
  // A kind nobody named (RunInfo::op_kinds, OpKindRecord) is kept under a name that says so rather
  // than dropped.
  if (producer_kind < 0 || producer_kind > 4096) throw Error("op kind " + std::to_string(producer_kind) + " is impossible");
  if (op_kinds_.size() <= kind) op_kinds_.resize(kind + 1, -1), op_kind_names_.resize(kind + 1);
  return op_kinds_[kind] = register_name("_op_kind", "op kind " + std::to_string(kind));
}

void SessionWriter::write_one(const OpKindRecord& r) {
  if (r.kind < 0 || r.kind > 4096 || r.name.empty())
    throw Error("op kind " + std::to_string(r.kind) + " named '" + r.name + "' is impossible");
  const auto kind = static_cast<size_t>(r.kind);
  if (op_kinds_.size() <= kind) op_kinds_.resize(kind + 1, -1), op_kind_names_.resize(kind + 1);
  if (op_kind_names_[kind] == r.name) return;  // named so already (by RunInfo::op_kinds)
  op_kinds_[kind] = register_name("_op_kind", r.name);
  op_kind_names_[kind] = r.name;
}

int64_t SessionWriter::mixer_kind_id(const std::string& name) {
  if (const auto it = mixer_kinds_.find(name); it != mixer_kinds_.end()) return it->second;
  return mixer_kinds_[name] = register_name("_mixer_kind", name);
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

void SessionWriter::write_one(const LayerRecord& r) {
  layer_.bind(1, run_id_).bind(2, r.layer).bind(3, mixer_kind_id(r.mixer)).bind(4, r.memory).bind(5, r.n_heads);
  layer_.bind(6, r.n_kv_heads).bind(7, r.key_dim).bind(8, r.value_dim).bind(9, r.state_rows).bind(10, r.state_cols);
  layer_.bind(11, r.mask).bind(12, r.window).bind(13, r.scale).run();
}

void SessionWriter::write_one(const MixerFactorRecord& r) {
  const std::span<const uint8_t> data = std::visit([](const auto& v) { return bytes_of(v); }, r.data);
  if (r.n_heads <= 0 || data.size() % static_cast<size_t>(r.n_heads) ||
      (!r.positions.empty() && r.positions.size() != static_cast<size_t>(r.n)))
    throw Error("factor '" + r.factor + "' of layer " + std::to_string(r.layer) + ", step " + std::to_string(r.step) +
                " does not split into " + std::to_string(r.n_heads) + " head slices of " + std::to_string(r.n) + " rows");
  // One checksum per head slice: a reader reads one head's slice alone and checks it alone.
  const size_t slice = data.size() / static_cast<size_t>(r.n_heads);
  crcs_.resize(static_cast<size_t>(r.n_heads));
  for (size_t h = 0; h < crcs_.size(); ++h) crcs_[h] = crc32_of(data.subspan(h * slice, slice));
  factor_.bind(1, run_id_).bind(2, r.layer).bind(3, r.step).bind(4, r.factor).bind(5, r.n_heads).bind(6, r.n);
  factor_.bind(7, r.width).bind(8, dtype_name(dtype_of(r.data))).bind(9, r.pos0);
  if (r.positions.empty()) factor_.bind_null(10);
  else factor_.bind_blob(10, bytes_of(r.positions));
  factor_.bind(11, r.n_keys).bind_blob(12, bytes_of(crcs_)).bind_blob(13, data).run();
}

void SessionWriter::write_one(const StateStatRecord& r) {
  state_stat_.bind(1, run_id_).bind(2, r.layer).bind(3, r.head).bind(4, r.step).bind(5, r.norm);
  state_stat_.bind(6, r.effective_rank).run();
}

void SessionWriter::write_one(const StateMatrixRecord& r) {
  const std::span<const uint8_t> data = std::visit([](const auto& v) { return bytes_of(v); }, r.data);
  state_matrix_.bind(1, run_id_).bind(2, r.layer).bind(3, r.head).bind(4, r.step).bind(5, r.rows).bind(6, r.cols);
  state_matrix_.bind(7, dtype_name(dtype_of(r.data))).bind(8, int64_t{crc32_of(data)}).bind_blob(9, data).run();
}

void SessionWriter::write_one(const HeadMetricRecord& r) {
  metric_.bind(1, run_id_).bind(2, r.layer).bind(3, r.head).bind(4, r.step).bind(5, r.m.entropy);
  metric_.bind(6, r.m.mean_distance).bind(7, r.m.sink_mass).bind(8, r.m.sparsity).run();
}

void SessionWriter::write_one(const PyramidTileRecord& r) {
  tile_.bind(1, run_id_).bind(2, r.layer).bind(3, r.head).bind(4, r.step).bind(5, r.level).bind(6, r.ty).bind(7, r.tx);
  tile_.bind(8, r.rows).bind(9, r.cols).bind(10, codec_name(r.codec)).bind(11, int64_t{crc32_of(r.max)});
  tile_.bind(12, int64_t{crc32_of(r.mean)}).bind_blob(13, r.max).bind_blob(14, r.mean).run();
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
  op_.bind(1, run_id_).bind(2, r.op_id).bind(3, r.step).bind(4, op_kind_id(r.kind)).bind(5, r.layer).bind(6, r.head);
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

void SessionWriter::write_one(const AnswerRecord& r) {
  answer_.bind(1, run_id_).bind(2, r.position).bind(3, int64_t{r.expected_token}).bind(4, int64_t{r.predicted_token});
  answer_.bind(5, r.expected_p).bind(6, r.predicted_p);
  answer_.bind_blob(7, {reinterpret_cast<const uint8_t*>(r.predicted_text.data()), r.predicted_text.size()}).run();
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

}  // namespace

void SessionWriter::read_factor(int32_t layer, int64_t step, const std::string& factor, FactorData& out) {
  if (!read_factor_)
    read_factor_ = db_.prepare("SELECT dtype, data FROM _mixer_factor WHERE run_id = ? AND layer = ? AND step = ? AND factor = ?");
  const std::string what = "factor '" + factor + "' of layer " + std::to_string(layer) + ", step " + std::to_string(step);
  read_factor_.bind(1, run_id_).bind(2, layer).bind(3, step).bind(4, factor);
  if (!read_factor_.step()) {
    read_factor_.reset();
    throw SessionError(db_.path(), "the run holds no " + what);
  }
  try {
    if (parse_dtype(read_factor_.text(0)) == FactorDtype::F32) copy_blob(read_factor_.blob(1), out.emplace<0>(), db_, what);
    else copy_blob(read_factor_.blob(1), out.emplace<1>(), db_, what);
  } catch (...) {
    read_factor_.reset();
    throw;
  }
  read_factor_.reset();
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
