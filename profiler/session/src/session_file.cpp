#include "mnemo/profiler/session/session_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "session_schema_sql.h"  // generated: kSchemaV1, kSchemaV2, kSchemaV1AsV2Views
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

// The files SQLite may keep for one database: the file itself, its rollback journal, its log and
// the log's index.
constexpr const char* kSqliteFileSuffixes[] = {"", "-journal", "-wal", "-shm"};

void remove_with_sqlite_files(const std::string& path) {
  for (const char* suffix : kSqliteFileSuffixes) std::remove((path + suffix).c_str());
}

// Staging files (and their journals) of recorders killed while creating the session at
// `session_path`: their process is gone. Run before every recording into that name, not only
// when the name is new: the session a killed creator staged may since have been made by another.
void remove_stale_staging(const std::string& session_path) {
  namespace fs = std::filesystem;
  const fs::path target(session_path);
  const std::string prefix = target.filename().string() + ".creating-";
  std::error_code ec;
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    std::error_code remove_ec;
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove(it->path(), remove_ec);
  }
}

// A file that is not one to write a session into, in words: "a FIFO (named pipe)".
const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

// Where a new session is renamed into place: `path` must still be what it was when checked (absent,
// or an empty regular file), so that nothing that appeared meanwhile is replaced. Returns false
// when `path` was created meanwhile (the caller then adopts it or refuses it like any file).
bool move_into_place(const std::string& staging, const std::string& path, bool replace_empty_file) {
  if (!replace_empty_file) {
    if (::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) return true;
    if (errno == EEXIST) return false;
    if (errno != EINVAL && errno != ENOSYS) return false;  // the caller names the error
    // A file system without RENAME_NOREPLACE: check again, then rename.
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
      errno = EEXIST;
      return false;
    }
  } else {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != 0) {
      errno = EEXIST;
      return false;
    }
  }
  return std::rename(staging.c_str(), path.c_str()) == 0;
}

// A new session is built beside its final name and renamed into place, so a process killed at
// any moment leaves either no session file or a complete empty one, never a half-made one (a
// killed creator's staging file is removed by the next recording into that folder, a failed
// one's at once). The staging file is switched to WAL before the rename, so the session never
// exists under its name in rollback-journal mode: a recorder killed while switching an empty
// session to WAL left a hot -journal beside it, which read-only openers cannot roll back.
// Returns false when something else took `path` meanwhile.
bool create_session_file(const std::string& path, bool replace_empty_file) {
  const std::string staging = path + ".creating-" + std::to_string(::getpid());
  remove_with_sqlite_files(staging);
  try {
    Db db(staging, Db::Mode::ReadWriteCreate);
    db.exec("PRAGMA page_size = 65536");  // must come before the first table
    Transaction t(db);
    db.exec(kSchemaV2);
    db.exec(kSchemaV2Answers);
    db.exec("INSERT INTO _meta (key, value) VALUES ('created_by', 'mnemoscope 0.1.0'), "
            "('created_utc', strftime('%Y-%m-%dT%H:%M:%SZ', 'now')), "
            "('schema_version', '" + std::to_string(kSessionSchemaVersion) + "')");
    t.commit();
    // WAL lets viewers read while we write, and a killed recorder loses only uncommitted steps.
    db.exec("PRAGMA journal_mode = WAL");
  } catch (const SessionError& e) {
    remove_with_sqlite_files(staging);  // a full disk must not leave a half-made staging file
    // The message names the staging file; the user asked for `path`.
    const std::string problem = std::string(e.what()).substr(e.path().size() + 2);
    throw SessionError(path, "cannot create the session file: " + problem, e.sqlite_code());
  }
  // Everything is in the file: the schema was committed before the switch to WAL, and closing the
  // only connection deleted the (empty) log.
  const bool moved = move_into_place(staging, path, replace_empty_file);
  const int move_error = errno;
  remove_with_sqlite_files(staging);  // all of it when not moved; a log or index closing left behind when moved
  if (!moved && move_error != EEXIST)
    throw SessionError(path, std::string("cannot create the session file: ") + std::strerror(move_error));
  return moved;
}

// Opens an existing file read-only first, so that a file that is not a session is refused before
// anything could write to it.
void check_existing_session(const std::string& path) {
  try {
    open_session_read_only(path);
  } catch (const SessionError& e) {
    throw SessionError(path, std::string(e.what()).substr(e.path().size() + 2) +
                                 "; refusing to record into it (an existing file is added to, never replaced)",
                       e.sqlite_code());
  }
}

