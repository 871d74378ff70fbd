#include "mnemo/profiler/session/session_reader.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "mnemo/profiler/session/attention_math.h"
#include "mnemo/profiler/session/session_file.h"

namespace mnemo::profiler {
namespace {

constexpr size_t kCachedHeads = 16;
constexpr size_t kCachedHeadRows = 1024;  // a few bytes per query position each

template <class T>
std::span<uint8_t> bytes_of(std::vector<T>& v) {
  return {reinterpret_cast<uint8_t*>(v.data()), v.size() * sizeof(T)};
}

template <class T>
std::vector<T> blob_as(std::span<const uint8_t> b, size_t expected, const std::string& what) {
  if (b.size() != expected * sizeof(T))
    throw Error(what + ": " + std::to_string(b.size()) + " bytes, expected " + std::to_string(expected * sizeof(T)));
  std::vector<T> v(expected);
  if (expected) std::memcpy(v.data(), b.data(), b.size());
  return v;
}

// A head's cached entry loaded up to the newest step, moved to the front; a stale one (a recording
// added steps since) is dropped so that the caller loads it again.
template <class Entry>
Entry* find_current(std::list<std::unique_ptr<Entry>>& cache, int64_t run, int32_t layer, int32_t head, int64_t newest) {
  for (auto it = cache.begin(); it != cache.end(); ++it) {
    const Entry& e = **it;
    if (e.run != run || e.layer != layer || e.head != head) continue;
    if (e.max_step < newest) {
      cache.erase(it);
      return nullptr;
    }
    cache.splice(cache.begin(), cache, it);
    return cache.front().get();
  }
  return nullptr;
}

std::string head_name(int64_t run, int32_t layer, int32_t head) {
  return "run " + std::to_string(run) + " layer " + std::to_string(layer) + " head " + std::to_string(head);
}

}  // namespace

struct SessionReader::HeadFactors {
  int64_t run = 0;
  int32_t layer = 0, head = 0, kv_head = 0;
  int d = 0;
  float scale = 1.f;
  MaskSpec mask;
  int64_t max_step = -1;          // the newest step loaded
  int64_t q_first = 0;            // q holds the positions from here on (0 unless loaded for a range)
  std::vector<float> q;           // [pos - q_first][d]
  std::vector<QueryRow> rows;     // [pos]; n_k < 0 where the position has no recorded query
  std::vector<float> k;           // [pos][d]
  int64_t n_keys = 0;

