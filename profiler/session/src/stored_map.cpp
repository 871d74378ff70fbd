// A map stored as it is: level-0 tiles in _pyramid_tile (level 0 holds the cells themselves, `max`
// and `mean` equal), for a mixer whose map is recorded rather than recomputed from factors. The
// newest tile at or before the step serves each tile position; cells without a tile read as 0.
#include <algorithm>

#include "mnemo/core/error.h"
#include "mnemo/profiler/session/attention_math.h"
#include "mnemo/profiler/session/checksum.h"
#include "mnemo/profiler/session/mixer_map.h"
#include "mnemo/profiler/session/sqlite_db.h"

namespace mnemo::profiler {
namespace {

class StoredMap final : public MixerMap {
 public:
  explicit StoredMap(const MixerMapInput& in)
      : db_(in.db), what_(in.what), run_(in.run), layer_(in.layer_index), head_(in.head), newest_(in.newest_step) {}

  void block(int64_t r0, int64_t nr, int64_t c0, int64_t c1, float* out) override {
    const int64_t cols = c1 - c0;
    std::fill(out, out + nr * cols, 0.f);
    for (int64_t ty = r0 / kTileSize; ty * kTileSize < r0 + nr; ++ty)
      for (int64_t tx = c0 / kTileSize; tx * kTileSize < c1; ++tx) {
        const Tile* t = tile(ty, tx);
        if (!t) continue;
        for (int64_t r = std::max(r0, ty * kTileSize); r < std::min(r0 + nr, ty * kTileSize + t->rows); ++r)
          for (int64_t c = std::max(c0, tx * kTileSize); c < std::min(c1, tx * kTileSize + t->cols); ++c)
            out[(r - r0) * cols + (c - c0)] = t->values[static_cast<size_t>((r - ty * kTileSize) * t->cols + c - tx * kTileSize)];
      }
  }

  std::vector<float> row(int64_t pos) override {
    int64_t cols = 0;
    for (int64_t tx = 0;; ++tx) {
      const Tile* t = tile(pos / kTileSize, tx);
      if (!t) break;
      cols = tx * kTileSize + t->cols;
    }
    if (pos < 0 || cols == 0) throw Error(what_ + " has no stored row at position " + std::to_string(pos));
    std::vector<float> p(static_cast<size_t>(cols));
    block(pos, 1, 0, cols, p.data());
    return p;
  }

 private:
  struct Tile {
    int64_t rows = 0, cols = 0;
    std::vector<float> values;
  };
  const Tile* tile(int64_t ty, int64_t tx) {
    const auto key = std::make_pair(ty, tx);
    if (const auto it = tiles_.find(key); it != tiles_.end()) return it->second ? &*it->second : nullptr;
    Stmt s = db_.prepare(
        "SELECT step, rows, cols, codec, max_crc32, max FROM _pyramid_tile WHERE run_id = ? AND layer = ? AND head = ? "
        "AND level = 0 AND ty = ? AND tx = ? AND step <= ? ORDER BY step DESC LIMIT 1");
    s.bind(1, run_).bind(2, layer_).bind(3, head_).bind(4, ty).bind(5, tx).bind(6, newest_);
    std::optional<Tile>& slot = tiles_[key];
    if (!s.step()) return nullptr;
    Tile t;
    t.rows = s.integer(1), t.cols = s.integer(2);
    if (t.rows <= 0 || t.cols <= 0 || t.rows > kTileSize || t.cols > kTileSize)
      throw Error(what_ + ": stored tile with " + std::to_string(t.rows) + " × " + std::to_string(t.cols) + " cells");
    const std::string what = what_ + " step " + std::to_string(s.integer(0)) + " level 0 tile (" + std::to_string(ty) + ", " +
                             std::to_string(tx) + ") column max";
    verify_crc32(s.blob(5), static_cast<uint32_t>(s.integer(4)), what);
    t.values = decode_tile(s.blob(5), s.text(3) == "f16" ? TileCodec::F16 : TileCodec::ZstdF16, t.rows * t.cols, what.c_str());
    slot = std::move(t);
    return &*slot;
  }

  const Db& db_;
  std::string what_;
  int64_t run_;
  int32_t layer_, head_;
  int64_t newest_;
  std::map<std::pair<int64_t, int64_t>, std::optional<Tile>> tiles_;
};

}  // namespace

void register_stored_map(MixerMapRegistry& registry) {
  registry.add("stored", {"stored tiles", "", [](const MixerMapInput& in) -> std::unique_ptr<MixerMap> {
                            return std::make_unique<StoredMap>(in);
                          }});
}

}  // namespace mnemo::profiler