// SQLite refuses to read a database whose rollback journal is hot (left by a writer that stopped
// mid-transaction) through a read-only connection: the journal must be played back first, which
// writes. Plays it back through a read-write connection when this process may write the file
// and its folder; otherwise says what to do. Nothing happens when there is no journal.
void roll_back_interrupted_write(const std::string& path) {
  const std::string journal = path + "-journal";
  int64_t journal_size = 0;
  if (!file_exists(journal, &journal_size) || journal_size == 0) return;
  const std::string dir = std::filesystem::path(path).has_parent_path() ? std::filesystem::path(path).parent_path().string() : ".";
  if (::access(path.c_str(), W_OK) != 0 || ::access(dir.c_str(), W_OK) != 0)
    throw SessionError(path, "a write to it was interrupted and left " + journal +
                                 ", which must be rolled back before the session can be read, and this user may "
                                 "not write the file or its folder: open it once as a user who may (any Mnemoscope "
                                 "tool rolls it back), or copy both files together to a folder you can write and open "
                                 "the copy");
  Db db(path, Db::Mode::ReadWrite);
  // The first read takes a shared lock, which makes SQLite play a hot journal back (a journal a
  // live writer still holds is not hot: the read then waits for it like any reader).
  db.prepare("SELECT count(*) FROM sqlite_schema").step();
}

}  // namespace

std::string session_recording_path(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return path;  // a new session (a missing folder is named when it is created)
    throw SessionError(path, std::string("cannot inspect: ") + std::strerror(errno));
  }
  if (S_ISREG(st.st_mode)) return path;
  if (!S_ISLNK(st.st_mode))
    throw SessionError(path, std::string("is ") + kind_of(st.st_mode) +
                                 ", not a session file: refusing to record into it (give a new name, an empty file "
                                 "or an existing session)");
  // A symbolic link is written through: the session is created, or added to, at its target.
  std::error_code ec;
  const std::filesystem::path link_text = std::filesystem::read_symlink(path, ec);
  struct stat target {};
  if (::stat(path.c_str(), &target) != 0)
    throw SessionError(path, "is a symbolic link to " + link_text.string() + ", which does not exist: refusing to record "
                             "through it");
  if (!S_ISREG(target.st_mode))
    throw SessionError(path, "is a symbolic link to " + link_text.string() + ", which is " + kind_of(target.st_mode) +
                                 ", not a session file: refusing to record into it");
  const std::filesystem::path resolved = std::filesystem::canonical(path, ec);
  if (ec) throw SessionError(path, "cannot resolve the symbolic link: " + ec.message());
  return resolved.string();
}

Db open_session_for_recording(const std::string& requested_path) {
  const std::string path = session_recording_path(requested_path);
  remove_stale_staging(path);
  bool created = false;
  for (int attempt = 0; !created; ++attempt) {
    struct stat st {};
    const bool exists = ::stat(path.c_str(), &st) == 0;
    if (exists && st.st_size > 0) break;
    created = create_session_file(path, exists);
    // Taken meanwhile (another recorder made the session first): look at it again, once.
    if (!created && attempt > 0) throw SessionError(path, "cannot create the session file: it keeps being replaced");
    if (!created) session_recording_path(path);
  }
  if (!created) check_existing_session(path);
  // Through the VFS that tells the writer thread when SQLite waits for the disk.
  Db db(path, Db::Mode::ReadWrite, sync_notifying_vfs());
  check_session(db);
  // Older sessions are never rewritten: their runs stay as they were recorded.
  if (const int64_t v = db.pragma_int("user_version"); v < kSessionSchemaVersion)
    throw SessionError(path, "a session of schema v" + std::to_string(v) + " (written by an older Mnemoscope): it opens " +
                                 "read-only; record into a new file");
  // WAL lets viewers read while we write, and a killed recorder loses only uncommitted steps. A
  // finished session is back in rollback-journal mode.
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
  db.exec(kSchemaV2Answers);              // a v2 file made before the table existed gains it
  return db;
}

Db open_session_read_only(const std::string& path) {
  if (!file_exists(path)) throw SessionError(path, "no such file");
  roll_back_interrupted_write(path);
  Db db(path, Db::Mode::ReadOnly);
  check_session(db);
  // Pages through a read-only map instead of read() into SQLite's page cache: a cold tile loads a
  // layer's factor rows (MBs of overflow pages); this takes 15-25% off a cold level-0 fetch at
  // T = 2160 (bench_session tiles, interleaved runs). SQLite clamps the size to its build's limit
  // and reads past the mapped part normally. Sessions only grow while open, so mapped pages stay.
  db.exec("PRAGMA mmap_size = 4294967296");
  if (db.pragma_int("user_version") == 1) db.exec(kSchemaV1AsV2Views);
  db.exec(db.pragma_int("user_version") == 1 ? kV1FactorSource : kV2FactorSource);
  return db;
}

}  // namespace mnemo::profiler
