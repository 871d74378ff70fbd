// Files that are not sessions, newer sessions, damaged sessions: one clear error naming the file,
// never a crash; and opening read-only never changes anything on disk.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "mnemo/profiler/session/session_file.h"
#include "mnemo/profiler/session/session_reader.h"
#include "session_test_util.h"

namespace mnemo::profiler {
namespace {

namespace fs = std::filesystem;

std::string make_session(const std::string& name, int64_t positions = 80) {
  const std::string path = test::temp_path(name);
  const test::SyntheticAttention a(positions, 1);
  RunInfo r;
  r.model_path = "m", r.model_format = "gguf", r.architecture = "llama", r.plugin_id = "t", r.plugin_version = "0";
  r.n_layers = a.layers, r.n_heads = a.heads, r.n_kv_heads = a.kv_heads, r.head_dim = a.d, r.wall_start_utc = "x";
  Recorder rec(path, r, {});
  for (int layer = 0; layer < a.layers; ++layer) rec.submit(a.capture(0, layer, 0, positions));
  rec.submit(StepRecord{0, "prefill", 0, positions, 1, 2});
  rec.end_step(0);
  rec.finish();
  return path;
}

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_bytes(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

std::string open_error(const std::string& path) {
  try {
    SessionReader r(path);
    for (const auto& run : r.runs()) r.tile(run.id, 0, 0, 0, 0, 0, 0);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(BadSessions, EachGivesOneClearErrorNamingTheFile) {
  const std::string dir = fs::path(test::temp_path("x")).parent_path().string();
  struct Case {
    std::string name, data, phrase;
  };
  const std::string good = bytes_of(make_session("good.mnemo"));
  std::vector<Case> cases = {
      {"empty.mnemo", "", "empty file"},
      {"text.mnemo", "hello, this is not a database at all, just some text that goes on for a while", "not a Mnemoscope session"},
      {"half.mnemo", good.substr(0, good.size() / 2), "truncated"},
      {"header-only.mnemo", good.substr(0, 100), ""},
  };
  std::string corrupt = good;
  for (size_t i = 65536 + 100; i < corrupt.size() && i < 65536 * 3; i += 7) corrupt[i] = static_cast<char>(i * 31);
  cases.push_back({"corrupt.mnemo", corrupt, ""});
  for (const Case& c : cases) {
    const std::string path = dir + "/" + c.name;
    write_bytes(path, c.data);
    const std::string err = open_error(path);
    EXPECT_FALSE(err.empty()) << c.name << " was accepted";
    EXPECT_NE(err.find(path), std::string::npos) << c.name << ": " << err;
    EXPECT_NE(err.find(c.phrase), std::string::npos) << c.name << ": " << err;
  }
  EXPECT_NE(open_error(dir + "/missing.mnemo").find("no such file"), std::string::npos);
}

TEST(BadSessions, ForeignAndNewerDatabasesAreRefused) {
  const std::string foreign = test::temp_path("foreign.db");
  {
    Db db(foreign, Db::Mode::ReadWriteCreate);
    db.exec("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)");
  }
  EXPECT_NE(open_error(foreign).find("not a Mnemoscope session (application_id 0x00000000"), std::string::npos)
      << open_error(foreign);
  EXPECT_THROW(open_session_for_recording(foreign), SessionError);  // never adopted for recording either

  const std::string newer = make_session("newer.mnemo");
  {
    Db db(newer, Db::Mode::ReadWriteCreate);
    db.exec("PRAGMA user_version = 7");
  }
  const std::string err = open_error(newer);
  EXPECT_NE(err.find("newer Mnemoscope (session schema v7; this build reads up to v2)"), std::string::npos) << err;
  EXPECT_THROW(open_session_for_recording(newer), SessionError);
}

// Factor rows whose BLOBs do not hold what their extents say: the head's slice is read alone, so
// the reader must check each slice against the value's length, and say which row is short.
TEST(BadSessions, ShortOrMistypedFactorBlobsAreNamed) {
  const struct {
    const char* name;
    const char* damage;
    const char* expected;
  } cases[] = {
      {"short-q.mnemo", "UPDATE _mixer_factor SET data = substr(data, 1, 100) WHERE layer = 0 AND factor = 'q'",
       "run 1 layer 0 head 3 step 0 factor q (column data): the value holds 100 bytes"},
      {"short-lse.mnemo", "UPDATE _mixer_factor SET data = zeroblob(8) WHERE layer = 0 AND factor = 'lse'",
       "step 0 factor lse (column data): the value holds 8 bytes"},
      {"short-k.mnemo", "UPDATE _mixer_factor SET data = zeroblob(16) WHERE layer = 0 AND factor = 'k'",
       "run 1 layer 0 head 3 (KV head 1) step 0 factor k (column data): the value holds 16 bytes"},
      {"text-q.mnemo", "UPDATE _mixer_factor SET data = 'not a blob' WHERE layer = 0 AND factor = 'q'",
       "run 1 layer 0 head 3 step 0 factor q"},
      // One byte changed inside head 3's slice of the queries: the lengths are right, the checksum is not.
      {"flipped-q.mnemo",
       "UPDATE _mixer_factor SET data = CAST(substr(data, 1, 3 * length(data) / 4 + 5) || CASE WHEN "
       "substr(data, 3 * length(data) / 4 + 6, 1) = x'5A' THEN x'A5' ELSE x'5A' END || "
       "substr(data, 3 * length(data) / 4 + 7) AS BLOB) WHERE layer = 0 AND factor = 'q'",
       "run 1 layer 0 head 3 step 0 factor q (column data): checksum mismatch"},
      {"flipped-k.mnemo",
       "UPDATE _mixer_factor SET data = CAST(substr(data, 1, length(data) / 2 + 9) || CASE WHEN "
       "substr(data, length(data) / 2 + 10, 1) = x'A5' THEN x'5A' ELSE x'A5' END || "
       "substr(data, length(data) / 2 + 11) AS BLOB) WHERE layer = 0 AND factor = 'k'",
       "run 1 layer 0 head 3 (KV head 1) step 0 factor k (column data): checksum mismatch"},
  };
  for (const auto& c : cases) {
    const std::string path = make_session(c.name);
    {
      Db db(path, Db::Mode::ReadWriteCreate);
      db.exec(c.damage);
    }
    SessionReader r(path);
    // The stored overview does not need the factors; level 0 and slices do.
    try {
      r.tile(1, 0, 0, 3, 0, 0, 0);
      ADD_FAILURE() << c.name << ": no error";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(path), std::string::npos) << what;
      EXPECT_NE(what.find(c.expected), std::string::npos) << c.name << ": " << what;
    }
    EXPECT_THROW(r.row(1, 0, 3, 10), Error) << c.name;
    EXPECT_NO_THROW(r.tile(1, 0, 1, 3, 0, 0, 0)) << c.name << ": another layer is intact";
  }
}

TEST(BadSessions, ReadOnlyOpenNeverWrites) {
  const std::string path = make_session("readonly.mnemo");
  const std::string before = bytes_of(path);
  struct stat st_before {};
  ::stat(path.c_str(), &st_before);
  const auto listing = [&] {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(fs::path(path).parent_path())) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  };
  const auto files_before = listing();
  {
    SessionReader r(path);
    r.runs();
    r.tile(1, 0, 1, 3, 0, 0, 0);
    r.tile(1, 0, 1, 3, 1, 0, 0);
  }
  struct stat st_after {};
  ::stat(path.c_str(), &st_after);
  EXPECT_EQ(bytes_of(path), before);
  EXPECT_EQ(st_after.st_mtim.tv_sec, st_before.st_mtim.tv_sec);
  EXPECT_EQ(st_after.st_mtim.tv_nsec, st_before.st_mtim.tv_nsec);
  EXPECT_EQ(listing(), files_before);

  // Also when the file cannot be written at all.
  ::chmod(path.c_str(), 0444);
  EXPECT_NO_THROW(SessionReader(path).runs());
  ::chmod(path.c_str(), 0644);
}

}  // namespace
}  // namespace mnemo::profiler
