// An SQLite VFS over the platform's default one that tells the calling thread when an fsync
// starts and ends. The recorder's writer works on a core the engine lends it; while SQLite waits
// for the disk in a checkpoint's fsync the core would idle, so the writer gives it back for the
// wait (docs/PERFORMANCE.md, "Sessions"). Files, locks and durability are the default VFS's.
#pragma once

namespace mnemo::profiler {

class SyncListener {
 public:
  virtual ~SyncListener() = default;
  virtual void before_sync() = 0;
  virtual void after_sync() = 0;
};

// Registers the VFS on first use (thread-safe, not as the default) and returns its name for
// sqlite3_open_v2.
const char* sync_notifying_vfs();

// Syncs made on the calling thread through that VFS notify `listener` (nullptr: nobody). The
// listener must outlive its registration.
void listen_to_syncs_on_this_thread(SyncListener* listener);

}  // namespace mnemo::profiler
