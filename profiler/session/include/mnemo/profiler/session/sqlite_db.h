// A thin RAII layer over SQLite: a connection that knows its file's path, so every error names the
// file, and prepared statements with typed binds and column reads. Nothing here knows the schema.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "mnemo/core/error.h"

struct sqlite3;
struct sqlite3_stmt;
struct sqlite3_blob;

namespace mnemo::profiler {

// A session file that cannot be used (not a session, newer schema, corrupt) or a failed write.
class SessionError : public FormatError {
 public:
  SessionError(std::string path, const std::string& problem, int sqlite_code = 0)
      : FormatError(std::move(path), problem), sqlite_code_(sqlite_code) {}
  int sqlite_code() const { return sqlite_code_; }  // primary result code, 0 when not from SQLite
  bool disk_full() const;

 private:
  int sqlite_code_;
};

class Stmt;

std::string sqlite_library_version();  // of the SQLite linked in, e.g. "3.40.1"

class Db {
 public:
  enum class Mode { ReadOnly, ReadWrite, ReadWriteCreate };  // ReadWrite: an existing file only

  Db() = default;
  // vfs: an SQLite VFS name (nullptr: the default one). Throws SessionError.
  Db(const std::string& path, Mode mode, const char* vfs = nullptr);
  Db(Db&& o) noexcept;
  Db& operator=(Db&& o) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  const std::string& path() const { return path_; }
  bool read_only() const { return read_only_; }
  sqlite3* handle() const { return db_; }

  void exec(std::string_view sql);                  // one or more statements, no results
  Stmt prepare(std::string_view sql) const;
  int64_t pragma_int(std::string_view name) const;  // e.g. "user_version"
  int64_t last_insert_rowid() const;

  // Throws SessionError naming the file, what was being done and SQLite's message.
  [[noreturn]] void fail(const std::string& doing, int rc) const;

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
  bool read_only_ = false;
};

class Stmt {
 public:
  Stmt() = default;
  Stmt(const Db& db, std::string_view sql);
  Stmt(Stmt&& o) noexcept;
  Stmt& operator=(Stmt&& o) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();
  explicit operator bool() const { return st_ != nullptr; }  // false when default-constructed

  // Binds by 1-based index; chains.
  Stmt& bind(int i, int64_t v);
  Stmt& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Stmt& bind(int i, double v);
  Stmt& bind(int i, std::string_view text);
  Stmt& bind(int i, const char* text) { return bind(i, std::string_view(text)); }
  Stmt& bind_blob(int i, std::span<const uint8_t> bytes);
  Stmt& bind_null(int i);
  Stmt& bind(int i, std::optional<int64_t> v) { return v ? bind(i, *v) : bind_null(i); }  // NULL when absent

  // Steps once: true while a row is available; false when done. Throws on error.
  bool step();
  void run() { while (step()) {} reset(); }  // executes an insert/update and resets
  void reset();                               // keeps bindings

  bool is_null(int col) const;
  int64_t integer(int col) const;
  double real(int col) const;
  std::string text(int col) const;
  std::span<const uint8_t> blob(int col) const;  // valid until the next step/reset

 private:
  const Db* db_ = nullptr;
  sqlite3_stmt* st_ = nullptr;
};

// Reads byte ranges of one BLOB column, row by row (SQLite's incremental I/O): only the pages
// that hold the range are read, where a SELECT of substr() reads the whole value first.
class BlobReader {
 public:
  BlobReader(const Db& db, const char* table, const char* column);
  BlobReader(const BlobReader&) = delete;
  BlobReader& operator=(const BlobReader&) = delete;
  ~BlobReader();

  // Copies `out.size()` bytes from `offset` of the value in row `rowid`; throws SessionError
  // naming `what` when the row is gone or the value is shorter.
  void read(int64_t rowid, int64_t offset, std::span<uint8_t> out, const std::string& what);

 private:
  const Db& db_;
  const char* table_;
  const char* column_;
  sqlite3_blob* blob_ = nullptr;
};

// A transaction that rolls back unless committed.
class Transaction {
 public:
  explicit Transaction(Db& db, bool immediate = true);
  ~Transaction();
  void commit();

 private:
  Db* db_;
  bool open_ = true;
};

}  // namespace mnemo::profiler
