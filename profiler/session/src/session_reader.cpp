#include "mnemo/profiler/session/session_reader.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "mnemo/core/fp16.h"
#include "mnemo/profiler/session/attention_math.h"
#include "mnemo/profiler/session/checksum.h"
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

// A head's (or one of its channels') cached entry loaded up to the newest step, moved to the front;
// a stale one (a recording added steps since) is dropped so that the caller loads it again.
template <class Entry>
Entry* find_current(std::list<std::unique_ptr<Entry>>& cache, int64_t run, int32_t layer, int32_t head, int64_t channel,
                    int64_t newest) {
  for (auto it = cache.begin(); it != cache.end(); ++it) {
    const Entry& e = **it;
    if (e.run != run || e.layer != layer || e.head != head || e.channel != channel) continue;
    if (e.max_step < newest) {
      cache.erase(it);
      return nullptr;
    }
    cache.splice(cache.begin(), cache, it);
    return cache.front().get();
  }
  return nullptr;
}

std::string head_name(int64_t run, int32_t layer, int32_t head, int64_t channel = -1) {
  return "run " + std::to_string(run) + " layer " + std::to_string(layer) + " head " + std::to_string(head) +
         (channel >= 0 ? " channel " + std::to_string(channel) : "");
}

// One count of a run as the file claims it, refused outside [0, max] (session_limits says why).
void check_count(const std::string& path, int64_t run, const char* field, int64_t value, int64_t max,
                 const char* max_is = nullptr) {
  if (value >= 0 && value <= max) return;
  throw FormatError(path, "run " + std::to_string(run) + " claims " + field + " = " + std::to_string(value) +
                              " (a session may hold 0 to " + (max_is ? std::string(max_is) + ", " : std::string()) +
                              std::to_string(max) + "): damaged or not written by Mnemoscope");
}

void check_run_shape(const std::string& path, int64_t run, const RunInfo& i) {
  using namespace session_limits;
  check_count(path, run, "n_layers", i.n_layers, kMaxLayers);
  check_count(path, run, "n_heads", i.n_heads, kMaxHeads);
  check_count(path, run, "n_kv_heads", i.n_kv_heads, i.n_heads, "n_heads");
  check_count(path, run, "head_dim", i.head_dim, kMaxHeadDim);
  check_count(path, run, "d_model", i.d_model, kMaxDModel);
  check_count(path, run, "vocab_size", i.vocab_size, kMaxVocab);
  check_count(path, run, "context_length", i.context_length, kMaxPositions);
  // Each bounded alone, the grid of heads could still be 16M thumbnails.
  check_count(path, run, "n_layers × n_heads", i.n_layers * i.n_heads, kMaxLayerHeads);
}

// A step's place in the sequence: rows_at_step() and the views size rows and per-step tables from it.
void check_step(const std::string& path, int64_t run, int64_t step, int64_t pos0, int64_t n_tokens) {
  using session_limits::kMaxPositions;
  const std::string field = "step " + std::to_string(step);
  check_count(path, run, "step", step, kMaxPositions);
  check_count(path, run, (field + " pos0").c_str(), pos0, kMaxPositions);
  check_count(path, run, (field + " n_tokens").c_str(), n_tokens, kMaxPositions - pos0, "the positions left");
}

}  // namespace

struct SessionReader::HeadMap {
  int64_t run = 0;
  int32_t layer = 0, head = 0;
  int64_t channel = -1;   // the head's map, or one channel's
  int64_t max_step = -1;  // the newest step loaded
  std::unique_ptr<MixerMap> map;
};

// Factor rows through _factor_source, a TEMP view the file's opening creates (session_file.cpp):
// the v2 table itself, or a v1 file's factor columns presented in its shape. A head's slice is
// read alone (incremental BLOB I/O at the row's rowid) and checked against its CRC-32.
class SessionReader::Factors final : public FactorSource {
 public:
  // Blocks of steps oldest_step .. newest_step (a segment's steps, for segment_attention).
  Factors(const Db& db, int64_t run, int32_t layer, int64_t newest_step, std::string head_what, int64_t oldest_step = 0)
      : db_(db), run_(run), layer_(layer), oldest_(oldest_step), newest_(newest_step), head_what_(std::move(head_what)) {}

