#include <gtest/gtest.h>

#include <future>

#include "imgui_harness.h"
#include "mnemo/profiler/session/session_reader.h"
#include "mnemo/viz/tile_cache.h"

namespace mnemo::viz {
namespace {

using test::Fixture;

// Holds the worker inside a job until release(): makes "not loaded yet" deterministic.
struct Gate {
  std::promise<void> open;
  std::shared_future<void> opened = open.get_future().share();
  explicit Gate(SessionWorker& w) {
    w.submit(Priority::Now, [f = opened](profiler::SessionReader&) { f.wait(); });
  }
  void release() { open.set_value(); }
};

const Tile* wait_for(TileCache& cache, const TileKey& key, const ColorScale& scale, Pool pool = Pool::Max) {
  for (int i = 0; i < 5000; ++i) {
    cache.begin_frame();
    if (const Tile* t = cache.get(key, Priority::Visible, scale, pool)) return t;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return nullptr;
}

TEST(TileCache, TilesMatchTheReaderAndTheirPixelsTheScale) {
  Fixture f;
  ASSERT_GT(f.vs.run, 0);
  profiler::SessionReader reader(f.doc.path());
  ColorScale scale;
  scale.set_range(0.f, 0.5f);
  const int64_t last = reader.steps(f.vs.run).back().step;
  for (int head = 0; head < 4; ++head) {
    const TileKey key{f.vs.run, last, 1, head, 0, 0, 0};
    const Tile* t = wait_for(f.doc.tiles(), key, scale);
    ASSERT_NE(t, nullptr) << "head " << head;
    const auto expect = reader.tile(key.run, key.step, key.layer, key.head, 0, 0, 0);
    ASSERT_EQ(t->data.rows, expect.rows);
    ASSERT_EQ(t->data.cols, expect.cols);
    ASSERT_EQ(t->data.max, expect.max);
    const auto* img = f.textures.find(t->texture);
    ASSERT_NE(img, nullptr);
    ASSERT_EQ(img->w, expect.cols);
    ASSERT_EQ(img->h, expect.rows);
    for (int64_t r = 0; r < expect.rows; r += 7)
      for (int64_t c = 0; c < expect.cols; c += 5)
        ASSERT_EQ(img->at(static_cast<int>(c), static_cast<int>(r)), scale.color(expect.max[static_cast<size_t>(r * expect.cols + c)]));
  }
}

// Level-0 tiles of four heads at step 0, each loaded and coloured under `scale`.
std::vector<TileKey> four_loaded_heads(Fixture& f, const ColorScale& scale) {
  std::vector<TileKey> keys;
  for (int head = 0; head < 4; ++head) {
    keys.push_back({f.vs.run, 0, 0, head, 0, 0, 0});
    EXPECT_NE(wait_for(f.doc.tiles(), keys.back(), scale), nullptr) << "head " << head;
  }
  return keys;
}

TEST(TileCache, ANewScaleRecoloursWithinTheUploadBudget) {
  Fixture f;
  TileCache& cache = f.doc.tiles();
  ColorScale scale;
  const std::vector<TileKey> keys = four_loaded_heads(f, scale);
  const int64_t uploads = f.textures.uploads();
  scale.set_kind(profiler::ScaleKind::Rank);
  cache.set_upload_budget(1);
  cache.begin_frame();
  int recoloured = 0;
  for (const auto& k : keys) {
    const Tile* t = cache.get(k, Priority::Visible, scale, Pool::Max);
    ASSERT_NE(t, nullptr);  // an old colouring stands in until the new one is uploaded
    recoloured += t->colored_version == scale.version();
  }
  EXPECT_EQ(recoloured, 1);
  EXPECT_EQ(f.textures.uploads(), uploads + 1);
  for (int frame = 0; frame < 3; ++frame) {
    cache.begin_frame();
    for (const auto& k : keys) cache.get(k, Priority::Visible, scale, Pool::Max);
  }
  for (const auto& k : keys) EXPECT_EQ(cache.peek(k, scale, Pool::Max)->colored_version, scale.version());
}

TEST(TileCache, TheTimeBudgetStopsUploadsButTheFirstTileAlwaysGoes) {
  Fixture f;
  TileCache& cache = f.doc.tiles();
  ColorScale scale;
  const std::vector<TileKey> keys = four_loaded_heads(f, scale);
  scale.set_kind(profiler::ScaleKind::Log);
  cache.set_upload_budget(8, 0.0);  // any upload spends the frame's time
  for (int frame = 1; frame <= 4; ++frame) {
    const int64_t uploads = f.textures.uploads();
    cache.begin_frame();
    for (const auto& k : keys) cache.get(k, Priority::Visible, scale, Pool::Max);
    EXPECT_EQ(f.textures.uploads(), uploads + 1) << "frame " << frame;
  }
  for (const auto& k : keys) EXPECT_EQ(cache.peek(k, scale, Pool::Max)->colored_version, scale.version());
}

TEST(TileCache, EvictsTheLeastRecentlyUsedBeyondItsBudget) {
  Fixture f;
  TileCache cache(f.doc.worker(), f.textures, 16);
  ColorScale scale;
  std::vector<TileKey> keys;
  for (int layer = 0; layer < 4; ++layer)
    for (int head = 0; head < 4; ++head)
      for (int64_t step : {0, 5}) keys.push_back({f.vs.run, step, layer, head, 0, 0, 0});
  for (const auto& k : keys) {
    ASSERT_NE(wait_for(cache, k, scale), nullptr);
    cache.end_frame();
  }
  EXPECT_LE(cache.size(), 16u);
  EXPECT_EQ(cache.stats().evicted, static_cast<int64_t>(keys.size()) - static_cast<int64_t>(cache.size()));
  EXPECT_EQ(f.textures.live(), cache.size());  // evicted tiles gave their textures back
  // The newest tiles stayed.
  EXPECT_NE(cache.peek(keys.back(), scale, Pool::Max), nullptr);
}

TEST(TileCache, ARequestNobodyAsksForAnyMoreIsSkippedThenAskedAgain) {
  Fixture f;
  TileCache& cache = f.doc.tiles();
  ColorScale scale;
  const TileKey key{f.vs.run, 3, 2, 1, 0, 0, 0};
  Gate gate(f.doc.worker());
  cache.begin_frame();
  EXPECT_EQ(cache.get(key, Priority::Visible, scale, Pool::Max), nullptr);
  for (int i = 0; i < 4; ++i) cache.begin_frame();  // panned away: nobody asks
  gate.release();
  for (int i = 0; i < 5000 && !f.doc.worker().idle(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(cache.stats().computed, 0);
  ASSERT_NE(wait_for(cache, key, scale), nullptr);
  EXPECT_EQ(cache.stats().skipped_stale, 1);
  EXPECT_EQ(cache.stats().requested, 2);
}

TEST(TileCache, AFailedTileSaysWhy) {
  Fixture f;
  TileCache& cache = f.doc.tiles();
  ColorScale scale;
  const TileKey outside{f.vs.run, 0, 0, 0, 0, 40, 40};
  for (int i = 0; i < 5000 && !cache.error(outside); ++i) {
    cache.begin_frame();
    EXPECT_EQ(cache.get(outside, Priority::Visible, scale, Pool::Max), nullptr);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_NE(cache.error(outside), nullptr);
  EXPECT_NE(cache.error(outside)->find("outside the map"), std::string::npos) << *cache.error(outside);
}

}  // namespace
}  // namespace mnemo::viz