  const float* q_row(int64_t pos) const { return q.data() + static_cast<size_t>(pos - q_first) * static_cast<size_t>(d); }
};

// Which query positions one head recorded and how many keys each saw: a map's shape from the
// rows' metadata alone, so a stored pyramid tile is served without reading any factor BLOB.
struct SessionReader::HeadRows {
  int64_t run = 0;
  int32_t layer = 0, head = 0;
  int d = 0;
  int64_t max_step = -1;     // the newest step loaded
  std::vector<int64_t> n_k;  // [pos]; -1 where the position has no recorded query
};

SessionReader::SessionReader(const std::string& path) : db_(open_session_read_only(path)) {
  schema_version_ = db_.pragma_int("user_version");
}

SessionReader::~SessionReader() = default;

std::vector<RunSummary> SessionReader::runs() const {
  std::vector<RunSummary> out;
  Stmt s = db_.prepare("SELECT run_id FROM _run ORDER BY run_id");
  while (s.step()) out.push_back(run(s.integer(0)));
  return out;
}

RunSummary SessionReader::run(int64_t id) const {
  Stmt s = db_.prepare(
      "SELECT label, model_path, model_format, architecture, plugin_id, plugin_version, model_kind, n_layers, d_model, "
      "n_heads, n_kv_heads, head_dim, vocab_size, context_length, prompt, options_json, machine_json, captures, max_bytes, "
      "wall_start_utc, start_ns, end_ns, status, error, degraded_json FROM run WHERE run_id = ?");
  s.bind(1, id);
  if (!s.step()) throw Error(db_.path() + ": no run " + std::to_string(id));
  RunSummary r;
  r.id = id;
  RunInfo& i = r.info;
  i.label = s.text(0), i.model_path = s.text(1), i.model_format = s.text(2), i.architecture = s.text(3);
  i.plugin_id = s.text(4), i.plugin_version = s.text(5), i.model_kind = s.text(6);
  i.n_layers = s.integer(7), i.d_model = s.integer(8), i.n_heads = s.integer(9), i.n_kv_heads = s.integer(10);
  i.head_dim = s.integer(11), i.vocab_size = s.integer(12), i.context_length = s.integer(13);
  i.prompt = s.text(14), i.options_json = s.text(15), i.machine_json = s.text(16), i.captures = s.text(17);
  if (!s.is_null(18)) i.max_bytes = s.integer(18);
  i.wall_start_utc = s.text(19), i.start_ns = s.integer(20);
  if (!s.is_null(21)) r.end_ns = s.integer(21);
  r.status = s.text(22);
  r.error = s.is_null(23) ? "" : s.text(23);
  r.degraded_json = s.text(24);

  auto scalar = [&](const char* sql) {
    Stmt q = db_.prepare(sql);
    q.bind(1, id);
    return q.step() && !q.is_null(0) ? q.integer(0) : int64_t{0};
  };
  r.n_tokens = scalar("SELECT count(*) FROM _token WHERE run_id = ?");
  r.n_steps = scalar("SELECT count(*) FROM _step WHERE run_id = ?");
  r.counts.attention_heads = scalar("SELECT coalesce(sum(n_heads), 0) FROM _attention_query WHERE run_id = ?");
  r.counts.memory_snapshots = scalar("SELECT count(*) FROM _memory_snapshot WHERE run_id = ?");
  r.counts.kv_snapshots = scalar("SELECT count(*) FROM _kv_occupancy WHERE run_id = ?");
  r.counts.ops = scalar("SELECT count(*) FROM _op WHERE run_id = ?");
  r.counts.kernels = scalar("SELECT count(*) FROM _kernel WHERE run_id = ?");
  // Payload bytes; length() of a BLOB reads its header, not its pages.
  r.bytes = scalar("SELECT coalesce(sum(length(q) + length(lse) + 64), 0) FROM _attention_query WHERE run_id = ?") +
            scalar("SELECT coalesce(sum(length(k) + 48), 0) FROM _attention_key WHERE run_id = ?") +
            scalar("SELECT coalesce(sum(length(max) + length(mean) + 64), 0) FROM _pyramid_tile WHERE run_id = ?") +
            scalar("SELECT coalesce(sum(length(data) + length(norms) + 48), 0) FROM _memory_snapshot WHERE run_id = ?") +
            scalar("SELECT coalesce(sum(length(ranges) + 56), 0) FROM _kv_occupancy WHERE run_id = ?") +
            scalar("SELECT coalesce(sum(length(text) + 24), 0) FROM _token WHERE run_id = ?") +
            scalar("SELECT count(*) * 48 FROM _head_metric WHERE run_id = ?") +
            (r.counts.ops + r.counts.kernels) * 48 + r.n_steps * 48;
  return r;
}

std::vector<StepRecord> SessionReader::steps(int64_t run_id) const {
  std::vector<StepRecord> out;
  Stmt s = db_.prepare("SELECT step, kind, pos0, n_tokens, start_ns, end_ns FROM _step WHERE run_id = ? ORDER BY step");
  s.bind(1, run_id);
  while (s.step()) out.push_back({s.integer(0), s.text(1), s.integer(2), s.integer(3), s.integer(4), s.integer(5)});
  return out;
}

std::vector<TokenRecord> SessionReader::tokens(int64_t run_id) const {
  std::vector<TokenRecord> out;
  Stmt s = db_.prepare("SELECT position, token_id, text, step FROM _token WHERE run_id = ? ORDER BY position");
  s.bind(1, run_id);
  while (s.step()) {
    const auto b = s.blob(2);
    out.push_back({s.integer(0), static_cast<int32_t>(s.integer(1)), std::string(b.begin(), b.end()), s.integer(3)});
  }
  return out;
}

std::vector<KvRecord> SessionReader::kv(int64_t run_id) const {
  std::vector<KvRecord> out;
  Stmt s = db_.prepare(
      "SELECT step, layer, n_resident, capacity, bytes_used, bytes_reserved, ranges FROM _kv_occupancy WHERE run_id = ? "
      "ORDER BY step, layer");
  s.bind(1, run_id);
  while (s.step()) {
    KvRecord r{s.integer(0), static_cast<int32_t>(s.integer(1)), s.integer(2), s.integer(3), s.integer(4), s.integer(5), {}};
    const auto b = s.blob(6);
    if (b.size() % 16) throw Error(db_.path() + ": KV ranges of step " + std::to_string(r.step) + " are not int64 pairs");
    const auto flat = blob_as<int64_t>(b, b.size() / 8, db_.path() + ": KV ranges");
    for (size_t i = 0; i + 1 < flat.size(); i += 2) r.ranges.emplace_back(flat[i], flat[i + 1]);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<HeadMetricRecord> SessionReader::head_metrics(int64_t run_id, std::optional<int64_t> step) const {
  std::vector<HeadMetricRecord> out;
  Stmt s = db_.prepare(
      "SELECT layer, head, step, entropy, mean_distance, sink_mass, sparsity FROM _head_metric "
      "WHERE run_id = ?1 AND (?2 IS NULL OR step = ?2) ORDER BY step, layer, head");
  s.bind(1, run_id).bind(2, step);
  while (s.step())
    out.push_back({static_cast<int32_t>(s.integer(0)), static_cast<int32_t>(s.integer(1)), s.integer(2),
                   {s.real(3), s.real(4), s.real(5), s.real(6)}});
  return out;
}

std::vector<CounterRecord> SessionReader::counters(int64_t run_id) const {
  std::vector<CounterRecord> out;
  Stmt s = db_.prepare("SELECT name, t_ns, value FROM _counter WHERE run_id = ? ORDER BY name, t_ns");
  s.bind(1, run_id);
  while (s.step()) out.push_back({s.text(0), s.integer(1), s.real(2)});
  return out;
}

std::vector<MemorySnapshotRecord> SessionReader::memory_snapshots(int64_t run_id, std::optional<int32_t> layer) const {
  std::vector<MemorySnapshotRecord> out;
  Stmt s = db_.prepare(
      "SELECT step, layer, segment, kind, rows, cols, data, norms FROM _memory_snapshot WHERE run_id = ?1 "
      "AND (?2 IS NULL OR layer = ?2) ORDER BY step, layer, segment, kind");
  s.bind(1, run_id).bind(2, layer ? std::optional<int64_t>(*layer) : std::nullopt);
  while (s.step()) {
    MemorySnapshotRecord m;
    m.step = s.integer(0), m.layer = static_cast<int32_t>(s.integer(1)), m.segment = s.integer(2), m.kind = s.text(3);
    m.rows = s.integer(4), m.cols = s.integer(5);
    if (m.rows < 0 || m.cols < 0 || m.rows > (int64_t{1} << 20) || m.cols > (int64_t{1} << 20))
      throw Error(db_.path() + ": memory snapshot with " + std::to_string(m.rows) + " × " + std::to_string(m.cols) + " cells");
    const std::string what = db_.path() + ": memory snapshot of step " + std::to_string(m.step);
    m.data = blob_as<uint16_t>(s.blob(6), static_cast<size_t>(m.rows * m.cols), what);
    m.norms = blob_as<float>(s.blob(7), static_cast<size_t>(m.rows), what + " (norms)");
    out.push_back(std::move(m));
  }
  return out;
}

int64_t SessionReader::rows_at_step(int64_t run_id, int64_t step) const {
  Stmt s = db_.prepare("SELECT pos0 + n_tokens FROM _step WHERE run_id = ? AND step = ?");
  s.bind(1, run_id).bind(2, step);
  if (s.step()) return s.integer(0);
  if (newest_step(run_id) < 0) {
    head_dim(run_id);  // throws "no run" for a run that is not there at all
    throw no_committed_step(run_id);
  }
  throw Error(db_.path() + ": run " + std::to_string(run_id) + " has no step " + std::to_string(step) +
                " (not recorded, or not committed yet)");
}

Error SessionReader::no_committed_step(int64_t run_id) const {
  return Error(db_.path() + ": run " + std::to_string(run_id) +
               " has no committed step yet (it is still being recorded, or its recorder stopped before the first step)");
}

int64_t SessionReader::newest_step(int64_t run_id) const {
  Stmt s = db_.prepare("SELECT max(step) FROM _step WHERE run_id = ?");
  s.bind(1, run_id);
  return s.step() && !s.is_null(0) ? s.integer(0) : -1;
}

int SessionReader::head_dim(int64_t run_id) const {
  Stmt s = db_.prepare("SELECT head_dim FROM _run WHERE run_id = ?");
  s.bind(1, run_id);
  if (!s.step()) throw Error(db_.path() + ": no run " + std::to_string(run_id));
  const int64_t d = s.integer(0);
  if (d <= 0 || d > 4096) throw Error(db_.path() + ": run " + std::to_string(run_id) + " has head_dim " + std::to_string(d));
  return static_cast<int>(d);
}

const SessionReader::HeadRows& SessionReader::head_rows(int64_t run_id, int32_t layer, int32_t head) {
  const int64_t newest = newest_step(run_id);
  if (HeadRows* cached = find_current(rows_cache_, run_id, layer, head, newest)) return *cached;
  auto r = std::make_unique<HeadRows>();
  r->run = run_id, r->layer = layer, r->head = head;
  r->d = head_dim(run_id);
  // The columns before the BLOBs: SQLite reads them without touching the BLOBs' overflow pages.
  Stmt s = db_.prepare(
      "SELECT step, q_pos0, n_q, n_k FROM _attention_query "
      "WHERE run_id = ?1 AND layer = ?2 AND step <= ?3 AND ?4 < n_heads ORDER BY step");
  s.bind(1, run_id).bind(2, layer).bind(3, newest).bind(4, head);
  const std::string what = db_.path() + ": " + head_name(run_id, layer, head);
  while (s.step()) {
    const int64_t step = s.integer(0), q_pos0 = s.integer(1), n_q = s.integer(2), n_k = s.integer(3);
    if (q_pos0 < 0 || n_q < 0 || n_k < 0 || q_pos0 + n_q > (int64_t{1} << 24) || n_k > (int64_t{1} << 24))
      throw Error(what + ": step " + std::to_string(step) + " has impossible extents");
    const size_t end = static_cast<size_t>(q_pos0 + n_q);
    if (r->n_k.size() < end) r->n_k.resize(end, -1);
    std::fill_n(r->n_k.begin() + q_pos0, n_q, n_k);
    r->max_step = step;
  }
  if (newest < 0) throw no_committed_step(run_id);  // not the captures' fault: nothing is committed yet
  if (r->max_step < 0)
    throw Error(what + ": no attention factors recorded (capture off, head out of range, or dropped by the byte budget)");
  rows_cache_.push_front(std::move(r));
  if (rows_cache_.size() > kCachedHeadRows) rows_cache_.pop_back();
  return *rows_cache_.front();
}

SessionReader::HeadFactors& SessionReader::factors(int64_t run_id, int32_t layer, int32_t head) {
  const int64_t newest_step = this->newest_step(run_id);
  if (HeadFactors* cached = find_current(cache_, run_id, layer, head, newest_step)) return *cached;
  auto f = std::make_unique<HeadFactors>();
  load_factors(*f, run_id, layer, head, newest_step, 0, std::numeric_limits<int64_t>::max());
  cache_.push_front(std::move(f));
  if (cache_.size() > kCachedHeads) cache_.pop_back();
  return *cache_.front();
}

SessionReader::HeadFactors& SessionReader::factors_for_rows(int64_t run_id, int32_t layer, int32_t head, int64_t q_begin,
                                                            int64_t q_end) {
  const int64_t newest_step = this->newest_step(run_id);
  if (HeadFactors* cached = find_current(cache_, run_id, layer, head, newest_step)) return *cached;
  // Not cached: the queries of those rows alone, into buffers reused from one call to the next
  // (an overview of a decode step needs a few rows of each of hundreds of heads).
  if (!ranged_) ranged_ = std::make_unique<HeadFactors>();
  load_factors(*ranged_, run_id, layer, head, newest_step, q_begin, q_end);
  return *ranged_;
}

void SessionReader::load_factors(HeadFactors& f, int64_t run_id, int32_t layer, int32_t head, int64_t newest_step,
                                 int64_t q_begin, int64_t q_end) {
  const std::string what = db_.path() + ": " + head_name(run_id, layer, head);
  f.run = run_id, f.layer = layer, f.head = head;
  f.d = head_dim(run_id);
  f.max_step = -1, f.n_keys = 0, f.q_first = q_begin;
  f.q.clear(), f.rows.clear(), f.k.clear();
  const size_t d = static_cast<size_t>(f.d);
  // Sized once: a prefill's rows and then one row per decode step would otherwise copy the whole
  // head at the first decode row.
  const int64_t positions = static_cast<int64_t>(head_rows(run_id, layer, head).n_k.size());
  f.q.reserve(static_cast<size_t>(std::max<int64_t>(0, std::min(q_end, positions) - q_begin)) * d);
  f.k.reserve(static_cast<size_t>(positions) * d);
  f.rows.reserve(static_cast<size_t>(positions));
  // Rows hold every head of the layer, head-major: this head's queries are one slice of each BLOB,
  // read alone (incremental BLOB I/O) rather than the whole layer's.
  Stmt s = db_.prepare(
      "SELECT rowid, step, n_heads, n_kv_heads, q_pos0, n_q, n_k, mask, window, scale FROM _attention_query "
      "WHERE run_id = ?1 AND layer = ?2 AND step <= ?3 AND ?4 < n_heads ORDER BY step");
  s.bind(1, run_id).bind(2, layer).bind(3, newest_step).bind(4, head);
  BlobReader q_blob(db_, "_attention_query", "q"), lse_blob(db_, "_attention_query", "lse");
  std::vector<uint16_t> half;
  std::vector<float> lse;
  while (s.step()) {
    const int64_t rowid = s.integer(0), step = s.integer(1), n_heads = s.integer(2), n_kv_heads = s.integer(3);
    const int64_t q_pos0 = s.integer(4), n_q = s.integer(5), n_k = s.integer(6);
    if (q_pos0 < 0 || n_q < 0 || n_k < 0 || q_pos0 + n_q > (int64_t{1} << 24) || n_k > (int64_t{1} << 24))
      throw Error(what + ": step " + std::to_string(step) + " has impossible extents");
    if (n_kv_heads <= 0 || n_heads % n_kv_heads != 0)
      throw Error(what + ": step " + std::to_string(step) + " has " + std::to_string(n_heads) + " heads over " +
                  std::to_string(n_kv_heads) + " KV heads");
    f.kv_head = static_cast<int32_t>(head / (n_heads / n_kv_heads));
    f.mask = {parse_mask(s.text(7)), s.integer(8)};
    f.scale = static_cast<float>(s.real(9));
    const std::string at_step = head_name(run_id, layer, head) + " step " + std::to_string(step);  // Db adds the path
    lse.resize(static_cast<size_t>(n_q));
    lse_blob.read(rowid, head * n_q * 4, bytes_of(lse), at_step + " lse");
    const size_t end = static_cast<size_t>(q_pos0 + n_q);
    if (f.rows.size() < end) f.rows.resize(end, QueryRow{0, -1, 0.f});
    for (int64_t i = 0; i < n_q; ++i) f.rows[static_cast<size_t>(q_pos0 + i)] = {q_pos0 + i, n_k, lse[static_cast<size_t>(i)]};
    // The queries of the rows in [q_begin, q_end).
    const int64_t lo = std::max(q_pos0, q_begin), hi = std::min(q_pos0 + n_q, q_end);
    if (hi > lo) {
      half.resize(static_cast<size_t>(hi - lo) * d);
      q_blob.read(rowid, (head * n_q + lo - q_pos0) * static_cast<int64_t>(d * 2), bytes_of(half), at_step + " q");
      if (f.q.size() < static_cast<size_t>(hi - q_begin) * d) f.q.resize(static_cast<size_t>(hi - q_begin) * d);
      fp16_to_f32(half, f.q.data() + static_cast<size_t>(lo - q_begin) * d);
    }
    f.max_step = step;
  }
  if (f.max_step < 0)
    throw Error(what + ": no attention factors recorded (capture off, head out of range, or dropped by the byte budget)");
  Stmt k = db_.prepare(
      "SELECT rowid, step, pos0, n FROM _attention_key "
      "WHERE run_id = ?1 AND layer = ?2 AND step <= ?3 AND ?4 < n_kv_heads ORDER BY step");
  k.bind(1, run_id).bind(2, layer).bind(3, newest_step).bind(4, f.kv_head);
  BlobReader k_blob(db_, "_attention_key", "k");
  while (k.step()) {
    const int64_t rowid = k.integer(0), pos0 = k.integer(2), n = k.integer(3);
    if (pos0 < 0 || n < 0 || pos0 + n > (int64_t{1} << 24)) throw Error(what + ": key rows with impossible extents");
    half.resize(static_cast<size_t>(n) * d);
    k_blob.read(rowid, f.kv_head * n * static_cast<int64_t>(d * 2), bytes_of(half),
                head_name(run_id, layer, head) + " step " + std::to_string(k.integer(1)) + " k");
    const size_t end = static_cast<size_t>(pos0 + n);
    if (f.k.size() < end * d) f.k.resize(end * d, 0.f);
    fp16_to_f32(half, f.k.data() + static_cast<size_t>(pos0) * d);
    f.n_keys = std::max<int64_t>(f.n_keys, pos0 + n);
  }
}

int64_t SessionReader::keys_seen(const HeadRows& h, int64_t rows) {
  int64_t cols = 0;
  for (int64_t i = 0; i < std::min<int64_t>(rows, static_cast<int64_t>(h.n_k.size())); ++i)
    cols = std::max(cols, h.n_k[static_cast<size_t>(i)]);
  return cols;
}

MapShape SessionReader::map_shape(int64_t run_id, int64_t step, int32_t layer, int32_t head) {
  return shape_at(head_rows(run_id, layer, head), rows_at_step(run_id, step));
}

MapShape SessionReader::shape_at(const HeadRows& h, int64_t rows) { return {rows, keys_seen(h, rows), h.d}; }

void SessionReader::recompute_pooled(HeadFactors& f, int64_t n_cols, int level, int64_t row_begin, int64_t row_end,
                                     AttentionTile& t) {
  // Pools map rows [row_begin, row_end) of the tile's columns into its cells.
  const int64_t s = int64_t{1} << level;
  const int64_t c0 = t.col0 * s, c1 = std::min(n_cols, (t.col0 + t.cols) * s);
  if (c1 <= c0 || row_end <= row_begin) return;
  const size_t d = static_cast<size_t>(f.d);
  std::vector<float>& p = pool_scratch_;
  // 128 rows a block: the keys are packed for the product once per block, not per 64 rows.
  constexpr int64_t kChunk = 128;
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kChunk) {
    const int64_t nr = std::min(kChunk, row_end - r0);
    for (int64_t i = 0; i < nr; ++i)
      if (f.rows[static_cast<size_t>(r0 + i)].n_k < 0)
        throw Error(db_.path() + ": " + head_name(f.run, f.layer, f.head) + ": no factors for query position " +
                    std::to_string(r0 + i));
    p.resize(static_cast<size_t>(nr * (c1 - c0)));
    const int64_t kc = std::min(c1, f.n_keys);  // keys not recorded read as hidden
    auto probs_into = [&](float* out) {
      attention_probs({f.q_row(r0), static_cast<size_t>(nr) * d},
                      {f.rows.data() + r0, static_cast<size_t>(nr)},
                      {f.k.data() + static_cast<size_t>(c0) * d, static_cast<size_t>(kc - c0) * d}, c0, kc - c0, f.d,
                      f.scale, f.mask, out);
    };
    if (kc == c1) {
      probs_into(p.data());  // every column recorded: the rows are the block's
    } else {
      std::fill(p.begin(), p.end(), 0.f);
      if (kc > c0) {
        std::vector<float> block(static_cast<size_t>(nr * (kc - c0)));
        probs_into(block.data());
        for (int64_t i = 0; i < nr; ++i)
          std::copy_n(block.data() + i * (kc - c0), kc - c0, p.data() + i * (c1 - c0));
      }
    }
    for (int64_t i = 0; i < nr; ++i) {
      const int64_t cell_r = (r0 + i) / s - t.row0;
      if (cell_r < 0 || cell_r >= t.rows) continue;
      const float* row = p.data() + i * (c1 - c0);
      for (int64_t c = 0; c < t.cols; ++c) {
        const int64_t j0 = (t.col0 + c) * s - c0, j1 = std::min(c1, (t.col0 + c + 1) * s) - c0;
        float m = t.max[static_cast<size_t>(cell_r * t.cols + c)], sum = 0.f;
        for (int64_t j = j0; j < j1; ++j) m = std::max(m, row[j]), sum += row[j];
        t.max[static_cast<size_t>(cell_r * t.cols + c)] = m;
        t.mean[static_cast<size_t>(cell_r * t.cols + c)] += sum;  // a sum until the caller divides
      }
    }
  }
  t.recomputed_rows += row_end - row_begin;
}

AttentionTile SessionReader::tile(int64_t run_id, int64_t step, int32_t layer, int32_t head, int level, int64_t ty,
                                  int64_t tx) {
  if (level < 0 || level > kMaxTileLevel || ty < 0 || tx < 0)
    throw Error("tile level must be 0.." + std::to_string(kMaxTileLevel) + " and ty, tx >= 0");
  const HeadRows& head_shape = head_rows(run_id, layer, head);  // read before any factors are loaded
  const MapShape shape = shape_at(head_shape, rows_at_step(run_id, step));
  const int64_t s = int64_t{1} << level;
  const int64_t cell_rows = cells_at_level(shape.rows, level), cell_cols = cells_at_level(shape.cols, level);
  // Against the tile grid before any product: ty * kTileSize overflows for a huge ty.
  if (ty >= tiles_at_level(shape.rows, level) || tx >= tiles_at_level(shape.cols, level))
    throw Error(db_.path() + ": tile (" + std::to_string(ty) + ", " + std::to_string(tx) + ") at level " +
                std::to_string(level) + " is outside the map (" + std::to_string(cell_rows) + " × " +
                std::to_string(cell_cols) + " cells, " + std::to_string(tiles_at_level(shape.rows, level)) + " × " +
                std::to_string(tiles_at_level(shape.cols, level)) + " tiles)");
  AttentionTile t;
  t.level = level, t.ty = ty, t.tx = tx;
  t.row0 = ty * kTileSize, t.col0 = tx * kTileSize;
  t.rows = std::min(kTileSize, cell_rows - t.row0);
  t.cols = std::min(kTileSize, cell_cols - t.col0);

  // Rows up to `covered` come from the newest stored pyramid tile at or before this step.
  int64_t covered = 0;
  if (level >= 1) {
    Stmt p = db_.prepare(
        "SELECT step, rows, cols, codec, max, mean FROM _pyramid_tile WHERE run_id = ? AND layer = ? AND head = ? "
        "AND level = ? AND ty = ? AND tx = ? AND step <= ? ORDER BY step DESC LIMIT 1");
    p.bind(1, run_id).bind(2, layer).bind(3, head).bind(4, level).bind(5, ty).bind(6, tx).bind(7, step);
    if (p.step()) {
      const int64_t snap_step = p.integer(0), rows = p.integer(1), cols = p.integer(2);
      const TileCodec codec = p.text(3) == "f16" ? TileCodec::F16 : TileCodec::ZstdF16;
      if (rows <= 0 || cols <= 0 || rows > kTileSize || cols > kTileSize)
        throw Error(db_.path() + ": pyramid tile with " + std::to_string(rows) + " × " + std::to_string(cols) + " cells");
      const std::string what = db_.path() + ": pyramid tile of " + head_name(run_id, layer, head);
      const int64_t snap_rows = rows_at_step(run_id, snap_step);
      const int64_t snap_cols = keys_seen(head_shape, snap_rows);
      if (snap_rows >= shape.rows && snap_cols >= shape.cols && rows == t.rows && cols == t.cols) {
        // A snapshot of this very map (the step that stored it, or no rows and keys since): the
        // stored cells are the tile's, means included.
        t.max = decode_tile(p.blob(4), codec, rows * cols, what.c_str());
        t.mean = decode_tile(p.blob(5), codec, rows * cols, what.c_str());
        return t;
      }
      t.max.assign(static_cast<size_t>(t.rows * t.cols), 0.f);
      t.mean.assign(t.max.size(), 0.f);
      const auto mx = decode_tile(p.blob(4), codec, rows * cols, what.c_str());
      const auto mean = decode_tile(p.blob(5), codec, rows * cols, what.c_str());
      // A row's probabilities never change once computed, so the snapshot's cells (their max, and
      // their mean as a sum over the cells it covered) take the later rows as they are added,
      // a partial last cell row included.
      const int64_t snap_cells = std::min({t.rows, rows, (snap_rows + s - 1) / s - t.row0});
      for (int64_t r = 0; r < snap_cells; ++r)
        for (int64_t c = 0; c < std::min(t.cols, cols); ++c) {
          const size_t at = static_cast<size_t>(r * t.cols + c), from = static_cast<size_t>(r * cols + c);
          t.max[at] = mx[from];
          t.mean[at] = mean[from] * static_cast<float>(cells_inside(level, t.row0 + r, t.col0 + c, snap_rows, snap_cols));
        }
      if (snap_cells > 0) covered = std::min(snap_rows, (t.row0 + snap_cells) * s);
    }
  }
  if (t.max.empty()) {
    t.max.assign(static_cast<size_t>(t.rows * t.cols), 0.f);
    t.mean.assign(t.max.size(), 0.f);
  }
  const int64_t row_begin = std::max(covered, t.row0 * s), row_end = std::min(shape.rows, (t.row0 + t.rows) * s);
  if (row_begin < row_end)
    recompute_pooled(factors_for_rows(run_id, layer, head, row_begin, row_end), shape.cols, level, row_begin, row_end, t);
  for (int64_t r = 0; r < t.rows; ++r)
    for (int64_t c = 0; c < t.cols; ++c) {
      const size_t at = static_cast<size_t>(r * t.cols + c);
      if (level == 0) t.mean[at] = t.max[at];
      else t.mean[at] /= static_cast<float>(cells_inside(level, t.row0 + r, t.col0 + c, shape.rows, shape.cols));
    }
  return t;
}

std::vector<float> SessionReader::row(int64_t run_id, int32_t layer, int32_t head, int64_t query_pos) {
  HeadFactors& f = factors(run_id, layer, head);
  if (query_pos < 0 || query_pos >= static_cast<int64_t>(f.rows.size()) || f.rows[static_cast<size_t>(query_pos)].n_k < 0)
    throw Error(db_.path() + ": " + head_name(run_id, layer, head) + " has no query at position " + std::to_string(query_pos));
  const QueryRow& r = f.rows[static_cast<size_t>(query_pos)];
  const int64_t n = std::min(r.n_k, f.n_keys);
  std::vector<float> p(static_cast<size_t>(r.n_k), 0.f);
  const size_t d = static_cast<size_t>(f.d);
  attention_probs({f.q_row(query_pos), d}, {&r, 1}, {f.k.data(), static_cast<size_t>(n) * d},
                  0, n, f.d, f.scale, f.mask, p.data());
  return p;
}

std::vector<float> SessionReader::column(int64_t run_id, int64_t step, int32_t layer, int32_t head, int64_t key_pos) {
  const MapShape shape = map_shape(run_id, step, layer, head);
  HeadFactors& f = factors(run_id, layer, head);
  if (key_pos < 0 || key_pos >= std::min(shape.cols, f.n_keys))
    throw Error(db_.path() + ": " + head_name(run_id, layer, head) + " has no key at position " + std::to_string(key_pos));
  std::vector<float> out(static_cast<size_t>(shape.rows), 0.f);
  const size_t d = static_cast<size_t>(f.d);
  for (int64_t i = 0; i < shape.rows; ++i) {
    const QueryRow& r = f.rows[static_cast<size_t>(i)];
    if (r.n_k < 0) continue;
    attention_probs({f.q_row(i), d}, {&r, 1}, {f.k.data() + static_cast<size_t>(key_pos) * d, d},
                    key_pos, 1, f.d, f.scale, f.mask, &out[static_cast<size_t>(i)]);
  }
  return out;
}

std::vector<std::pair<int64_t, float>> SessionReader::top_k(int64_t run_id, int32_t layer, int32_t head,
                                                            int64_t query_pos, int k) {
  const std::vector<float> p = row(run_id, layer, head, query_pos);
  std::vector<std::pair<int64_t, float>> out;
  for (size_t j = 0; j < p.size(); ++j) out.emplace_back(static_cast<int64_t>(j), p[j]);
  const size_t n = std::min(out.size(), static_cast<size_t>(std::max(k, 0)));
  std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n), out.end(),
                    [](const auto& a, const auto& b) { return a.second > b.second || (a.second == b.second && a.first < b.first); });
  out.resize(n);
  return out;
}

