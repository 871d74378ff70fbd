#include "sync_notifying_vfs.h"

#include <sqlite3.h>

#include <mutex>
#include <stdexcept>

namespace mnemo::profiler {
namespace {

thread_local SyncListener* t_listener = nullptr;
sqlite3_vfs* g_base = nullptr;  // the platform's default VFS, which does the work
sqlite3_vfs g_vfs{};

// Our file is the base VFS's file, placed right behind this header.
struct File {
  sqlite3_file head;
  sqlite3_file* base;
};

sqlite3_file* base_of(sqlite3_file* f) { return reinterpret_cast<File*>(f)->base; }
const sqlite3_io_methods& base_methods(sqlite3_file* f) { return *base_of(f)->pMethods; }

int file_sync(sqlite3_file* f, int flags) {
  SyncListener* listener = t_listener;
  if (listener) listener->before_sync();
  const int rc = base_methods(f).xSync(base_of(f), flags);
  if (listener) listener->after_sync();
  return rc;
}

int file_close(sqlite3_file* f) { return base_methods(f).xClose(base_of(f)); }
int file_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 at) { return base_methods(f).xRead(base_of(f), buf, n, at); }
int file_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 at) {
  return base_methods(f).xWrite(base_of(f), buf, n, at);
}
int file_truncate(sqlite3_file* f, sqlite3_int64 size) { return base_methods(f).xTruncate(base_of(f), size); }
int file_size(sqlite3_file* f, sqlite3_int64* size) { return base_methods(f).xFileSize(base_of(f), size); }
int file_lock(sqlite3_file* f, int level) { return base_methods(f).xLock(base_of(f), level); }
int file_unlock(sqlite3_file* f, int level) { return base_methods(f).xUnlock(base_of(f), level); }
int file_check_reserved(sqlite3_file* f, int* out) { return base_methods(f).xCheckReservedLock(base_of(f), out); }
int file_control(sqlite3_file* f, int op, void* arg) { return base_methods(f).xFileControl(base_of(f), op, arg); }
int file_sector_size(sqlite3_file* f) { return base_methods(f).xSectorSize(base_of(f)); }
int file_device(sqlite3_file* f) { return base_methods(f).xDeviceCharacteristics(base_of(f)); }
int file_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return base_methods(f).xShmMap(base_of(f), region, size, extend, out);
}
int file_shm_lock(sqlite3_file* f, int offset, int n, int flags) { return base_methods(f).xShmLock(base_of(f), offset, n, flags); }
void file_shm_barrier(sqlite3_file* f) { base_methods(f).xShmBarrier(base_of(f)); }
int file_shm_unmap(sqlite3_file* f, int remove) { return base_methods(f).xShmUnmap(base_of(f), remove); }
int file_fetch(sqlite3_file* f, sqlite3_int64 at, int n, void** out) { return base_methods(f).xFetch(base_of(f), at, n, out); }
int file_unfetch(sqlite3_file* f, sqlite3_int64 at, void* p) { return base_methods(f).xUnfetch(base_of(f), at, p); }

// One method table per version the base files report: SQLite calls the shared-memory (v2) and
// memory-map (v3) methods only when the version says they exist.
sqlite3_io_methods methods_for(int version) {
  sqlite3_io_methods m{};
  m.iVersion = version;
  m.xClose = file_close, m.xRead = file_read, m.xWrite = file_write, m.xTruncate = file_truncate;
  m.xSync = file_sync, m.xFileSize = file_size, m.xLock = file_lock, m.xUnlock = file_unlock;
  m.xCheckReservedLock = file_check_reserved, m.xFileControl = file_control;
  m.xSectorSize = file_sector_size, m.xDeviceCharacteristics = file_device;
  if (version >= 2) m.xShmMap = file_shm_map, m.xShmLock = file_shm_lock, m.xShmBarrier = file_shm_barrier, m.xShmUnmap = file_shm_unmap;
  if (version >= 3) m.xFetch = file_fetch, m.xUnfetch = file_unfetch;
  return m;
}
const sqlite3_io_methods g_methods[4] = {methods_for(0), methods_for(1), methods_for(2), methods_for(3)};

