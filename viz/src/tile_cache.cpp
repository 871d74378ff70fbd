#include "mnemo/viz/tile_cache.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <vector>

namespace mnemo::viz {

namespace {
size_t mix(size_t h, uint64_t v) { return h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2)); }
}  // namespace

size_t TileKeyHash::operator()(const TileKey& k) const {
  size_t h = 0;
  for (uint64_t v : {uint64_t(k.run), uint64_t(k.step), uint64_t(k.layer), uint64_t(k.head), uint64_t(k.level),
                     uint64_t(k.ty), uint64_t(k.tx), uint64_t(k.channel)})
    h = mix(h, v);
  return h;
}

struct TileCache::Entry {
  // The worker fills `result`; the job skips the computation when nobody asked for the tile
  // since it was queued (wanted_frame older than the frame the worker sees).
  PendingPtr<profiler::AttentionTile> result;
  std::shared_ptr<std::atomic<uint64_t>> wanted_frame = std::make_shared<std::atomic<uint64_t>>(0);
  Tile tile;
  bool has_tile = false;
  std::optional<std::chrono::steady_clock::time_point> failed_at;
  uint64_t last_used = 0;
};

TileCache::TileCache(SessionWorker& worker, TextureStore& textures, size_t max_tiles)
    : worker_(worker), textures_(textures), max_tiles_(std::max<size_t>(16, max_tiles)) {}

TileCache::~TileCache() { clear(); }

void TileCache::clear() {
  for (auto& [key, e] : entries_)
    if (e->tile.texture) textures_.destroy(e->tile.texture);
  entries_.clear();
}

void TileCache::begin_frame() {
  ++frame_;
  frame_seen_->store(frame_, std::memory_order_relaxed);
  spent_ = 0;
  spent_ms_ = 0;
}

void TileCache::end_frame() {
  if (entries_.size() <= max_tiles_) return;
  std::vector<std::pair<uint64_t, TileKey>> by_age;
  by_age.reserve(entries_.size());
  for (const auto& [key, e] : entries_)
    if (e->last_used < frame_) by_age.emplace_back(e->last_used, key);  // never what this frame drew
  std::sort(by_age.begin(), by_age.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [age, key] : by_age) {
    if (entries_.size() <= max_tiles_) break;
    auto it = entries_.find(key);
    if (it->second->tile.texture) textures_.destroy(it->second->tile.texture);
    entries_.erase(it);
    ++stats_.evicted;
  }
}

TileCache::Entry& TileCache::request(const TileKey& key, Priority p) {
  auto [it, inserted] = entries_.try_emplace(key);
  if (inserted) {
    it->second = std::make_unique<Entry>();
    Entry& e = *it->second;
    e.result = std::make_shared<Pending<profiler::AttentionTile>>();
    e.wanted_frame->store(frame_, std::memory_order_relaxed);
    ++stats_.requested;
    worker_.submit(p, [key, out = e.result, wanted = e.wanted_frame, now = frame_seen_](profiler::SessionReader& r) {
      // Two frames of grace: a tile asked for in the previous frame is still wanted.
      if (wanted->load(std::memory_order_relaxed) + 2 < now->load(std::memory_order_relaxed)) {
        out->fail("stale");
        return;
      }
      try {
        out->set(r.tile(key.run, key.step, key.layer, key.head, key.level, key.ty, key.tx, key.channel));
      } catch (const std::exception& ex) {
        out->fail(ex.what());
      }
    });
  }
  Entry& e = *it->second;
  e.wanted_frame->store(frame_, std::memory_order_relaxed);
  e.last_used = frame_;
  // A request skipped as stale is asked for again now that someone wants it; a failed one after a
  // second (a live recording may not have committed what the tile needs yet).
  if (e.result && e.result->ready() && e.result->failed() && !e.has_tile) {
    const auto now = std::chrono::steady_clock::now();
    if (e.result->error() == "stale") {
      ++stats_.skipped_stale;
      entries_.erase(it);
      return request(key, p);
    }
    if (!e.failed_at) e.failed_at = now;
    if (now - *e.failed_at > std::chrono::seconds(1)) {
      ++stats_.retried;
      entries_.erase(it);
      return request(key, p);
    }
  }
  return e;
}

const Tile* TileCache::ready(Entry& e, const ColorScale& scale, Pool pool, bool may_spend_budget) {
  if (!e.has_tile) {
    if (!e.result || !e.result->ready() || e.result->failed()) return nullptr;
    e.tile.data = std::move(*e.result->mutable_value());
    e.has_tile = true;
    ++stats_.computed;
  }
  Tile& t = e.tile;
  if (t.data.rows == 0 || t.data.cols == 0) return nullptr;
  const bool stale_colors = !t.texture || t.colored_version != scale.version() || t.colored_pool != pool;
  if (stale_colors && may_spend_budget && spent_ < upload_budget_ && (spent_ == 0 || spent_ms_ < upload_budget_ms_)) {
    const auto t0 = std::chrono::steady_clock::now();
    ++spent_;
    const auto& values = (pool == Pool::Max || t.data.level == 0) ? t.data.max : t.data.mean;
    t.pixels.resize(values.size());
    scale.colorize(values, t.pixels);
    const int w = static_cast<int>(t.data.cols), h = static_cast<int>(t.data.rows);
    if (t.texture) textures_.update(t.texture, w, h, t.pixels);
    else t.texture = textures_.create(w, h, t.pixels);
    t.colored_version = scale.version();
    t.colored_pool = pool;
    ++stats_.uploads;
    spent_ms_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  return t.texture ? &t : nullptr;
}

const Tile* TileCache::get(const TileKey& key, Priority p, const ColorScale& scale, Pool pool) {
  Entry& e = request(key, p);
  return ready(e, scale, pool, true);
}

const Tile* TileCache::peek(const TileKey& key, const ColorScale& scale, Pool pool) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  it->second->last_used = frame_;
  return ready(*it->second, scale, pool, true);
}

void TileCache::prefetch(const TileKey& key) {
  if (entries_.size() >= max_tiles_ && !entries_.count(key)) return;  // never evict what is drawn for a guess
  request(key, Priority::Prefetch);
}

const std::string* TileCache::error(const TileKey& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second->has_tile || !it->second->result->ready() || !it->second->result->failed())
    return nullptr;
  if (it->second->result->error() == "stale") return nullptr;
  return &it->second->result->error();
}

size_t TileCache::loading() const {
  size_t n = 0;
  for (const auto& [key, e] : entries_)
    if (!e->result->ready()) ++n;
  return n;
}

}  // namespace mnemo::viz