std::vector<OpRow> SessionReader::ops(int64_t run_id, int64_t t0, int64_t t1, int64_t thread) const {
  std::vector<OpRow> out;
  Stmt s = db_.prepare(
      "SELECT o.op_id, o.step, k.name, o.layer, o.head, o.thread, o.start_ns, o.end_ns FROM _op AS o "
      "JOIN _op_kind AS k USING (kind) WHERE o.run_id = ?1 AND (?4 < 0 OR o.thread = ?4) AND o.start_ns < ?3 "
      "AND o.end_ns >= ?2 ORDER BY o.thread, o.start_ns");
  s.bind(1, run_id).bind(2, t0).bind(3, t1).bind(4, thread);
  while (s.step())
    out.push_back({s.integer(0), s.integer(1), s.text(2), static_cast<int32_t>(s.integer(3)),
                   static_cast<int32_t>(s.integer(4)), static_cast<int32_t>(s.integer(5)), s.integer(6), s.integer(7)});
  return out;
}

std::vector<int64_t> SessionReader::op_threads(int64_t run_id) const {
  std::vector<int64_t> out;
  Stmt s = db_.prepare("SELECT DISTINCT thread FROM _op WHERE run_id = ? ORDER BY thread");
  s.bind(1, run_id);
  while (s.step()) out.push_back(s.integer(0));
  return out;
}

