#include "mnemo/profiler/session/sqlite_db.h"

#include <sqlite3.h>

#include <string>
#include <utility>

namespace mnemo::profiler {

std::string sqlite_library_version() { return sqlite3_libversion(); }

bool SessionError::disk_full() const { return sqlite_code_ == SQLITE_FULL; }

Db::Db(const std::string& path, Mode mode, const char* vfs) : path_(path), read_only_(mode == Mode::ReadOnly) {
  // Read-only opens must never create a file or a journal, even for a path that does not exist.
  const int flags = read_only_                   ? SQLITE_OPEN_READONLY
                    : mode == Mode::ReadWrite ? SQLITE_OPEN_READWRITE
                                              : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, vfs);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw SessionError(path, "cannot open: " + msg, rc & 0xff);
  }
  sqlite3_extended_result_codes(db_, 1);
  // A reader shares the file with a live recorder: wait for its short commits instead of failing.
  sqlite3_busy_timeout(db_, 5000);
}

Db::Db(Db&& o) noexcept : db_(std::exchange(o.db_, nullptr)), path_(std::move(o.path_)), read_only_(o.read_only_) {}

Db& Db::operator=(Db&& o) noexcept {
  if (this != &o) {
    if (db_) sqlite3_close_v2(db_);
    db_ = std::exchange(o.db_, nullptr);
    path_ = std::move(o.path_);
    read_only_ = o.read_only_;
  }
  return *this;
}

Db::~Db() {
  if (db_) sqlite3_close_v2(db_);
}

void Db::fail(const std::string& doing, int rc) const {
  std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  const int primary = rc & 0xff;
  if (primary == SQLITE_NOTADB) msg = "not a Mnemoscope session (not an SQLite database)";
  else if (primary == SQLITE_CORRUPT) msg = "the file is corrupt (" + msg + ")";
  else if (primary == SQLITE_FULL) msg = "the disk is full (" + msg + ")";
  throw SessionError(path_, doing + ": " + msg, primary);
}

void Db::exec(std::string_view sql) {
  char* err = nullptr;
  const std::string s(sql);
  const int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    const int primary = rc & 0xff;
    if (primary == SQLITE_NOTADB) msg = "not a Mnemoscope session (not an SQLite database)";
    else if (primary == SQLITE_CORRUPT) msg = "the file is corrupt (" + msg + ")";
    else if (primary == SQLITE_FULL) msg = "the disk is full (" + msg + ")";
    std::string head = s.substr(0, s.find_first_of("(\n;"));
    throw SessionError(path_, "'" + head + "' failed: " + msg, primary);
  }
}

Stmt Db::prepare(std::string_view sql) const { return Stmt(*this, sql); }

int64_t Db::pragma_int(std::string_view name) const {
  Stmt s(*this, "PRAGMA " + std::string(name));
  if (!s.step()) fail("PRAGMA " + std::string(name) + " returned nothing", SQLITE_ERROR);
  return s.integer(0);
}

int64_t Db::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

Stmt::Stmt(const Db& db, std::string_view sql) : db_(&db) {
  const int rc = sqlite3_prepare_v3(db.handle(), sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                    &st_, nullptr);
  if (rc != SQLITE_OK) db.fail("preparing '" + std::string(sql.substr(0, 60)) + "'", rc);
}

Stmt::Stmt(Stmt&& o) noexcept : db_(o.db_), st_(std::exchange(o.st_, nullptr)) {}

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    if (st_) sqlite3_finalize(st_);
    db_ = o.db_;
    st_ = std::exchange(o.st_, nullptr);
  }
  return *this;
}

Stmt::~Stmt() {
  if (st_) sqlite3_finalize(st_);
}

Stmt& Stmt::bind(int i, int64_t v) {
  if (int rc = sqlite3_bind_int64(st_, i, v); rc != SQLITE_OK) db_->fail("binding", rc);
  return *this;
}
Stmt& Stmt::bind(int i, double v) {
  if (int rc = sqlite3_bind_double(st_, i, v); rc != SQLITE_OK) db_->fail("binding", rc);
  return *this;
}
Stmt& Stmt::bind(int i, std::string_view text) {
  if (int rc = sqlite3_bind_text64(st_, i, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8); rc != SQLITE_OK)
    db_->fail("binding", rc);
  return *this;
}
Stmt& Stmt::bind_blob(int i, std::span<const uint8_t> bytes) {
  // SQLITE_STATIC: callers keep the buffer alive until step(); it saves a copy of every factor blob.
  static const uint8_t kEmpty = 0;
  const void* p = bytes.empty() ? &kEmpty : bytes.data();
  if (int rc = sqlite3_bind_blob64(st_, i, p, bytes.size(), SQLITE_STATIC); rc != SQLITE_OK) db_->fail("binding", rc);
  return *this;
}
Stmt& Stmt::bind_null(int i) {
  if (int rc = sqlite3_bind_null(st_, i); rc != SQLITE_OK) db_->fail("binding", rc);
  return *this;
}

bool Stmt::step() {
  const int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3_reset(st_);
  db_->fail("executing '" + std::string(sqlite3_sql(st_)).substr(0, 60) + "'", rc);
}

void Stmt::reset() { sqlite3_reset(st_); }

bool Stmt::is_null(int col) const { return sqlite3_column_type(st_, col) == SQLITE_NULL; }
int64_t Stmt::integer(int col) const { return sqlite3_column_int64(st_, col); }
double Stmt::real(int col) const { return sqlite3_column_double(st_, col); }
std::string Stmt::text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st_, col));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(st_, col))) : std::string();
}
std::span<const uint8_t> Stmt::blob(int col) const {
  const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(st_, col));
  return {p, static_cast<size_t>(sqlite3_column_bytes(st_, col))};
}

BlobReader::BlobReader(const Db& db, const char* table, const char* column) : db_(db), table_(table), column_(column) {}

BlobReader::~BlobReader() {
  if (blob_) sqlite3_blob_close(blob_);
}

void BlobReader::read(int64_t rowid, int64_t offset, std::span<uint8_t> out, const std::string& what) {
  const int rc = blob_ ? sqlite3_blob_reopen(blob_, rowid) : sqlite3_blob_open(db_.handle(), "main", table_, column_, rowid, 0, &blob_);
  if (rc != SQLITE_OK) {
    if (blob_) sqlite3_blob_close(blob_);  // a failed reopen leaves the handle aborted
    blob_ = nullptr;
    db_.fail("reading " + what, rc);
  }
  const int64_t size = sqlite3_blob_bytes(blob_);
  if (offset < 0 || offset + static_cast<int64_t>(out.size()) > size)
    throw SessionError(db_.path(), what + ": the value holds " + std::to_string(size) + " bytes, the row needs " +
                                       std::to_string(offset + static_cast<int64_t>(out.size())));
  if (out.empty()) return;
  if (int r = sqlite3_blob_read(blob_, out.data(), static_cast<int>(out.size()), static_cast<int>(offset)); r != SQLITE_OK)
    db_.fail("reading " + what, r);
}

Transaction::Transaction(Db& db, bool immediate) : db_(&db) { db.exec(immediate ? "BEGIN IMMEDIATE" : "BEGIN"); }

Transaction::~Transaction() {
  if (open_) sqlite3_exec(db_->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  db_->exec("COMMIT");
  open_ = false;
}

}  // namespace mnemo::profiler
