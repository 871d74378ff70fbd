// Files that are not sessions, newer sessions, damaged sessions: one clear error naming the file,
// never a crash; and opening read-only never changes anything on disk.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <functional>
#include <limits>

#include "mnemo/profiler/session/session_file.h"
#include "mnemo/profiler/session/session_reader.h"
#include "session_test_util.h"

namespace mnemo::profiler {
namespace {

namespace fs = std::filesystem;

using test::bytes_of;
using test::make_session;
using test::write_bytes;

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
  EXPECT_NE(err.find("newer Mnemoscope (session schema v7; this build reads up to v1)"), std::string::npos) << err;
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
      {"short-q.mnemo", "UPDATE _attention_query SET q = substr(q, 1, 100) WHERE layer = 0", "layer 0 head 3 step 0 q"},
      {"short-lse.mnemo", "UPDATE _attention_query SET lse = zeroblob(8) WHERE layer = 0", "step 0 lse: the value holds 8 bytes"},
      {"short-k.mnemo", "UPDATE _attention_key SET k = zeroblob(16) WHERE layer = 0", "step 0 k: the value holds 16 bytes"},
      {"text-q.mnemo", "UPDATE _attention_query SET q = 'not a blob' WHERE layer = 0", "layer 0 head 3 step 0 q"},
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

// Tile coordinates are checked against the map's tile grid before any row is computed from them:
// ty * 256 wraps around for a huge ty (to row -256 for 2^56 - 1).
TEST(BadSessions, HugeTileCoordinatesAreOutsideTheMap) {
  const std::string path = make_session("grid.mnemo", 300);  // 2 × 2 tiles at level 0
  SessionReader r(path);
  EXPECT_NO_THROW(r.tile(1, 0, 0, 0, 0, 1, 1));
  const int64_t wraps_to_minus_one_tile = (int64_t{1} << 56) - 1;
  for (const auto& [ty, tx] : {std::pair<int64_t, int64_t>{wraps_to_minus_one_tile, 0}, {0, wraps_to_minus_one_tile},
                               {2, 0}, {0, 2}, {std::numeric_limits<int64_t>::max(), 0}}) {
    try {
      const AttentionTile t = r.tile(1, 0, 0, 0, 0, ty, tx);
      ADD_FAILURE() << "tile (" << ty << ", " << tx << ") gave " << t.rows << " × " << t.cols << " cells from row "
                    << t.row0 << ", col " << t.col0;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("is outside the map (300 × 300 cells, 2 × 2 tiles)"), std::string::npos)
          << e.what();
    }
  }
}

// A run whose recorder has not committed (or never committed) its first step: the reader says
// so, rather than blaming the captures or the head.
TEST(BadSessions, ARunWithoutACommittedStepSaysSo) {
  const std::string path = test::temp_path("no-step.mnemo");
  const test::SyntheticAttention a(8, 1);
  Recorder rec(path, test::synthetic_llama_run(a), {});  // recording, before its first step
  SessionReader r(path);
  ASSERT_EQ(r.runs().size(), 1u);
  EXPECT_EQ(r.runs()[0].n_steps, 0);
  const std::string expected = path + ": run 1 has no committed step yet";
  for (const auto& read : std::vector<std::function<void()>>{[&] { r.tile(1, 0, 0, 0, 0, 0, 0); },
                                                              [&] { r.map_shape(1, 0, 1, 2); },
                                                              [&] { r.row(1, 0, 0, 0); }}) {
    try {
      read();
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind(expected, 0), 0u) << e.what();
    }
  }
  EXPECT_THROW(r.tile(2, 0, 0, 0, 0, 0, 0), Error);
  try {
    r.map_shape(2, 0, 0, 0);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no run 2"), std::string::npos) << e.what();
  }
  rec.finish();
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
