// Attention tiles for the canvases: fetched from the session on the worker thread, coloured and
// uploaded as textures on the UI thread under a per-frame budget, kept in a least-recently-used
// cache. A tile asked for and not ready yet is requested once and drawn later; requests that
// stop being asked for (panned away) are skipped by the worker instead of computed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "mnemo/profiler/session/session_reader.h"
#include "mnemo/viz/color_scale.h"
#include "mnemo/viz/session_worker.h"
#include "mnemo/viz/texture_store.h"

namespace mnemo::viz {

struct TileKey {
  int64_t run = 0, step = 0;
  int32_t layer = 0, head = 0;
  int level = 0;
  int64_t ty = 0, tx = 0;
  int64_t channel = -1;  // one channel's map (kinds with channels), −1 the head's
  friend bool operator==(const TileKey&, const TileKey&) = default;
};

struct TileKeyHash {
  size_t operator()(const TileKey& k) const;
};

// Which pooled value a cell of an upper level shows (level 0 cells are exact scores either way).
enum class Pool { Max, Mean };

struct Tile {
  profiler::AttentionTile data;
  ImTextureID texture = nullptr;  // data.cols × data.rows pixels
  uint64_t colored_version = 0;   // ColorScale::version() and pool the texture was coloured with
  Pool colored_pool = Pool::Max;
  std::vector<uint32_t> pixels;
};

class TileCache {
 public:
  struct Stats {
    int64_t requested = 0, computed = 0, skipped_stale = 0, retried = 0, uploads = 0, evicted = 0;
  };

  TileCache(SessionWorker& worker, TextureStore& textures, size_t max_tiles = 384);
  ~TileCache();
  TileCache(const TileCache&) = delete;
  TileCache& operator=(const TileCache&) = delete;

  // Starts a frame: requests not asked for since the previous frame become stale.
  void begin_frame();
  // Ends a frame: evicts the least recently used tiles beyond the budget.
  void end_frame();

  // The tile coloured under `scale`, or nullptr while it loads (requesting it at `p`), or when it
  // failed (see error()). Colouring and uploading count against the frame's budget: a tile over
  // budget is returned next frame (coloured with the old scale meanwhile when it has a texture).
  const Tile* get(const TileKey& key, Priority p, const ColorScale& scale, Pool pool);
  // A ready tile without requesting anything (for drawing a coarser stand-in).
  const Tile* peek(const TileKey& key, const ColorScale& scale, Pool pool);
  // Requests a tile at Prefetch priority (no texture until someone get()s it).
  void prefetch(const TileKey& key);
  // Why a tile failed, or nullptr when it did not.
  const std::string* error(const TileKey& key) const;

  size_t size() const { return entries_.size(); }
  size_t loading() const;
  const Stats& stats() const { return stats_; }
  // Colouring and uploading stop for the frame after `tiles` tiles or once they took `ms`
  // milliseconds, whichever comes first; the first tile of a frame always goes.
  void set_upload_budget(int tiles, double ms = 1e9) { upload_budget_ = tiles, upload_budget_ms_ = ms; }
  void clear();  // drops every tile and texture (a new session, a new scale range is not a reason)

 private:
  struct Entry;
  Entry& request(const TileKey& key, Priority p);
  const Tile* ready(Entry& e, const ColorScale& scale, Pool pool, bool may_spend_budget);

  SessionWorker& worker_;
  TextureStore& textures_;
  size_t max_tiles_;
  // A 256 × 256 tile is ~0.3–1 ms on llvmpipe, more while the worker competes for the cores: a
  // time budget keeps a frame with many arrivals near a static frame's time.
  int upload_budget_ = 8;
  double upload_budget_ms_ = 3.0;
  int spent_ = 0;
  double spent_ms_ = 0;
  uint64_t frame_ = 1;
  std::shared_ptr<std::atomic<uint64_t>> frame_seen_ = std::make_shared<std::atomic<uint64_t>>(1);
  std::unordered_map<TileKey, std::unique_ptr<Entry>, TileKeyHash> entries_;
  Stats stats_;
};

}  // namespace mnemo::viz