std::vector<TimelineBucket> SessionReader::timeline(int64_t run_id, int64_t thread, int64_t t0, int64_t t1,
                                                    int64_t n_buckets) const {
  if (n_buckets <= 0 || t1 <= t0) throw Error("timeline needs t1 > t0 and at least one bucket");
  n_buckets = std::min<int64_t>(n_buckets, 1 << 20);
  std::vector<TimelineBucket> out(static_cast<size_t>(n_buckets));
  const double width = static_cast<double>(t1 - t0) / static_cast<double>(n_buckets);
  for (int64_t b = 0; b < n_buckets; ++b) {
    out[static_cast<size_t>(b)].t0_ns = t0 + static_cast<int64_t>(static_cast<double>(b) * width);
    out[static_cast<size_t>(b)].t1_ns = t0 + static_cast<int64_t>(static_cast<double>(b + 1) * width);
  }
  std::vector<int64_t> longest_dur(out.size(), -1);
  auto add = [&](int64_t s, int64_t e, int64_t count, int64_t busy, int64_t op_id, int64_t dur) {
    const int64_t b0 = std::clamp<int64_t>(static_cast<int64_t>(static_cast<double>(s - t0) / width), 0, n_buckets - 1);
    const int64_t b1 = std::clamp<int64_t>(static_cast<int64_t>(static_cast<double>(std::max(e - 1, s) - t0) / width), 0, n_buckets - 1);
    for (int64_t b = b0; b <= b1; ++b) {
      TimelineBucket& k = out[static_cast<size_t>(b)];
      k.count += count;
      const int64_t overlap = std::min(e, k.t1_ns) - std::max(s, k.t0_ns);
      k.busy_ns += busy < 0 ? std::max<int64_t>(overlap, 0) : busy * std::max<int64_t>(overlap, 0) / std::max<int64_t>(e - s, 1);
      if (dur > longest_dur[static_cast<size_t>(b)]) longest_dur[static_cast<size_t>(b)] = dur, k.longest_op = op_id;
    }
  };
  // The coarsest stored level whose buckets are no wider than the requested ones.
  int64_t run_t0 = 0;
  {
    Stmt s = db_.prepare("SELECT start_ns FROM _run WHERE run_id = ?");
    s.bind(1, run_id);
    if (s.step()) run_t0 = s.integer(0);
    Stmt m = db_.prepare("SELECT min(start_ns) FROM _op WHERE run_id = ?");
    m.bind(1, run_id);
    if (m.step() && !m.is_null(0)) run_t0 = std::min(run_t0, m.integer(0));
  }
  int level = -1;
  {
    Stmt s = db_.prepare("SELECT DISTINCT level FROM _op_lod WHERE run_id = ? AND thread = ? ORDER BY level");
    s.bind(1, run_id).bind(2, thread);
    while (s.step())
      if (static_cast<double>(int64_t{1000} << s.integer(0)) <= width) level = static_cast<int>(s.integer(0));
  }
  if (level >= 0) {
    const int64_t lw = int64_t{1000} << level;
    Stmt s = db_.prepare(
        "SELECT l.bucket, l.count, l.busy_ns, l.longest_op, o.end_ns - o.start_ns FROM _op_lod AS l "
        "LEFT JOIN _op AS o ON o.run_id = l.run_id AND o.op_id = l.longest_op "
        "WHERE l.run_id = ? AND l.thread = ? AND l.level = ? AND l.bucket >= ? AND l.bucket <= ?");
    s.bind(1, run_id).bind(2, thread).bind(3, level).bind(4, (t0 - run_t0) / lw).bind(5, (t1 - run_t0) / lw);
    while (s.step()) {
      const int64_t bs = run_t0 + s.integer(0) * lw;
      // A LOD bucket counts each op in every bucket it overlaps; fine buckets land inside one pixel.
      add(std::max(bs, t0), std::min(bs + lw, t1), s.integer(1), s.integer(2), s.integer(3), s.is_null(4) ? 0 : s.integer(4));
    }
  } else {
    for (const OpRow& o : ops(run_id, t0, t1, thread)) add(o.start_ns, o.end_ns, 1, -1, o.op_id, o.end_ns - o.start_ns);
  }
  return out;
}

}  // namespace mnemo::profiler