  std::vector<FactorBlock> blocks(const std::string& name, int32_t slice) override {
    std::vector<FactorBlock> out;
    Stmt s = db_.prepare(
        "SELECT step, n_heads, n, width, dtype, pos0, positions, n_keys, crc32, blob_table, blob_column, blob_rowid "
        "FROM _factor_source WHERE run_id = ?1 AND layer = ?2 AND factor = ?3 AND step <= ?4 AND ?5 < n_heads "
        "AND step >= ?6 ORDER BY step");
    s.bind(1, run_).bind(2, layer_).bind(3, name).bind(4, newest_).bind(5, slice).bind(6, oldest_);
    while (s.step()) {
      FactorBlock b;
      b.step = s.integer(0), b.factor = name;
      b.n_heads = static_cast<int32_t>(s.integer(1)), b.n = s.integer(2), b.width = static_cast<int32_t>(s.integer(3));
      const std::string at = where(b.step, name, slice);
      try {
        b.dtype = parse_dtype(s.text(4));
      } catch (const Error& e) {
        throw Error(at + ": " + e.what());
      }
      const int64_t pos0 = s.integer(5), n_keys = s.integer(7);
      if (b.n < 0 || b.width <= 0 || b.width > 65536 || pos0 < 0 || n_keys < 0 || pos0 + b.n > kMaxPositions ||
          n_keys > kMaxPositions)
        throw Error(at + " has impossible extents");
      b.n_keys = n_keys;
      if (s.is_null(6)) {
        b.positions.resize(static_cast<size_t>(b.n));
        for (int64_t r = 0; r < b.n; ++r) b.positions[static_cast<size_t>(r)] = pos0 + r;
      } else {
        b.positions = blob_as<int64_t>(s.blob(6), static_cast<size_t>(b.n), at + " positions");
        for (int64_t p : b.positions)
          if (p < 0 || p >= kMaxPositions) throw Error(at + ": position " + std::to_string(p) + " is impossible");
      }
      if (!s.is_null(8)) {
        b.has_crc = true;
        b.crc32 = blob_as<uint32_t>(s.blob(8), static_cast<size_t>(b.n_heads), at + " crc32");
      }
      b.blob_table = s.text(9), b.blob_column = s.text(10), b.blob_rowid = s.integer(11);
      out.push_back(std::move(b));
    }
    return out;
  }

  void read(const FactorBlock& b, int32_t slice, std::vector<float>& out) override {
    const size_t values = static_cast<size_t>(b.n) * static_cast<size_t>(b.width);
    const size_t bytes = values * (b.dtype == FactorDtype::F32 ? 4 : 2);
    const std::string at = where(b.step, b.factor, slice) + " (column " + b.blob_column + ")";
    raw_.resize(bytes);
    blob_reader(b).read(b.blob_rowid, static_cast<int64_t>(bytes) * slice, raw_, at);
    if (b.has_crc) verify_crc32(raw_, b.crc32[static_cast<size_t>(slice)], db_.path() + ": " + at);
    out.resize(values);
    if (b.dtype == FactorDtype::F32) {
      if (values) std::memcpy(out.data(), raw_.data(), bytes);
    } else {
      fp16_to_f32({reinterpret_cast<const uint16_t*>(raw_.data()), values}, out.data());
    }
  }

 private:
  static constexpr int64_t kMaxPositions = int64_t{1} << 24;

  std::string where(int64_t step, const std::string& factor, int32_t slice) const {
    // Key-side factors are sliced by KV head; the error names the slice as such.
    const bool by_kv_head = factor == "k";
    return head_what_ + (by_kv_head ? " (KV head " + std::to_string(slice) + ")" : "") + " step " + std::to_string(step) +
           " factor " + factor;
  }
  BlobReader& blob_reader(const FactorBlock& b) {
    auto& r = readers_[b.blob_table + "." + b.blob_column];
    if (!r) r = std::make_unique<BlobReader>(db_, b.blob_table, b.blob_column);
    return *r;
  }

  const Db& db_;
  int64_t run_;
  int32_t layer_;
  int64_t oldest_, newest_;
  std::string head_what_;
  std::map<std::string, std::unique_ptr<BlobReader>> readers_;
  std::vector<uint8_t> raw_;
};

// Which query positions one head recorded and how many keys each saw: a map's shape from the
// rows' metadata alone, so a stored pyramid tile is served without reading any factor BLOB.
struct SessionReader::HeadRows {
  int64_t run = 0;
  int32_t layer = 0, head = 0;
  static constexpr int64_t channel = -1;  // a head's channels all have its rows
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
  check_run_shape(db_.path(), id, i);

