#include "mnemo/profiler/session/session_file.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "session_schema_sql.h"  // generated: kSchemaV1, kSchemaV2
#include "sync_notifying_vfs.h"

namespace mnemo::profiler {
namespace {

bool file_exists(const std::string& path, int64_t* size = nullptr) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  if (size) *size = static_cast<int64_t>(st.st_size);
  return true;
}

std::string hex(int64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%08llX", static_cast<unsigned long long>(v) & 0xffffffffull);
  return buf;
}

// Version 1 sessions, read through the version 2 shape: TEMP views (in the connection, never the
// file) that present each _attention_query row as two factor rows (q, fp16; lse, f32) and each
// _attention_key row as one (k, fp16), without checksums (crc32 NULL), and _layer from the rows'
// masks and scales. blob_table/blob_column/blob_rowid say where a factor's bytes live, so the
// reader still reads one head's slice alone (incremental BLOB I/O works on tables, not views).
constexpr const char kV1AsV2Views[] = R"sql(
CREATE TEMP VIEW _mixer_kind AS SELECT 0 AS kind, 'softmax' AS name;
CREATE TEMP VIEW _layer AS
  SELECT q.run_id, q.layer, 0 AS mixer, 'kv_cache' AS memory, q.n_heads, q.n_kv_heads, r.head_dim AS key_dim,
         r.head_dim AS value_dim, 0 AS state_rows, 0 AS state_cols, q.mask, q.window, q.scale
  FROM main._attention_query AS q JOIN main._run AS r ON r.run_id = q.run_id
  WHERE q.step = (SELECT max(step) FROM main._attention_query AS n WHERE n.run_id = q.run_id AND n.layer = q.layer);
CREATE TEMP VIEW _mixer_factor AS
  SELECT q.run_id, q.layer, q.step, 'q' AS factor, q.n_heads, q.n_q AS n, r.head_dim AS width, 'f16' AS dtype,
         q.q_pos0 AS pos0, NULL AS positions, q.n_k AS n_keys, NULL AS crc32, q.q AS data,
         '_attention_query' AS blob_table, 'q' AS blob_column, q.rowid AS blob_rowid
  FROM main._attention_query AS q JOIN main._run AS r ON r.run_id = q.run_id
  UNION ALL
  SELECT q.run_id, q.layer, q.step, 'lse', q.n_heads, q.n_q, 1, 'f32', q.q_pos0, NULL, q.n_k, NULL, q.lse,
         '_attention_query', 'lse', q.rowid
  FROM main._attention_query AS q
  UNION ALL
  SELECT k.run_id, k.layer, k.step, 'k', k.n_kv_heads, k.n, r.head_dim, 'f16', k.pos0, NULL, 0, NULL, k.k,
         '_attention_key', 'k', k.rowid
  FROM main._attention_key AS k JOIN main._run AS r ON r.run_id = k.run_id;
CREATE TEMP VIEW layer AS
  SELECT l.run_id, l.layer, 'softmax' AS mixer, l.memory, l.n_heads, l.n_kv_heads, l.key_dim, l.value_dim, l.state_rows,
         l.state_cols, l.mask, l.window, l.scale
  FROM temp._layer AS l;
CREATE TEMP VIEW mixer_factor AS
  SELECT run_id, layer, step, factor, n_heads, n, width, dtype, pos0, n_keys, length(data) AS bytes FROM temp._mixer_factor;
)sql";

// In the current schema the factor bytes are the row's own.
constexpr const char kV2FactorSource[] = R"sql(
CREATE TEMP VIEW _factor_source AS
  SELECT run_id, layer, step, factor, n_heads, n, width, dtype, pos0, positions, n_keys, crc32,
         '_mixer_factor' AS blob_table, 'data' AS blob_column, rowid AS blob_rowid
  FROM main._mixer_factor;
)sql";
constexpr const char kV1FactorSource[] = R"sql(
CREATE TEMP VIEW _factor_source AS
  SELECT run_id, layer, step, factor, n_heads, n, width, dtype, pos0, positions, n_keys, crc32, blob_table, blob_column,
         blob_rowid
  FROM temp._mixer_factor;
)sql";

// The 100-byte SQLite header, read directly: a file that is not SQLite or was cut short is named as
// such before SQLite reports a generic "malformed" error.
void check_header(const std::string& path, int64_t size) {
  unsigned char h[100] = {};
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw SessionError(path, "cannot open for reading");
  const size_t got = std::fread(h, 1, sizeof h, f);
  std::fclose(f);
  if (got < sizeof h || std::memcmp(h, "SQLite format 3", 16) != 0)
    throw SessionError(path, "not a Mnemoscope session (not an SQLite database)");
  const auto be32 = [&](int at) {
    return (int64_t{h[at]} << 24) | (int64_t{h[at + 1]} << 16) | (int64_t{h[at + 2]} << 8) | int64_t{h[at + 3]};
  };
  const int64_t page_size = h[16] == 0 && h[17] == 1 ? 65536 : (int64_t{h[16]} << 8 | h[17]);
  const bool count_valid = be32(92) == be32(24);  // "version-valid-for" matches the change counter
  // With a -wal file beside it, committed pages may legitimately live only in the log.
  if (count_valid && !file_exists(path + "-wal") && size < be32(28) * page_size)
    throw SessionError(path, "truncated: the file has " + std::to_string(size) + " bytes, its header counts " +
                                 std::to_string(be32(28) * page_size));
}

}  // namespace

