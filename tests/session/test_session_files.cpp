// Where a recording may create or add to a session, and what interrupted writes leave: nothing
// that is not a session file is replaced or written through (a device, a FIFO, a folder, another
// program's file), every reader opens what a killed recorder left, and no staging file outlives
// the recorder that made it.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>

#include "mnemo/profiler/session/session_file.h"
#include "mnemo/profiler/session/session_reader.h"
#include "session_test_util.h"

namespace mnemo::profiler {
namespace {

namespace fs = std::filesystem;

std::string folder_of(const std::string& path) { return fs::path(path).parent_path().string(); }

// Files beside `path` whose names start with its name: the file, SQLite's files, staging files.
std::vector<std::string> files_named(const std::string& path) {
  std::vector<std::string> out;
  const std::string name = fs::path(path).filename().string();
  for (const auto& e : fs::directory_iterator(folder_of(path)))
    if (e.path().filename().string().rfind(name, 0) == 0) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string recording_error(const std::string& path) {
  try {
    open_session_for_recording(path);
  } catch (const SessionError& e) {
    return e.what();
  }
  return "";
}

void add_empty_run(const std::string& path) {
  Recorder rec(path, test::synthetic_llama_run(test::SyntheticAttention(1, 1)), {});
  rec.finish();
}

TEST(RecordingTarget, RefusesFoldersFifosDevicesAndDanglingLinks) {
  const std::string fifo = test::temp_path("fifo.mnemo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  const std::string folder = test::temp_path("folder.mnemo");
  fs::create_directories(folder);
  // /dev/null is only ever reached through a link: were the link not refused, what would be
  // replaced is the link (the old behaviour) or, written through, /dev/null itself, and the
  // refusal comes before any staging file exists. A device node of its own where this process
  // may make one (mknod needs CAP_MKNOD).
  const std::string to_null = test::temp_path("to-null.mnemo");
  fs::create_symlink("/dev/null", to_null);
  const std::string device = test::temp_path("device.mnemo");
  const bool have_device = ::mknod(device.c_str(), S_IFCHR | 0600, ::makedev(1, 3)) == 0;
  const std::string dangling = test::temp_path("dangling.mnemo");
  const std::string nowhere = folder_of(dangling) + "/nowhere.mnemo";
  fs::create_symlink(nowhere, dangling);

  struct Case {
    std::string path, says;
  };
  std::vector<Case> cases = {{fifo, "is a FIFO (named pipe)"},
                             {folder, "is a directory"},
                             {to_null, "is a symbolic link to /dev/null, which is a character device"},
                             {dangling, "which does not exist"}};
  if (have_device) cases.push_back({device, "is a character device"});
  for (const Case& c : cases) {
    const std::string err = recording_error(c.path);
    EXPECT_EQ(err.rfind(c.path + ": ", 0), 0u) << c.path << ": " << err;
    EXPECT_NE(err.find(c.says), std::string::npos) << err;
    EXPECT_NE(err.find("refusing to record"), std::string::npos) << err;
  }

  struct stat st {};
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced";
  EXPECT_TRUE(fs::is_directory(folder) && fs::is_empty(folder));
  EXPECT_TRUE(fs::is_symlink(to_null)) << "the link to /dev/null was replaced";
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_TRUE(fs::is_symlink(dangling));
  EXPECT_FALSE(fs::exists(nowhere)) << "a session was created through a dangling link";
  if (have_device) {
    ASSERT_EQ(::lstat(device.c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode)) << "the device node was replaced";
    fs::remove(device);
  }
  for (const auto& e : fs::directory_iterator(folder_of(fifo)))
    EXPECT_EQ(e.path().filename().string().find(".creating-"), std::string::npos) << e.path();
  fs::remove(fifo), fs::remove(folder), fs::remove(to_null), fs::remove(dangling);
}

TEST(RecordingTarget, AddsToASessionOrAnEmptyFileThroughALinkAndKeepsTheLink) {
  const std::string session = test::make_session("linked-session.mnemo");
  const std::string link = test::temp_path("link-to-session.mnemo");
  fs::create_symlink(session, link);
  add_empty_run(link);
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(SessionReader(session).runs().size(), 2u) << "the run went to the link's target";

  const std::string empty = test::temp_path("linked-empty.mnemo");
  test::write_bytes(empty, "");
  const std::string link_to_empty = test::temp_path("link-to-empty.mnemo");
  fs::create_symlink(empty, link_to_empty);
  add_empty_run(link_to_empty);
  EXPECT_TRUE(fs::is_symlink(link_to_empty)) << "the link was replaced by the new session";
  EXPECT_EQ(SessionReader(empty).runs().size(), 1u) << "the session was created at the link's target";
  EXPECT_EQ(joined(files_named(link_to_empty)), "link-to-empty.mnemo");
  EXPECT_EQ(joined(files_named(empty)), "linked-empty.mnemo");
}

TEST(RecordingTarget, NeverWritesToAnExistingFileThatIsNotASession) {
  const std::string text = test::temp_path("notes.mnemo");
  test::write_bytes(text, std::string(5000, 'x'));
  const std::string foreign = test::temp_path("other-program.db");
  {
    Db db(foreign, Db::Mode::ReadWriteCreate);
    db.exec("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)");
  }
  for (const std::string& path : {text, foreign}) {
    const std::string before = test::bytes_of(path);
    const std::string err = recording_error(path);
    EXPECT_EQ(err.rfind(path + ": ", 0), 0u) << err;
    EXPECT_NE(err.find("not a Mnemoscope session"), std::string::npos) << err;
    EXPECT_NE(err.find("refusing to record into it"), std::string::npos) << err;
    EXPECT_EQ(test::bytes_of(path), before);
    EXPECT_EQ(joined(files_named(path)), fs::path(path).filename().string());
  }
}

// What a writer killed inside a transaction on a rollback-journal session leaves: the file, part
// of the transaction written into it, and a hot journal (a recorder killed while switching a
// session to WAL or back left this). Made without killing anything: the pair is copied while a
// transaction holds it, after a one-page cache made SQLite sync the journal (which makes it hot)
// and write changed pages into the file.
std::string copy_with_hot_journal(const std::string& session, const std::string& name) {
  const std::string copy = test::temp_path(name);
  Db db(session, Db::Mode::ReadWriteCreate);
  db.exec("PRAGMA journal_mode = DELETE");
  db.exec("PRAGMA cache_size = 1");
  db.exec("BEGIN IMMEDIATE");
  db.exec("UPDATE _meta SET value = value || ' (interrupted)'");
  db.exec("CREATE TABLE interrupted (x BLOB)");
  db.exec("INSERT INTO interrupted SELECT randomblob(60000) FROM "
          "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40) SELECT i FROM n)");
  fs::copy_file(session, copy);
  fs::copy_file(session + "-journal", copy + "-journal");
  db.exec("ROLLBACK");
  return copy;
}

TEST(InterruptedWrites, ASessionWithAHotJournalOpensForReadingAndRecording) {
  const std::string session = test::make_session("journaled.mnemo");
  const std::string hot = copy_with_hot_journal(session, "hot.mnemo");
  {
    SessionReader reader(hot);
    EXPECT_EQ(reader.runs().size(), 1u);
    EXPECT_NO_THROW(reader.tile(1, 0, 1, 3, 0, 0, 0));
  }
  EXPECT_FALSE(fs::exists(hot + "-journal")) << "the journal was not rolled back";
  {
    Db db(hot, Db::Mode::ReadOnly);
    Stmt check = db.prepare("PRAGMA integrity_check");
    ASSERT_TRUE(check.step());
    EXPECT_EQ(check.text(0), "ok");
    Stmt meta = db.prepare(
        "SELECT (SELECT count(*) FROM _meta WHERE value LIKE '%(interrupted)') + "
        "(SELECT count(*) FROM sqlite_schema WHERE name = 'interrupted')");
    ASSERT_TRUE(meta.step());
    EXPECT_EQ(meta.integer(0), 0) << "the interrupted transaction's changes are visible";
  }
  const std::string hot_for_recording = copy_with_hot_journal(session, "hot-recording.mnemo");
  add_empty_run(hot_for_recording);
  EXPECT_EQ(SessionReader(hot_for_recording).runs().size(), 2u);
}

TEST(InterruptedWrites, AFailedCreateLeavesNoStagingFile) {
  const std::string path = test::temp_path("full-disk.mnemo");
  // A disk that fills at 16 KiB: the first 64 KiB page cannot be written.
  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  const auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG
  const struct rlimit small = {16 << 10, old.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const std::string err = recording_error(path);
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, previous_handler);
  EXPECT_EQ(err.rfind(path + ": cannot create the session file", 0), 0u) << err;
  EXPECT_EQ(joined(files_named(path)), "") << "left behind";
}

TEST(InterruptedWrites, StagingFilesOfDeadRecordersAreRemovedByTheNextRecording) {
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ASSERT_GT(dead, 0);
  ASSERT_EQ(::waitpid(dead, nullptr, 0), dead);
  const pid_t alive = ::getppid();
  // Into an existing session, and into a new name.
  for (const bool exists : {true, false}) {
    const std::string path = exists ? test::make_session("staged.mnemo") : test::temp_path("staged-new.mnemo");
    const std::string of_dead = path + ".creating-" + std::to_string(dead);
    const std::string of_alive = path + ".creating-" + std::to_string(alive);
    for (const std::string& f : {of_dead, of_dead + "-journal", of_dead + "-wal", of_alive})
      test::write_bytes(f, "a staging file");
    add_empty_run(path);
    EXPECT_FALSE(fs::exists(of_dead)) << of_dead;
    EXPECT_FALSE(fs::exists(of_dead + "-journal"));
    EXPECT_FALSE(fs::exists(of_dead + "-wal"));
    EXPECT_TRUE(fs::exists(of_alive)) << "a live recorder's staging file was removed";
    fs::remove(of_alive);
  }
}

}  // namespace
}  // namespace mnemo::profiler