int vfs_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  File* file = reinterpret_cast<File*>(f);
  file->base = reinterpret_cast<sqlite3_file*>(file + 1);
  file->base->pMethods = nullptr;
  const int rc = g_base->xOpen(g_base, name, file->base, flags, out_flags);
  // Without base methods SQLite must not call ours (not even xClose): the open failed cleanly.
  if (file->base->pMethods) {
    const int version = file->base->pMethods->iVersion < 0 ? 0 : file->base->pMethods->iVersion > 3 ? 3 : file->base->pMethods->iVersion;
    file->head.pMethods = &g_methods[version];
  } else {
    file->head.pMethods = nullptr;
  }
  return rc;
}

// Everything but opening files goes straight to the base VFS, which gets its own handle.
int vfs_delete(sqlite3_vfs*, const char* name, int sync_dir) { return g_base->xDelete(g_base, name, sync_dir); }
int vfs_access(sqlite3_vfs*, const char* name, int flags, int* out) { return g_base->xAccess(g_base, name, flags, out); }
int vfs_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) { return g_base->xFullPathname(g_base, name, n, out); }
void* vfs_dlopen(sqlite3_vfs*, const char* name) { return g_base->xDlOpen(g_base, name); }
void vfs_dlerror(sqlite3_vfs*, int n, char* out) { g_base->xDlError(g_base, n, out); }
void (*vfs_dlsym(sqlite3_vfs*, void* lib, const char* sym))(void) { return g_base->xDlSym(g_base, lib, sym); }
void vfs_dlclose(sqlite3_vfs*, void* lib) { g_base->xDlClose(g_base, lib); }
int vfs_randomness(sqlite3_vfs*, int n, char* out) { return g_base->xRandomness(g_base, n, out); }
int vfs_sleep(sqlite3_vfs*, int us) { return g_base->xSleep(g_base, us); }
int vfs_current_time(sqlite3_vfs*, double* out) { return g_base->xCurrentTime(g_base, out); }
int vfs_last_error(sqlite3_vfs*, int n, char* out) { return g_base->xGetLastError ? g_base->xGetLastError(g_base, n, out) : 0; }
int vfs_current_time_64(sqlite3_vfs*, sqlite3_int64* out) { return g_base->xCurrentTimeInt64(g_base, out); }

}  // namespace

const char* sync_notifying_vfs() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_base = sqlite3_vfs_find(nullptr);
    if (!g_base) throw std::runtime_error("SQLite has no default VFS");
    g_vfs.iVersion = g_base->iVersion >= 2 && g_base->xCurrentTimeInt64 ? 2 : 1;
    g_vfs.szOsFile = static_cast<int>(sizeof(File)) + g_base->szOsFile;
    g_vfs.mxPathname = g_base->mxPathname;
    g_vfs.zName = "mnemo-sync-notifying";
    g_vfs.xOpen = vfs_open, g_vfs.xDelete = vfs_delete, g_vfs.xAccess = vfs_access, g_vfs.xFullPathname = vfs_full_pathname;
    g_vfs.xDlOpen = vfs_dlopen, g_vfs.xDlError = vfs_dlerror, g_vfs.xDlSym = vfs_dlsym, g_vfs.xDlClose = vfs_dlclose;
    g_vfs.xRandomness = vfs_randomness, g_vfs.xSleep = vfs_sleep, g_vfs.xCurrentTime = vfs_current_time;
    g_vfs.xGetLastError = vfs_last_error;
    if (g_vfs.iVersion >= 2) g_vfs.xCurrentTimeInt64 = vfs_current_time_64;
    if (sqlite3_vfs_register(&g_vfs, 0) != SQLITE_OK) throw std::runtime_error("cannot register the session VFS");
  });
  return g_vfs.zName;
}

void listen_to_syncs_on_this_thread(SyncListener* listener) { t_listener = listener; }

}  // namespace mnemo::profiler