const char* session_schema_sql(int64_t version) { return version == 1 ? kSchemaV1 : version == 2 ? kSchemaV2 : nullptr; }

void check_session(const Db& db) {
  const std::string& path = db.path();
  int64_t size = 0;
  if (!file_exists(path, &size)) throw SessionError(path, "no such file");
  if (size == 0) throw SessionError(path, "empty file, not a Mnemoscope session");
  check_header(path, size);
  const int64_t app_id = db.pragma_int("application_id");
  if (app_id != kSessionApplicationId)
    throw SessionError(path, "an SQLite database but not a Mnemoscope session (application_id " + hex(app_id) +
                                 ", expected " + hex(kSessionApplicationId) + ")");
  const int64_t version = db.pragma_int("user_version");
  if (version > kSessionSchemaVersion)
    throw SessionError(path, "written by a newer Mnemoscope (session schema v" + std::to_string(version) +
                                 "; this build reads up to v" + std::to_string(kSessionSchemaVersion) +
                                 "): update Mnemoscope to open it");
  if (version < 1) throw SessionError(path, "invalid session schema version " + std::to_string(version));
  Stmt s = db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('_run', '_step', '_token')");
  if (!s.step() || s.integer(0) != 3) throw SessionError(path, "damaged session: core tables are missing");
}

namespace {

// Staging files of recorders killed while creating this session: their process is gone.
void remove_stale_staging(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const std::string prefix = target.filename().string() + ".creating-";
  std::error_code ec;
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove(entry.path(), ec);
  }
}

// A new session is built beside its final name and renamed into place, so a process killed at
// any moment leaves either no session file or a complete empty one, never a half-made one (a
// killed creator's staging file is removed by the next recording into that name).
void create_session_file(const std::string& path) {
  remove_stale_staging(path);
  const std::string staging = path + ".creating-" + std::to_string(::getpid());
  std::remove(staging.c_str());
  {
    Db db(staging, Db::Mode::ReadWriteCreate);
    db.exec("PRAGMA page_size = 65536");  // must come before the first table
    Transaction t(db);
    db.exec(kSchemaV2);
    db.exec("INSERT INTO _meta (key, value) VALUES ('created_by', 'mnemoscope 0.1.0'), "
            "('created_utc', strftime('%Y-%m-%dT%H:%M:%SZ', 'now')), "
            "('schema_version', '" + std::to_string(kSessionSchemaVersion) + "')");
    t.commit();
  }
  if (std::rename(staging.c_str(), path.c_str()) != 0) {
    std::remove(staging.c_str());
    throw SessionError(path, std::string("cannot create the session file: ") + std::strerror(errno));
  }
}

}  // namespace

Db open_session_for_recording(const std::string& path) {
  int64_t size = 0;
  if (!file_exists(path, &size) || size == 0) create_session_file(path);
  // Through the VFS that tells the writer thread when SQLite waits for the disk.
  Db db(path, Db::Mode::ReadWriteCreate, sync_notifying_vfs());
  check_session(db);
  // Older sessions are never rewritten: their runs stay as they were recorded.
  if (const int64_t v = db.pragma_int("user_version"); v < kSessionSchemaVersion)
    throw SessionError(path, "a session of schema v" + std::to_string(v) + " (written by an older Mnemoscope): it opens " +
                                 "read-only; record into a new file");
  // WAL lets viewers read while we write, and a killed recorder loses only uncommitted steps.
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = NORMAL");
  // 8 MiB of page cache: inserts append, so the pages they touch again are few and recent. A
  // larger cache only grows with the prefill's pages, each one a fresh allocation (64 MiB cost the
  // writer ~0.02 s of page faults per 540-token run and saved no reads).
  db.exec("PRAGMA cache_size = -8192");
  // Checkpoint every 8 MiB of log while recording: the copy into the file (and its fsync) then
  // happens on the writer thread while the engine computes, not all at once when the run closes.
  db.exec("PRAGMA wal_autocheckpoint = 128");
  db.exec("PRAGMA foreign_keys = OFF");  // the recorder writes parents first; checks would cost per row
  return db;
}

Db open_session_read_only(const std::string& path) {
  if (!file_exists(path)) throw SessionError(path, "no such file");
  Db db(path, Db::Mode::ReadOnly);
  check_session(db);
  // Pages through a read-only map instead of read() into SQLite's page cache: a cold tile loads a
  // layer's factor rows (MBs of overflow pages); this takes 15-25% off a cold level-0 fetch at
  // T = 2160 (bench_session tiles, interleaved runs). SQLite clamps the size to its build's limit
  // and reads past the mapped part normally. Sessions only grow while open, so mapped pages stay.
  db.exec("PRAGMA mmap_size = 4294967296");
  if (db.pragma_int("user_version") == 1) db.exec(kV1AsV2Views);
  db.exec(db.pragma_int("user_version") == 1 ? kV1FactorSource : kV2FactorSource);
  return db;
}

}  // namespace mnemo::profiler
