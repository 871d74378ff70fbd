// Opening session files: creating or appending for recording, read-only for viewing. Both check
// that the file is a Mnemoscope session of a schema this build knows, and say plainly what is
// wrong when it is not (another SQLite database, a newer schema, a truncated or corrupt file).
#pragma once

#include <string>

#include "mnemo/profiler/session/sqlite_db.h"

namespace mnemo::profiler {

inline constexpr int64_t kSessionApplicationId = 0x4D4E454D;  // "MNEM"
inline constexpr int64_t kSessionSchemaVersion = 2;

// The schema's SQL for a version (profiler/schema/vN.sql, embedded at build time).
const char* session_schema_sql(int64_t version);

// Creates the file with the current schema, or opens an existing session of the current schema to
// append runs (older sessions are read-only: SessionError says so). Sets WAL, synchronous=NORMAL
// and 64 KiB pages.
Db open_session_for_recording(const std::string& path);

// Opens read-only: never writes to the file, works while a recorder is appending to it. A file of
// an older schema is presented in the current shape through TEMP views (v1: _mixer_factor and
// _layer over _attention_query and _attention_key), which live in the connection, not the file.
Db open_session_read_only(const std::string& path);

// Throws SessionError unless `db` holds a session this build can read.
void check_session(const Db& db);

}  // namespace mnemo::profiler
