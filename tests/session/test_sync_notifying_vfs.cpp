// The recording VFS: SQLite's fsyncs on a thread reach that thread's listener (and no other), and
// a session written through it is a normal SQLite file.
#include "sync_notifying_vfs.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

#include "mnemo/profiler/session/session_file.h"
#include "mnemo/profiler/session/sqlite_db.h"
#include "session_test_util.h"

namespace mnemo::profiler {
namespace {

struct CountingListener final : SyncListener {
  std::atomic<int> before{0}, after{0};
  std::atomic<bool> inside{false}, nested{false};
  void before_sync() override {
    if (inside.exchange(true)) nested = true;
    ++before;
  }
  void after_sync() override {
    inside = false;
    ++after;
  }
};

// Enough committed pages in WAL mode for checkpoints, each of which syncs the log and the file.
void write_and_checkpoint(Db& db) {
  db.exec("CREATE TABLE IF NOT EXISTS t (x BLOB)");
  for (int i = 0; i < 20; ++i) {
    Transaction t(db);
    db.exec("INSERT INTO t VALUES (zeroblob(200000))");
    t.commit();
  }
  db.exec("PRAGMA wal_checkpoint(PASSIVE)");
}

TEST(SyncNotifyingVfs, ACheckpointsSyncsReachThisThreadsListener) {
  const std::string path = test::temp_path("vfs.mnemo");
  CountingListener listener;
  listen_to_syncs_on_this_thread(&listener);
  {
    Db db = open_session_for_recording(path);
    ASSERT_EQ(db.pragma_int("synchronous"), 1);  // NORMAL: fsyncs at checkpoints
    write_and_checkpoint(db);
  }
  listen_to_syncs_on_this_thread(nullptr);
  EXPECT_GT(listener.before.load(), 0);
  EXPECT_EQ(listener.before.load(), listener.after.load());
  EXPECT_FALSE(listener.nested.load());

  // The file stays a plain SQLite database for the default VFS.
  Db check(path, Db::Mode::ReadOnly);
  Stmt s = check.prepare("PRAGMA integrity_check");
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.text(0), "ok");
  Stmt n = check.prepare("SELECT count(*), sum(length(x)) FROM t");
  ASSERT_TRUE(n.step());
  EXPECT_EQ(n.integer(0), 20);
  EXPECT_EQ(n.integer(1), 20 * 200000);
}

TEST(SyncNotifyingVfs, SyncsOnAnotherThreadDoNotReachThisThreadsListener) {
  const std::string path = test::temp_path("vfs-other.mnemo");
  CountingListener mine;
  listen_to_syncs_on_this_thread(&mine);
  std::thread other([&] {
    Db db = open_session_for_recording(path);
    write_and_checkpoint(db);
  });
  other.join();
  listen_to_syncs_on_this_thread(nullptr);
  EXPECT_EQ(mine.before.load(), 0);
}

}  // namespace
}  // namespace mnemo::profiler
