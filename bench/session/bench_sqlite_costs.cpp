// What SQLite and zstd alone cost the session writer, per row and per tile (docs/PERFORMANCE.md,
// "second look at the writer"); each figure beside its baseline in the same run:
//   bench_sqlite_costs rows DIR [reps]   23,232 op-shaped rows in 64 transactions (one decode run's
//                                        ops), as the writer's tables hold them: one row per INSERT
//                                        (the baseline), 32 rows per multi-row INSERT, and with the
//                                        time index present while inserting
//   bench_sqlite_costs tiles SESSION     a session's pyramid tiles (fp16) recompressed at zstd
//                                        levels 1, -1, -3, -5: MB/s and ratio, beside memcpy
// Prints one JSON object per command on stdout.
#include <sqlite3.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double thread_cpu_s() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

void check(int rc, sqlite3* db, const char* doing) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    throw std::runtime_error(std::string(doing) + ": " + sqlite3_errmsg(db));
}

// CPU seconds to insert the rows, `per_statement` rows per INSERT; with_index: the time index
// exists while inserting. The file is set up as the recorder sets up a session.
double insert_ops(const std::string& path, int per_statement, bool with_index) {
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  sqlite3* db = nullptr;
  check(sqlite3_open(path.c_str(), &db), db, "open");
  std::string schema =
      "PRAGMA page_size = 65536; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -8192;"
      "PRAGMA wal_autocheckpoint = 128;"
      "CREATE TABLE _op (run_id INTEGER NOT NULL, op_id INTEGER NOT NULL, step INTEGER NOT NULL, kind INTEGER NOT NULL,"
      " layer INTEGER NOT NULL, head INTEGER NOT NULL, thread INTEGER NOT NULL, start_ns INTEGER NOT NULL,"
      " end_ns INTEGER NOT NULL, PRIMARY KEY (run_id, op_id)) WITHOUT ROWID;";
  if (with_index) schema += "CREATE INDEX _op_by_time ON _op (run_id, thread, start_ns);";
  check(sqlite3_exec(db, schema.c_str(), nullptr, nullptr, nullptr), db, "schema");
  std::string sql = "INSERT INTO _op VALUES ";
  for (int r = 0; r < per_statement; ++r) sql += r ? ",(?,?,?,?,?,?,?,?,?)" : "(?,?,?,?,?,?,?,?,?)";
  sqlite3_stmt* st = nullptr;
  check(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), db, "prepare");
  constexpr int kSteps = 64, kRowsPerStep = 363;  // 23,232 ops: SmolLM2, 30 layers, 64 steps
  const double cpu0 = thread_cpu_s();
  int64_t id = 0;
  for (int step = 0; step < kSteps; ++step) {
    check(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), db, "begin");
    for (int done = 0; done < kRowsPerStep; done += per_statement) {  // per_statement divides 363
      for (int r = 0; r < per_statement; ++r, ++id) {
        const int b = r * 9;
        const int64_t v[9] = {1, id, step, id % 12, id % 30, -1, id % 2, 1000000 + id * 1000, 1000900 + id * 1000};
        for (int c = 0; c < 9; ++c) sqlite3_bind_int64(st, b + c + 1, v[c]);
      }
      check(sqlite3_step(st), db, "insert");
      sqlite3_reset(st);
    }
    check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
  }
  const double cpu = thread_cpu_s() - cpu0;
  sqlite3_finalize(st);
  sqlite3_close(db);
  std::filesystem::remove(path);
  return cpu / static_cast<double>(id) * 1e6;  // µs per row
}

int cmd_rows(const std::string& dir, int reps) {
  if (!std::filesystem::is_directory(dir)) throw std::runtime_error(dir + ": not a directory");
  const std::string path = dir + "/bench_rows.sqlite";
  std::vector<double> one, multi, indexed;
  for (int i = 0; i < reps; ++i) {
    one.push_back(insert_ops(path, 1, false));
    multi.push_back(insert_ops(path, 33, false));  // 363 = 11 statements of 33
    indexed.push_back(insert_ops(path, 1, true));
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("{\"rows\": 23232, \"us_per_row\": {\"one_per_insert\": %.2f, \"33_per_insert\": %.2f, "
              "\"with_time_index\": %.2f}}\n",
              median(one), median(multi), median(indexed));
  return 0;
}

int cmd_tiles(const std::string& session) {
  sqlite3* db = nullptr;
  check(sqlite3_open_v2(session.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), db, "open");
  sqlite3_stmt* st = nullptr;
  check(sqlite3_prepare_v2(db, "SELECT rows * cols, codec, max, mean FROM _pyramid_tile", -1, &st, nullptr), db,
        "select tiles");
  std::vector<std::vector<char>> raw;
  while (sqlite3_step(st) == SQLITE_ROW) {
    const size_t n = static_cast<size_t>(sqlite3_column_int64(st, 0)) * 2;
    const bool zstd = std::strcmp(reinterpret_cast<const char*>(sqlite3_column_text(st, 1)), "f16") != 0;
    for (int c = 2; c < 4; ++c) {
      std::vector<char> tile(n);
      const void* b = sqlite3_column_blob(st, c);
      const size_t bytes = static_cast<size_t>(sqlite3_column_bytes(st, c));
      if (zstd ? ZSTD_decompress(tile.data(), n, b, bytes) != n : bytes != n)
        throw std::runtime_error(session + ": a tile does not decode to its size");
      if (!zstd) std::memcpy(tile.data(), b, n);
      raw.push_back(std::move(tile));
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  if (raw.empty()) throw std::runtime_error(session + ": no pyramid tiles");
  size_t in = 0;
  for (const auto& t : raw) in += t.size();
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  std::vector<char> out(ZSTD_compressBound(std::max_element(raw.begin(), raw.end(), [](auto& a, auto& b) {
                                             return a.size() < b.size();
                                           })->size()));
  std::printf("{\"tiles\": %zu, \"mb\": %.2f", raw.size(), static_cast<double>(in) / 1e6);
  constexpr int kReps = 5;
  auto t0 = Clock::now();
  for (int r = 0; r < kReps; ++r)
    for (const auto& t : raw) std::memcpy(out.data(), t.data(), t.size());
  std::printf(", \"memcpy_mb_s\": %.0f", static_cast<double>(in) * kReps / 1e6 /
                                             std::chrono::duration<double>(Clock::now() - t0).count());
  for (int level : {1, -1, -3, -5}) {
    size_t packed = 0;
    t0 = Clock::now();
    for (int r = 0; r < kReps; ++r)
      for (const auto& t : raw) packed += ZSTD_compressCCtx(cctx, out.data(), out.size(), t.data(), t.size(), level);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf(", \"zstd_%d\": {\"mb_s\": %.0f, \"ratio\": %.2f}", level, static_cast<double>(in) * kReps / 1e6 / s,
                static_cast<double>(in) * kReps / static_cast<double>(packed));
  }
  std::printf("}\n");
  ZSTD_freeCCtx(cctx);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "rows" && argc >= 3) return cmd_rows(argv[2], argc > 3 ? std::max(1, std::stoi(argv[3])) : 5);
    if (cmd == "tiles" && argc >= 3) return cmd_tiles(argv[2]);
    std::fprintf(stderr, "usage: bench_sqlite_costs rows DIR [reps] | tiles SESSION\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_sqlite_costs: %s\n", e.what());
    return 1;
  }
}
