// Opening session files: creating or appending for recording, read-only for viewing. Both check
// that the file is a Mnemoscope session of a schema this build knows, and say plainly what is
// wrong when it is not (another SQLite database, a newer schema, a truncated or corrupt file).
#pragma once

#include <string>

#include "mnemo/profiler/session/sqlite_db.h"

namespace mnemo::profiler {

inline constexpr int64_t kSessionApplicationId = 0x4D4E454D;  // "MNEM"
inline constexpr int64_t kSessionSchemaVersion = 1;

// The schema's SQL for a version (profiler/schema/vN.sql, embedded at build time).
const char* session_schema_sql(int64_t version);

// Where a session asked for at `path` is recorded: `path` itself when it is absent or a regular
// file, the target of a symbolic link to a regular file (a link is written through, never
// replaced). Throws SessionError naming the path and what it is for anything else: a directory, a
// device such as /dev/null, a FIFO, a socket, a dangling link. Nothing is created or changed.
std::string session_recording_path(const std::string& path);

// Creates the file with the current schema (at session_recording_path(path); an empty regular file
// there is replaced), or opens an existing session (migrating an older schema in place) to append
// runs. An existing file that is not a session is refused and never written to or replaced. Sets
// WAL, synchronous=NORMAL and 64 KiB pages. Removes staging files left by recorders killed while
// creating a session of the same name.
Db open_session_for_recording(const std::string& path);

// Opens read-only: never writes to the file, works while a recorder is appending to it. The one
// exception: a rollback journal left hot by a writer that stopped mid-transaction is played back
// first (SQLite cannot read the file otherwise), which needs write access to the file and its
// folder; without it the error says what to do.
Db open_session_read_only(const std::string& path);

// Throws SessionError unless `db` holds a session this build can read.
void check_session(const Db& db);

}  // namespace mnemo::profiler