  auto scalar = [&](const char* sql) {
    Stmt q = db_.prepare(sql);
    q.bind(1, id);
    return q.step() && !q.is_null(0) ? q.integer(0) : int64_t{0};
  };
  r.n_tokens = scalar("SELECT count(*) FROM _token WHERE run_id = ?");
  r.n_steps = scalar("SELECT count(*) FROM _step WHERE run_id = ?");
  // Every (layer, step) with factors, whatever the mixer names them (Mamba's have no 'q'), counts the
  // layer's heads; a layer the run does not describe counts its widest factor's head slices.
  r.counts.attention_heads = scalar(
      "SELECT coalesce(sum(coalesce(l.n_heads, f.slices)), 0) FROM (SELECT layer, max(n_heads) AS slices FROM _mixer_factor "
      "WHERE run_id = ?1 GROUP BY layer, step) AS f LEFT JOIN _layer AS l ON l.run_id = ?1 AND l.layer = f.layer");
  r.counts.memory_snapshots = scalar("SELECT count(*) FROM _memory_snapshot WHERE run_id = ?");
  r.counts.kv_snapshots = scalar("SELECT count(*) FROM _kv_occupancy WHERE run_id = ?");
  r.counts.ops = scalar("SELECT count(*) FROM _op WHERE run_id = ?");
  r.counts.kernels = scalar("SELECT count(*) FROM _kernel WHERE run_id = ?");
  // Payload bytes; length() of a BLOB reads its header, not its pages.
  r.bytes = scalar("SELECT coalesce(sum(length(data) + 64), 0) FROM _mixer_factor WHERE run_id = ?") +
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
  while (s.step()) {
    out.push_back({s.integer(0), s.text(1), s.integer(2), s.integer(3), s.integer(4), s.integer(5)});
    check_step(db_.path(), run_id, out.back().step, out.back().pos0, out.back().n_tokens);
  }
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

std::vector<AnswerRecord> SessionReader::answers(int64_t run_id) const {
  std::vector<AnswerRecord> out;
  // Looked up per call: a recorder adds the table to an older file while this reader has it open.
  Stmt exists = db_.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_answer'");
  if (!exists.step()) return out;
  Stmt s = db_.prepare(
      "SELECT position, expected_token, predicted_token, expected_p, predicted_p, predicted_text FROM _answer "
      "WHERE run_id = ? ORDER BY position");
  s.bind(1, run_id);
  while (s.step()) {
    const int64_t position = s.integer(0);
    const int64_t expected = s.integer(1), predicted = s.integer(2);
    check_count(db_.path(), run_id, "answer position", position, session_limits::kMaxPositions);
    check_count(db_.path(), run_id, "answer token", expected, INT32_MAX);
    check_count(db_.path(), run_id, "predicted token", predicted, INT32_MAX);
    const auto text = s.blob(5);
    out.push_back({position, static_cast<int32_t>(expected), static_cast<int32_t>(predicted), s.real(3), s.real(4),
                   std::string(text.begin(), text.end())});
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
    // The KV view sizes its steps × layers table and its raster's positions from these.
    const int64_t step = s.integer(0), layer = s.integer(1);
    check_count(db_.path(), run_id, "KV step", step, session_limits::kMaxPositions);
    check_count(db_.path(), run_id, "KV layer", layer, session_limits::kMaxLayers - 1);
    KvRecord r{step, static_cast<int32_t>(layer), s.integer(2), s.integer(3), s.integer(4), s.integer(5), {}};
    const auto b = s.blob(6);
    if (b.size() % 16) throw Error(db_.path() + ": KV ranges of step " + std::to_string(r.step) + " are not int64 pairs");
    const auto flat = blob_as<int64_t>(b, b.size() / 8, db_.path() + ": KV ranges");
    for (size_t i = 0; i + 1 < flat.size(); i += 2) {
      if (flat[i] < 0 || flat[i] > flat[i + 1] || flat[i + 1] > session_limits::kMaxPositions)
        throw FormatError(db_.path(), "run " + std::to_string(run_id) + " step " + std::to_string(step) + " layer " +
                                          std::to_string(layer) + " claims KV range [" + std::to_string(flat[i]) + ", " +
                                          std::to_string(flat[i + 1]) + ")");
      r.ranges.emplace_back(flat[i], flat[i + 1]);
    }
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

std::vector<StateStatRecord> SessionReader::state_stats(int64_t run_id, std::optional<int32_t> layer) const {
  std::vector<StateStatRecord> out;
  if (schema_version_ < 2) return out;
  Stmt s = db_.prepare(
      "SELECT layer, head, step, norm, effective_rank FROM _state_stat WHERE run_id = ?1 AND (?2 IS NULL OR layer = ?2) "
      "ORDER BY step, layer, head");
  s.bind(1, run_id).bind(2, layer ? std::optional<int64_t>(*layer) : std::nullopt);
  while (s.step())
    out.push_back({static_cast<int32_t>(s.integer(0)), static_cast<int32_t>(s.integer(1)), s.integer(2), s.real(3), s.real(4)});
  return out;
}

std::vector<StateMatrixRecord> SessionReader::state_matrices(int64_t run_id, int32_t layer, int32_t head) const {
  std::vector<StateMatrixRecord> out;
  if (schema_version_ < 2) return out;
  Stmt s = db_.prepare(
      "SELECT step, rows, cols, dtype, crc32, data FROM _state_matrix WHERE run_id = ? AND layer = ? AND head = ? ORDER BY step");
  s.bind(1, run_id).bind(2, layer).bind(3, head);
  while (s.step()) {
    StateMatrixRecord m;
    m.layer = layer, m.head = head, m.step = s.integer(0), m.rows = s.integer(1), m.cols = s.integer(2);
    const std::string what = db_.path() + ": state matrix of " + head_name(run_id, layer, head) + " step " +
                             std::to_string(m.step) + " column data";
    if (m.rows < 0 || m.cols < 0 || m.rows > (int64_t{1} << 16) || m.cols > (int64_t{1} << 16))
      throw Error(what + ": " + std::to_string(m.rows) + " × " + std::to_string(m.cols) + " cells");
    verify_crc32(s.blob(5), static_cast<uint32_t>(s.integer(4)), what);
    const size_t n = static_cast<size_t>(m.rows * m.cols);
    if (parse_dtype(s.text(3)) == FactorDtype::F32) {
      m.data = blob_as<float>(s.blob(5), n, what);
    } else {
      const auto half = blob_as<uint16_t>(s.blob(5), n, what);
      std::vector<float> f(n);
      fp16_to_f32(half, f.data());
      m.data = std::move(f);
    }
    out.push_back(std::move(m));
  }
  return out;
}

int64_t SessionReader::rows_at_step(int64_t run_id, int64_t step) const {
  Stmt s = db_.prepare("SELECT pos0, n_tokens FROM _step WHERE run_id = ? AND step = ?");
  s.bind(1, run_id).bind(2, step);
  if (!s.step()) {
    if (newest_step(run_id) < 0) {
      head_dim(run_id);  // throws "no run" for a run that is not there at all
      throw no_committed_step(run_id);
    }
    throw Error(db_.path() + ": run " + std::to_string(run_id) + " has no step " + std::to_string(step) +
                " (not recorded, or not committed yet)");
  }
  check_step(db_.path(), run_id, step, s.integer(0), s.integer(1));
  return s.integer(0) + s.integer(1);
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
  // The whole shape is checked, as run() does: tiles and slices are read without run().
  Stmt s = db_.prepare(
      "SELECT n_layers, d_model, n_heads, n_kv_heads, head_dim, vocab_size, context_length FROM _run WHERE run_id = ?");
  s.bind(1, run_id);
  if (!s.step()) throw Error(db_.path() + ": no run " + std::to_string(run_id));
  RunInfo shape;
  shape.n_layers = s.integer(0), shape.d_model = s.integer(1), shape.n_heads = s.integer(2);
  shape.n_kv_heads = s.integer(3), shape.head_dim = s.integer(4), shape.vocab_size = s.integer(5);
  shape.context_length = s.integer(6);
  check_run_shape(db_.path(), run_id, shape);
  const int64_t d = shape.head_dim;
  if (d <= 0 || d > session_limits::kMaxHeadDim)
    throw Error(db_.path() + ": run " + std::to_string(run_id) + " has head_dim " + std::to_string(d));
  return static_cast<int>(d);
}

const MixerLayer& SessionReader::layer(int64_t run_id, int32_t layer) {
  const auto key = std::make_pair(run_id, layer);
  if (const auto it = layers_.find(key); it != layers_.end()) return it->second;
  Stmt s = db_.prepare(
      "SELECT m.name, l.memory, l.n_heads, l.n_kv_heads, l.key_dim, l.value_dim, l.state_rows, l.state_cols, l.mask, "
      "l.window, l.scale FROM _layer AS l JOIN _mixer_kind AS m ON m.kind = l.mixer WHERE l.run_id = ? AND l.layer = ?");
  s.bind(1, run_id).bind(2, layer);
  if (!s.step()) {
    // Layers are described when a run starts; a run without them and without a step (a producer
    // that describes layers with its first capture) has nothing to show *yet*.
    if (newest_step(run_id) < 0) {
      head_dim(run_id);  // throws "no run" for a run that is not there at all
      throw no_committed_step(run_id);
    }
    throw Error(db_.path() + ": run " + std::to_string(run_id) + " layer " + std::to_string(layer) +
                ": no attention factors recorded (the run describes no such layer)");
  }
  MixerLayer l;
  l.mixer = s.text(0), l.memory = s.text(1);
  l.n_heads = static_cast<int32_t>(s.integer(2)), l.n_kv_heads = static_cast<int32_t>(s.integer(3));
  l.key_dim = static_cast<int32_t>(s.integer(4)), l.value_dim = static_cast<int32_t>(s.integer(5));
  l.state_rows = s.integer(6), l.state_cols = s.integer(7);
  l.mask = s.text(8), l.window = s.integer(9), l.scale = static_cast<float>(s.real(10));
  if (l.n_heads <= 0 || l.n_kv_heads <= 0 || l.n_heads > session_limits::kMaxHeads || l.n_heads % l.n_kv_heads != 0)
    throw Error(db_.path() + ": run " + std::to_string(run_id) + " layer " + std::to_string(layer) + " has " +
                std::to_string(l.n_heads) + " heads over " + std::to_string(l.n_kv_heads) + " KV heads");
  return layers_[key] = std::move(l);
}

const MixerMapKind& SessionReader::kind_of(int64_t run_id, int32_t layer_index) {
  const MixerLayer& l = layer(run_id, layer_index);
  const MixerMapKind* kind = MixerMapRegistry::instance().find(l.mixer);
  if (!kind)
    throw Error(db_.path() + ": run " + std::to_string(run_id) + " layer " + std::to_string(layer_index) + " has mixer '" +
                l.mixer + "', which this build cannot show (no map registered for it)");
  return *kind;
}

// A segmented model's tokens attend within their segment and give the rest to memory slots the
// map does not show: its label says so.
std::string SessionReader::segments_note(int64_t run_id, int32_t layer) {
  return this->layer(run_id, layer).mask == "segments" ? ", within each segment (the rest went to memory slots)" : "";
}

std::string SessionReader::map_label(int64_t run_id, int32_t layer) {
  return kind_of(run_id, layer).label + segments_note(run_id, layer);
}

std::string SessionReader::map_label(int64_t run_id, int32_t layer, int32_t head, int64_t channel) {
  check_channel(run_id, layer, channel);
  return profiler::map_label(kind_of(run_id, layer), head, channel) + segments_note(run_id, layer);
}

int64_t SessionReader::channels_per_head(int64_t run_id, int32_t layer) {
  return profiler::channels_per_head(kind_of(run_id, layer), this->layer(run_id, layer));
}

void SessionReader::check_channel(int64_t run_id, int32_t layer, int64_t channel) {
  if (channel == -1) return;
  const int64_t n = channels_per_head(run_id, layer);
  if (channel >= 0 && channel < n) return;
  const std::string of_layer = db_.path() + ": run " + std::to_string(run_id) + " layer " + std::to_string(layer) +
                               " (mixer '" + this->layer(run_id, layer).mixer + "')";
  if (n == 0) throw Error(of_layer + " has no channel maps: its heads' maps are all there is (no channel " +
                          std::to_string(channel) + ")");
  throw Error(of_layer + " has no channel " + std::to_string(channel) + ": a head has channels 0.." + std::to_string(n - 1));
}

const SessionReader::HeadRows& SessionReader::head_rows(int64_t run_id, int32_t layer, int32_t head) {
  const int64_t newest = newest_step(run_id);
  if (HeadRows* cached = find_current(rows_cache_, run_id, layer, head, -1, newest)) return *cached;
  const MixerMapKind& kind = kind_of(run_id, layer);
  auto r = std::make_unique<HeadRows>();
  r->run = run_id, r->layer = layer, r->head = head;
  r->d = this->layer(run_id, layer).key_dim;
  const std::string what = db_.path() + ": " + head_name(run_id, layer, head);
  auto add_rows = [&](int64_t step, int64_t first, int64_t n, int64_t n_k) {
    if (first < 0 || n < 0 || n_k < 0 || first + n > session_limits::kMaxPositions || n_k > session_limits::kMaxPositions)
      throw Error(what + ": step " + std::to_string(step) + " has impossible extents");
    const size_t end = static_cast<size_t>(first + n);
    if (r->n_k.size() < end) r->n_k.resize(end, -1);
    std::fill_n(r->n_k.begin() + first, n, n_k);
    r->max_step = std::max(r->max_step, step);
  };
  if (!kind.row_factor.empty()) {
    // The rows' metadata only: SQLite reads these columns without touching the BLOBs' overflow pages.
    // A row factor of one head slice (Mamba-1's dt) is shared by every head.
    Stmt s = db_.prepare(
        "SELECT step, pos0, n, n_keys, positions FROM _factor_source "
        "WHERE run_id = ?1 AND layer = ?2 AND factor = ?3 AND step <= ?4 AND (?5 < n_heads OR n_heads = 1) ORDER BY step");
    s.bind(1, run_id).bind(2, layer).bind(3, kind.row_factor).bind(4, newest).bind(5, head);
    while (s.step()) {
      const int64_t step = s.integer(0), pos0 = s.integer(1), n = s.integer(2), n_k = s.integer(3);
      if (s.is_null(4)) {
        add_rows(step, pos0, n, n_k);
        continue;
      }
      if (n < 0 || n > (int64_t{1} << 24)) throw Error(what + ": step " + std::to_string(step) + " has impossible extents");
      for (int64_t p : blob_as<int64_t>(s.blob(4), static_cast<size_t>(n), what + " step " + std::to_string(step) + " positions"))
        add_rows(step, p, 1, n_k);
    }
  } else {
    // A stored map: rows and columns as its level-0 tiles cover them.
    Stmt s = db_.prepare(
        "SELECT step, ty, tx, rows, cols FROM _pyramid_tile WHERE run_id = ?1 AND layer = ?2 AND head = ?3 AND level = 0 "
        "AND step <= ?4 ORDER BY step, ty, tx");
    s.bind(1, run_id).bind(2, layer).bind(3, head).bind(4, newest);
    while (s.step()) {
      const int64_t ty = s.integer(1), tx = s.integer(2), rows = s.integer(3), cols = s.integer(4);
      if (ty < 0 || tx < 0 || rows <= 0 || cols <= 0 || rows > kTileSize || cols > kTileSize)
        throw Error(what + ": stored tile with impossible extents");
      const int64_t first = ty * kTileSize, n_k = tx * kTileSize + cols;
      for (int64_t i = first; i < first + rows; ++i) {
        const int64_t now = i < static_cast<int64_t>(r->n_k.size()) ? r->n_k[static_cast<size_t>(i)] : -1;
        add_rows(s.integer(0), i, 1, std::max(now, n_k));
      }
    }
  }
  if (newest < 0) throw no_committed_step(run_id);  // not the captures' fault: nothing is committed yet
  if (r->max_step < 0)
    throw Error(what + ": no attention factors recorded (capture off, head out of range, or dropped by the byte budget)");
  rows_cache_.push_front(std::move(r));
  if (rows_cache_.size() > kCachedHeadRows) rows_cache_.pop_back();
  return *rows_cache_.front();
}

SessionReader::HeadMap& SessionReader::map(int64_t run_id, int32_t layer, int32_t head, int64_t channel) {
  const int64_t newest_step = this->newest_step(run_id);
  if (HeadMap* cached = find_current(cache_, run_id, layer, head, channel, newest_step)) return *cached;
  cache_.push_front(make_map(run_id, layer, head, channel, newest_step, 0, std::numeric_limits<int64_t>::max()));
  if (cache_.size() > kCachedHeads) cache_.pop_back();
  return *cache_.front();
}

SessionReader::HeadMap& SessionReader::map_for_rows(int64_t run_id, int32_t layer, int32_t head, int64_t channel,
                                                   int64_t q_begin, int64_t q_end) {
  const int64_t newest_step = this->newest_step(run_id);
  if (HeadMap* cached = find_current(cache_, run_id, layer, head, channel, newest_step)) return *cached;
  // Not cached: the queries of those rows alone (an overview of a decode step needs a few rows of
  // each of hundreds of heads).
  ranged_ = make_map(run_id, layer, head, channel, newest_step, q_begin, q_end);
  return *ranged_;
}

std::unique_ptr<SessionReader::HeadMap> SessionReader::make_map(int64_t run_id, int32_t layer, int32_t head,
                                                                int64_t channel, int64_t newest_step, int64_t q_begin,
                                                                int64_t q_end) {
  const MixerMapKind& kind = kind_of(run_id, layer);
  const MixerLayer& l = this->layer(run_id, layer);
  const std::string what = db_.path() + ": " + head_name(run_id, layer, head, channel);
  if (head < 0 || head >= l.n_heads)
    throw Error(what + ": the layer has " + std::to_string(l.n_heads) + " heads (no attention factors recorded for this one)");
  check_channel(run_id, layer, channel);
  Factors factors(db_, run_id, layer, newest_step, head_name(run_id, layer, head, channel));
  MixerMapInput in{db_, factors, l, run_id, layer, head, newest_step, q_begin, q_end, what, channel};
  auto m = std::make_unique<HeadMap>();
  m->run = run_id, m->layer = layer, m->head = head, m->channel = channel, m->max_step = newest_step;
  m->map = kind.make(in);
  return m;
}

int64_t SessionReader::keys_seen(const HeadRows& h, int64_t rows) {
  int64_t cols = 0;
  for (int64_t i = 0; i < std::min<int64_t>(rows, static_cast<int64_t>(h.n_k.size())); ++i)
    cols = std::max(cols, h.n_k[static_cast<size_t>(i)]);
  return cols;
}

MapShape SessionReader::map_shape(int64_t run_id, int64_t step, int32_t layer, int32_t head) {
  MapShape shape = shape_at(head_rows(run_id, layer, head), rows_at_step(run_id, step));
  shape.channels_per_head = channels_per_head(run_id, layer);
  return shape;
}

MapShape SessionReader::shape_at(const HeadRows& h, int64_t rows) { return {rows, keys_seen(h, rows), h.d}; }

void SessionReader::recompute_pooled(HeadMap& m, int64_t n_cols, int level, int64_t row_begin, int64_t row_end,
                                     AttentionTile& t) {
  // Pools map rows [row_begin, row_end) of the tile's columns into its cells.
  const int64_t s = int64_t{1} << level;
  const int64_t c0 = t.col0 * s, c1 = std::min(n_cols, (t.col0 + t.cols) * s);
  if (c1 <= c0 || row_end <= row_begin) return;
  std::vector<float>& p = pool_scratch_;
  // 128 rows a block: the keys are packed for the product once per block, not per 64 rows.
  constexpr int64_t kChunk = 128;
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kChunk) {
    const int64_t nr = std::min(kChunk, row_end - r0);
    p.resize(static_cast<size_t>(nr * (c1 - c0)));
    m.map->block(r0, nr, c0, c1, p.data());
    for (int64_t i = 0; i < nr; ++i) {
      const int64_t cell_r = (r0 + i) / s - t.row0;
      if (cell_r < 0 || cell_r >= t.rows) continue;
      const float* row = p.data() + i * (c1 - c0);
      for (int64_t c = 0; c < t.cols; ++c) {
        const int64_t j0 = (t.col0 + c) * s - c0, j1 = std::min(c1, (t.col0 + c + 1) * s) - c0;
        float mx = t.max[static_cast<size_t>(cell_r * t.cols + c)], sum = 0.f;
        for (int64_t j = j0; j < j1; ++j) mx = std::max(mx, row[j]), sum += row[j];
        t.max[static_cast<size_t>(cell_r * t.cols + c)] = mx;
        t.mean[static_cast<size_t>(cell_r * t.cols + c)] += sum;  // a sum until the caller divides
      }
    }
  }
  t.recomputed_rows += row_end - row_begin;
}

AttentionTile SessionReader::tile(int64_t run_id, int64_t step, int32_t layer, int32_t head, int level, int64_t ty,
                                  int64_t tx, int64_t channel) {
  if (level < 0 || level > kMaxTileLevel || ty < 0 || tx < 0)
    throw Error("tile level must be 0.." + std::to_string(kMaxTileLevel) + " and ty, tx >= 0");
  check_channel(run_id, layer, channel);
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
  t.label = profiler::map_label(kind_of(run_id, layer), head, channel) + segments_note(run_id, layer);
  t.level = level, t.ty = ty, t.tx = tx;
  t.row0 = ty * kTileSize, t.col0 = tx * kTileSize;
  t.rows = std::min(kTileSize, cell_rows - t.row0);
  t.cols = std::min(kTileSize, cell_cols - t.col0);

  // Rows up to `covered` come from the newest stored pyramid tile at or before this step.
  int64_t covered = 0;
  if (level >= 1 && channel < 0) {  // the stored pyramid is of the head's map, never of a channel's
    Stmt p = db_.prepare(
        schema_version_ >= 2
            ? "SELECT step, rows, cols, codec, max, mean, max_crc32, mean_crc32 FROM _pyramid_tile WHERE run_id = ? "
              "AND layer = ? AND head = ? AND level = ? AND ty = ? AND tx = ? AND step <= ? ORDER BY step DESC LIMIT 1"
            : "SELECT step, rows, cols, codec, max, mean, NULL, NULL FROM _pyramid_tile WHERE run_id = ? AND layer = ? "
              "AND head = ? AND level = ? AND ty = ? AND tx = ? AND step <= ? ORDER BY step DESC LIMIT 1");
    p.bind(1, run_id).bind(2, layer).bind(3, head).bind(4, level).bind(5, ty).bind(6, tx).bind(7, step);
    if (p.step()) {
      const int64_t snap_step = p.integer(0), rows = p.integer(1), cols = p.integer(2);
      const TileCodec codec = p.text(3) == "f16" ? TileCodec::F16 : TileCodec::ZstdF16;
      if (rows <= 0 || cols <= 0 || rows > kTileSize || cols > kTileSize)
        throw Error(db_.path() + ": pyramid tile with " + std::to_string(rows) + " × " + std::to_string(cols) + " cells");
      const std::string what = db_.path() + ": pyramid tile of " + head_name(run_id, layer, head) + " step " +
                               std::to_string(snap_step) + " level " + std::to_string(level) + " (" + std::to_string(ty) +
                               ", " + std::to_string(tx) + ")";
      // Checked before decoding: a damaged tile is named, never shown.
      if (!p.is_null(6)) {
        verify_crc32(p.blob(4), static_cast<uint32_t>(p.integer(6)), what + " column max");
        verify_crc32(p.blob(5), static_cast<uint32_t>(p.integer(7)), what + " column mean");
      }
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
  // Without a snapshot every cell's max starts below any value: implicit attention can be
  // negative (a cell no row reached reads 0 below).
  constexpr float kNoValue = -std::numeric_limits<float>::infinity();
  if (t.max.empty()) {
    t.max.assign(static_cast<size_t>(t.rows * t.cols), kNoValue);
    t.mean.assign(t.max.size(), 0.f);
  }
  const int64_t row_begin = std::max(covered, t.row0 * s), row_end = std::min(shape.rows, (t.row0 + t.rows) * s);
  if (row_begin < row_end)
    recompute_pooled(map_for_rows(run_id, layer, head, channel, row_begin, row_end), shape.cols, level, row_begin, row_end,
                     t);
  for (int64_t r = 0; r < t.rows; ++r)
    for (int64_t c = 0; c < t.cols; ++c) {
      const size_t at = static_cast<size_t>(r * t.cols + c);
      if (t.max[at] == kNoValue) t.max[at] = 0.f;
      if (level == 0) t.mean[at] = t.max[at];
      else t.mean[at] /= static_cast<float>(cells_inside(level, t.row0 + r, t.col0 + c, shape.rows, shape.cols));
    }
  return t;
}

std::vector<float> SessionReader::row(int64_t run_id, int32_t layer, int32_t head, int64_t query_pos, int64_t channel) {
  return map(run_id, layer, head, channel).map->row(query_pos);
}

std::vector<float> SessionReader::column(int64_t run_id, int64_t step, int32_t layer, int32_t head, int64_t key_pos,
                                         int64_t channel) {
  const HeadRows& rows = head_rows(run_id, layer, head);
  const MapShape shape = map_shape(run_id, step, layer, head);
  if (key_pos < 0 || key_pos >= shape.cols)
    throw Error(db_.path() + ": " + head_name(run_id, layer, head) + " has no key at position " + std::to_string(key_pos));
  std::vector<float> out(static_cast<size_t>(shape.rows), 0.f);
  std::vector<int64_t> recorded;
  for (int64_t i = 0; i < std::min<int64_t>(shape.rows, static_cast<int64_t>(rows.n_k.size())); ++i)
    if (rows.n_k[static_cast<size_t>(i)] >= 0) recorded.push_back(i);
  MixerMap& m = *map(run_id, layer, head, channel).map;
  for (int64_t i : recorded) m.block(i, 1, key_pos, key_pos + 1, &out[static_cast<size_t>(i)]);
  return out;
}

std::vector<std::pair<int64_t, float>> SessionReader::top_k(int64_t run_id, int32_t layer, int32_t head,
                                                            int64_t query_pos, int k, int64_t channel) {
  const std::vector<float> p = row(run_id, layer, head, query_pos, channel);
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

// Positions within a segment: read slots 0 .. M-1, the segment's tokens M .. M+S-1 (sequence
// position p at M + p - s·S), write slots M+S .. M+S+M-1 (docs/ARCHITECTURE.md, "Segments and
// memory rows"). Every score is exp(q·k·scale − lse) with the row's recorded lse: the engine's
// probability of that pair.
SegmentAttention SessionReader::segment_attention(int64_t run_id, int32_t layer, int32_t head, int64_t segment) {
  const std::string what = db_.path() + ": " + head_name(run_id, layer, head) + " segment " + std::to_string(segment);
  const MixerLayer& L = this->layer(run_id, layer);
  if (L.mask != "segments" || L.window <= 0)
    throw Error(what + ": the layer was not recorded as a model cut into segments (mask '" + L.mask + "')");
  if (head < 0 || head >= L.n_heads || segment < 0) throw Error(what + ": no such head or segment");
  const int64_t S = L.window, d = L.key_dim, kv_head = head / L.kv_group();
  // The segment's steps: those whose tokens lie in it.
  std::optional<int64_t> first, last;
  for (const StepRecord& st : steps(run_id))
    if (st.pos0 / S == segment) {
      if (!first) first = st.step;
      last = st.step;
    }
  if (!first) throw Error(what + ": no step of the run lies in this segment");
  Factors factors(db_, run_id, layer, *last, head_name(run_id, layer, head), *first);

  // Rows of `name` for this head (or KV head) whose positions fall in [lo, hi): position → values.
  auto gather = [&](const std::string& name, int32_t slice, int64_t lo, int64_t hi) {
    std::map<int64_t, std::vector<float>> out;
    std::vector<float> values;
    for (const FactorBlock& b : factors.blocks(name, slice)) {
      factors.read(b, slice, values);
      for (int64_t r = 0; r < b.n; ++r) {
        const int64_t p = b.positions[static_cast<size_t>(r)];
        if (p >= lo && p < hi) out[p].assign(values.begin() + r * b.width, values.begin() + (r + 1) * b.width);
      }
    }
    return out;
  };
  constexpr int64_t kAny = std::numeric_limits<int64_t>::max();
  const auto memory_k = gather("memory_k", static_cast<int32_t>(kv_head), 0, kAny);
  const auto memory_q = gather("memory_q", head, 0, kAny);
  const auto memory_lse = gather("memory_lse", head, 0, kAny);
  const auto q = gather("q", head, segment * S, (segment + 1) * S);
  const auto lse = gather("lse", head, segment * S, (segment + 1) * S);
  const auto k = gather("k", static_cast<int32_t>(kv_head), segment * S, (segment + 1) * S);
  int64_t M = 0;
  while (memory_k.count(M)) ++M;
  if (M == 0 && !memory_k.empty())
    throw Error(what + ": its memory rows are write rows only, after the tokens (an associative RMT, whose later segments "
                       "read memory through each layer's associative matrix, not by attending to read slots)");
  // The tokens' factors were recorded and no memory row's: the model has none.
  if (M == 0 && !q.empty())
    throw Error(what + ": the model has no memory rows (its memory is each layer's own state, in the memory snapshots)");
  if (M == 0) throw Error(what + ": its memory rows were not recorded (a session recorded before they were, or without attention)");
  auto dot = [&](const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0;
    for (int64_t i = 0; i < d; ++i) s += double{a[static_cast<size_t>(i)]} * b[static_cast<size_t>(i)];
    return s;
  };
  auto prob = [&](const std::vector<float>& qi, double row_lse, const std::vector<float>& kj) {
    return static_cast<float>(std::exp(dot(qi, kj) * L.scale - row_lse));
  };

  SegmentAttention out;
  out.segment = segment, out.memory_slots = M;
  out.read_reads.assign(static_cast<size_t>(M * M), 0.f);
  for (int64_t i = 0; i < M; ++i) {
    if (!memory_q.count(i) || !memory_lse.count(i)) throw Error(what + ": read slot " + std::to_string(i) + " has no query");
    for (int64_t j = 0; j <= i; ++j)
      out.read_reads[static_cast<size_t>(i * M + j)] = prob(memory_q.at(i), memory_lse.at(i)[0], memory_k.at(j));
  }
  out.token0 = q.empty() ? segment * S : q.begin()->first;
  out.n_tokens = static_cast<int64_t>(q.size());
  out.token_tokens.assign(static_cast<size_t>(out.n_tokens * out.n_tokens), 0.f);
  for (const auto& [p, qp] : q) {
    if (!lse.count(p)) throw Error(what + ": token " + std::to_string(p) + " has a query but no lse");
    const double row_lse = lse.at(p)[0];
    for (int64_t j = 0; j < M; ++j) out.token_reads.push_back(prob(qp, row_lse, memory_k.at(j)));
    const int64_t t = p - out.token0;
    for (int64_t u = 0; u <= t; ++u) {
      const auto key = k.find(out.token0 + u);
      if (key == k.end()) throw Error(what + ": the key of token " + std::to_string(out.token0 + u) + " was not recorded");
      out.token_tokens[static_cast<size_t>(t * out.n_tokens + u)] = prob(qp, row_lse, key->second);
    }
  }
  const int64_t write0 = M + S;
  if (!memory_q.count(write0)) return out;  // the segment was not completed
  if (out.n_tokens != S) throw Error(what + ": the segment wrote its memory but " + std::to_string(out.n_tokens) + " of its " +
                                     std::to_string(S) + " tokens were recorded");
  const int64_t width = M + S + M;
  out.write_reads.assign(static_cast<size_t>(M * width), 0.f);
  for (int64_t i = 0; i < M; ++i) {
    const std::vector<float>& qi = memory_q.at(write0 + i);
    if (!memory_lse.count(write0 + i)) throw Error(what + ": write slot " + std::to_string(i) + " has no lse");
    const double row_lse = memory_lse.at(write0 + i)[0];
    float* row = out.write_reads.data() + i * width;
    for (int64_t j = 0; j < M; ++j) row[j] = prob(qi, row_lse, memory_k.at(j));
    for (int64_t t = 0; t < S; ++t) {
      const auto key = k.find(segment * S + t);
      if (key == k.end()) throw Error(what + ": the key of token " + std::to_string(segment * S + t) + " was not recorded");
      row[M + t] = prob(qi, row_lse, key->second);
    }
    for (int64_t j = 0; j <= i; ++j) {
      const auto key = memory_k.find(write0 + j);
      if (key == memory_k.end()) throw Error(what + ": the key of write slot " + std::to_string(j) + " was not recorded");
      row[M + S + j] = prob(qi, row_lse, key->second);
    }
  }
  return out;
}

}  // namespace mnemo::profiler
