#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <filesystem>
#include <future>

#include "imgui_harness.h"
#include "mnemo/profiler/session/recorder.h"
#include "mnemo/profiler/session/session_reader.h"
#include "mnemo/profiler/session/sqlite_db.h"
#include "mnemo/viz/attention_explorer.h"

namespace mnemo::viz {
namespace {

using test::field;

using test::Fixture;
using test::ImGuiHarness;

// Hovers a cell and waits for its exact score; returns it.
double hovered_score(ImGuiHarness& h, Fixture& f, AttentionExplorer& x, int64_t row, int64_t col) {
  h.io().MousePos = x.cell_center(row, col);
  std::string score;
  h.frames_until(f.host(x), [&] {
    score = field(x.inspection(), "score");
    return !score.empty() && score != "…";
  });
  return std::stod(score);
}

TEST(AttentionExplorer, DrawsTheHeadAndHoverGivesTheExactScore) {
  ImGuiHarness h;
  Fixture f;
  AttentionExplorer x(f.vs);
  f.vs.layer = 1;
  ASSERT_TRUE(h.frames_until(f.host(x), [&] { return x.map_rows() > 0 && f.settled(); }));
  profiler::SessionReader reader(f.doc.path());
  const int64_t last = reader.steps(f.vs.run).back().step;
  const auto shape = reader.map_shape(f.vs.run, last, 1, 0);
  EXPECT_EQ(x.map_rows(), shape.rows);
  EXPECT_EQ(x.map_cols(), shape.cols);
  // The map is drawn from a texture holding the head's overview.
  ImDrawData* dd = h.frame(f.host(x));
  const auto textures = ImGuiHarness::textures(dd);
  ASSERT_FALSE(textures.empty());
  const auto* img = f.textures.find(textures.front());
  ASSERT_NE(img, nullptr);
  EXPECT_EQ(img->w, shape.cols);  // the demo map fits one level-0 tile

  // Hover: the score of (query, key) equals the reader's recomputed row, and the demo's
  // patterns hold (head 0 sinks into key 0; head 1 reads the previous token).
  for (auto [head, row, col] : {std::tuple{0, 150, 0}, std::tuple{1, 150, 149}, std::tuple{1, 40, 39}, std::tuple{3, 100, 17}}) {
    f.vs.head = head;
    ASSERT_TRUE(h.frames_until(f.host(x), [&] { return f.settled(); }));
    const double score = hovered_score(h, f, x, row, col);
    const auto p = reader.row(f.vs.run, 1, head, row);
    EXPECT_NEAR(score, p[static_cast<size_t>(col)], 1e-6 * std::max(1.0, std::abs(score))) << "head " << head;
    if (head < 2) {
      EXPECT_GT(score, 0.5) << "demo pattern of head " << head;
    }
    EXPECT_EQ(field(x.inspection(), "query").rfind(std::to_string(row) + " '", 0), 0u) << field(x.inspection(), "query");
    EXPECT_EQ(f.vs.cursor_query, row);
    EXPECT_EQ(f.vs.cursor_key, col);
  }
}

// A demo session of one layer (two heads sharing one KV head), a prompt of `prompt_tokens` and two
// decode steps, in a fresh folder named `name`.
std::string one_layer_session(const std::string& name, int64_t prompt_tokens) {
  DemoOptions o;
  o.prompt_tokens = prompt_tokens, o.decode_steps = 2, o.layers = 1, o.heads = 2, o.kv_heads = 1;
  const std::string path = test::fresh_session_path(name, name + ".mnemo");
  write_demo_session(path, o);
  return path;
}

TEST(AttentionExplorer, ZoomPicksFinerLevelsAndStandsInTheCoarseOneMeanwhile) {
  // A map of 700 rows fits one tile at level 2: the overview, with levels 1 and 0 on zoom.
  const std::string path = one_layer_session("zoom", 700);
  ImGuiHarness h(ImVec2(900, 700));
  Fixture f(path);
  AttentionExplorer x(f.vs);
  f.vs.head = 1;
  ASSERT_TRUE(h.frames_until(f.host(x), [&] { return x.map_rows() > 0 && f.settled(); }));
  EXPECT_EQ(x.fit_level(), 2);
  // Fitted, a map cell is under a pixel: level-1 cells (2 × 2 scores) are the first at least a pixel wide.
  EXPECT_LT(x.view().zoom, 1.0);
  EXPECT_EQ(x.level(), 1);
  const AttentionExplorer::View fitted = x.view();
  // Zoomed out past the fit, the overview (the level-2 tile of the whole map) is all there is.
  AttentionExplorer::View v = fitted;
  v.zoom = fitted.zoom / 4;
  x.set_view(v);
  const auto far = ImGuiHarness::textures(h.frame(f.host(x)));
  EXPECT_EQ(x.level(), 2);
  ASSERT_EQ(far.size(), 1u);
  const ImTextureID overview_texture = far.front();
  // Fitted, the level-1 tiles (all loaded by now) cover the map: the overview under them is not drawn.
  x.set_view(fitted);
  ASSERT_TRUE(h.frames_until(f.host(x), [&] { return f.settled() && !x.wants_redraw(); }));
  const auto level1 = ImGuiHarness::textures(h.frame(f.host(x)));
  EXPECT_EQ(std::count(level1.begin(), level1.end(), overview_texture), 0);
  auto count_drawn = [](ImDrawData* dd, const std::vector<ImTextureID>& among) {
    int n = 0;
    for (ImTextureID t : among) n += ImGuiHarness::commands_with(dd, t);
    return n;
  };

  // Hold the worker, zoom in to cells of 8 px away from the centre (whose level-0 tile was
  // prefetched): level 0 is asked for, and the level-1 tiles stand in meanwhile (alone: not the
  // overview under them).
  auto hold_worker = [&f] {
    auto open = std::make_shared<std::promise<void>>();
    std::shared_future<void> opened = open->get_future().share();
    f.doc.worker().submit(Priority::Now, [opened](profiler::SessionReader&) { opened.wait(); });
    return open;
  };
  auto open = hold_worker();
  v = x.view();
  v.zoom = 8, v.cx = 100, v.cy = 600;
  x.set_view(v);
  ImDrawData* dd = h.frame(f.host(x));
  EXPECT_EQ(x.level(), 0);
  EXPECT_GE(count_drawn(dd, level1), 1);
  EXPECT_EQ(ImGuiHarness::commands_with(dd, overview_texture), 0);
  EXPECT_TRUE(x.wants_redraw()) << "still loading";
  open->set_value();
  ASSERT_TRUE(h.frames_until(f.host(x), [&] { return f.settled() && !x.wants_redraw(); }));
  dd = h.frame(f.host(x));
  bool fine = false;
  for (ImTextureID t : ImGuiHarness::textures(dd))
    if (const auto* img = f.textures.find(t); img && t != overview_texture && img->w == 256 &&
                                               std::count(level1.begin(), level1.end(), t) == 0)
      fine = true;
  EXPECT_TRUE(fine) << "a level-0 tile is drawn once it arrived";
  EXPECT_EQ(count_drawn(dd, level1), 0) << "and nothing under it";
  const AttentionExplorer::View close = x.view();

  // The hovered score at level 0 is exact here too, and the wheel zooms back out.
  profiler::SessionReader reader(path);
  const double s = hovered_score(h, f, x, 600, 99);
  EXPECT_NEAR(s, reader.row(f.vs.run, 0, 1, 600)[99], 1e-6);
  h.io().MousePos = x.cell_center(600, 100);
  for (int i = 0; i < 30; ++i) {
    h.io().MouseWheel = -2.f;
    h.frame(f.host(x));
  }
  h.frames_until(f.host(x), [&] { return !x.wants_redraw(); });
  EXPECT_EQ(x.level(), 2);  // zoomed out past the fit: the overview alone

  // Another head whose overview alone has loaded: the overview stands in for its level-0 tiles.
  f.vs.head = 0;
  ASSERT_TRUE(h.frames_until(f.host(x), [&] { return f.settled() && !x.wants_redraw(); }));
  v = fitted;
  v.zoom = fitted.zoom / 4;
  x.set_view(v);
  ASSERT_TRUE(h.frames_until(f.host(x), [&] { return f.settled() && !x.wants_redraw(); }));
  ASSERT_EQ(x.level(), 2);
  f.doc.tiles().clear();  // no tile of head 0 but its overview, loaded again here
  ASSERT_TRUE(h.frames_until(f.host(x), [&] { return f.settled() && !x.wants_redraw(); }));
  const auto head0_far = ImGuiHarness::textures(h.frame(f.host(x)));
  ASSERT_EQ(head0_far.size(), 1u);
  const ImTextureID head0_overview = head0_far.front();
  open = hold_worker();
  x.set_view(close);  // level 0 again
  dd = h.frame(f.host(x));
  EXPECT_EQ(x.level(), 0);
  EXPECT_GE(ImGuiHarness::commands_with(dd, head0_overview), 1);
  open->set_value();
  ASSERT_TRUE(h.frames_until(f.host(x), [&] { return f.settled() && !x.wants_redraw(); }));
}

// A canvas laid out narrow on its first frames (a compare side among many) or resized later keeps
// the whole map in view until the user zooms or pans; after that the user's view stays.
TEST(AttentionExplorer, StaysFittedWhenResizedUntilTheUserMoves) {
  const std::string path = one_layer_session("refit", 120);
  ImGuiHarness h(ImVec2(200, 700));
  Fixture f(path);
  AttentionExplorer x(f.vs);
  ASSERT_TRUE(h.frames_until(f.host(x), [&] { return x.map_rows() > 0 && f.settled(); }));
  h.frame(f.host(x));
  const double narrow = x.view().zoom;
  h.set_size(ImVec2(800, 700));
  h.frame(f.host(x));
  const double wide = x.view().zoom;
  EXPECT_GT(wide, 2.5 * narrow) << "refitted to the wider canvas";
  EXPECT_NEAR(x.view().cx, x.map_cols() * 0.5, 1e-9);
  // Moved by the user (a linked side's pan counts as the user's), the view survives a resize.
  AttentionExplorer::View v = x.view();
  v.zoom *= 3, v.cx = 10;
  x.set_view(v);
  h.set_size(ImVec2(400, 700));
  h.frame(f.host(x));
  EXPECT_DOUBLE_EQ(x.view().zoom, v.zoom);
  EXPECT_DOUBLE_EQ(x.view().cx, 10);
  // Fit again: fitted to this size, and following it again.
  x.fit();
  h.frame(f.host(x));
  const double refit = x.view().zoom;
  EXPECT_LT(refit, v.zoom);
  h.set_size(ImVec2(800, 700));
  h.frame(f.host(x));
  EXPECT_DOUBLE_EQ(x.view().zoom, wide);
}

// A byte changed inside one head's recorded queries: the explorer says which value is damaged
// instead of drawing whatever the bytes now mean.
TEST(AttentionExplorer, ADamagedFactorIsAnErrorOverTheMap) {
  const std::string path = std::filesystem::path(test::demo_session_path()).parent_path() / "damaged.mnemo";
  std::filesystem::copy_file(test::demo_session_path(), path, std::filesystem::copy_options::overwrite_existing);
  {
    profiler::Db db(path, profiler::Db::Mode::ReadWriteCreate);
    // Head 0's slice is the first quarter of the 4 heads' queries.
    db.exec("UPDATE _mixer_factor SET data = CAST(substr(data, 1, 40) || CASE WHEN substr(data, 41, 1) = x'5A' THEN x'A5' "
            "ELSE x'5A' END || substr(data, 42) AS BLOB) WHERE layer = 1 AND step = 0 AND factor = 'q'");
  }
  ImGuiHarness h;
  Fixture f(path);
  AttentionExplorer x(f.vs);
  f.vs.layer = 1;
  f.vs.head = 0;
  h.frames_until(f.host(x), [&] { return x.map_rows() > 0 && f.settled() && !x.tile_error().empty(); });
  h.frame(f.host(x));
  EXPECT_NE(x.tile_error().find("layer 1 head 0 step 0 factor q (column data): checksum mismatch"), std::string::npos)
      << "'" << x.tile_error() << "'";
  EXPECT_EQ(field(x.inspection(), "error"), x.tile_error());
}

// The synthetic sessions step as test::RecurrentSession does: a 12-token prefill, then decode steps.
constexpr int64_t kPrefill = test::RecurrentSession::kPrefill, kSteps = test::RecurrentSession::kSteps;

// Mamba-1 with 2 heads of 3 channels (D = 6, d_state N = 4, one group): Δ per token and channel,
// B and C per token (one slice, shared), A [D][N] per layer with every step, as the engine publishes them.
constexpr int32_t kMambaHeads = 2;
constexpr int64_t kMambaChannels = 3, kMambaState = 4;
std::string write_mamba1_session() {
  const std::string path = std::filesystem::path(test::demo_session_path()).parent_path() / "mamba1.mnemo";
  for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(path + s);
  constexpr int64_t D = kMambaHeads * kMambaChannels, N = kMambaState;
  profiler::RunInfo info =
      test::synthetic_run("mamba", "mamba", "safetensors", {1, kMambaHeads, kMambaHeads, N, 8}, "attention,memory");
  info.layers.push_back({0, "mamba1", "recurrent_state", kMambaHeads, kMambaHeads, N, kMambaChannels, kMambaChannels, N,
                         "none", 0, 1.0});
  profiler::Recorder rec(path, info);
  uint32_t seed = 11;
  auto uniform = [&] { return static_cast<float>((seed = seed * 1664525u + 1013904223u) >> 8) / 16777216.f; };
  std::vector<float> A(static_cast<size_t>(D * N));
  for (float& a : A) a = -0.1f - 1.5f * uniform();
  for (int64_t step = 0; step < kSteps; ++step) {
    const int64_t pos0 = step ? kPrefill + step - 1 : 0, n = step ? 1 : kPrefill;
    std::vector<float> dt(static_cast<size_t>(n * D));
    for (float& x : dt) x = 0.05f + 0.6f * uniform();
    rec.submit(profiler::MixerFactorRecord{0, step, "dt", 1, n, static_cast<int32_t>(D), pos0, {}, pos0 + n, std::move(dt)});
    for (const char* name : {"B", "C"}) {
      std::vector<float> v(static_cast<size_t>(n * N));
      for (float& x : v) x = uniform() - 0.5f;
      rec.submit(profiler::MixerFactorRecord{0, step, name, 1, n, static_cast<int32_t>(N), pos0, {}, pos0 + n, std::move(v)});
    }
    rec.submit(profiler::MixerFactorRecord{0, step, "A", 1, D, static_cast<int32_t>(N), 0, {}, 0, A});
    test::end_synthetic_step(rec, step, pos0, n);
  }
  rec.finish();
  return path;
}

// Points the explorer at layer 0, head 1 of the fixture's run; true once its map and label are in.
bool shows_layer0_head1(ImGuiHarness& h, Fixture& f, AttentionExplorer& x) {
  f.vs.layer = 0;
  f.vs.head = 1;
  return h.frames_until(f.host(x), [&] { return x.map_rows() > 0 && f.settled() && !x.map_label().empty(); });
}

// The explorer draws a GLA layer's implicit attention through the same tile path, says what the
// values are, and hover gives the reader's exact value; the layer has no channels, so no selector.
TEST(AttentionExplorer, ShowsARecurrentLayersImplicitAttentionWithItsLabel) {
  const std::string path = std::filesystem::path(test::demo_session_path()).parent_path() / "gla.mnemo";
  test::write_recurrent_session(path, "gla");
  ImGuiHarness h;
  Fixture f(path);
  ASSERT_TRUE(f.vs.has_run());
  AttentionExplorer x(f.vs);
  ASSERT_TRUE(shows_layer0_head1(h, f, x));
  EXPECT_EQ(x.map_label(), "implicit attention, exact");
  EXPECT_EQ(x.map_rows(), kPrefill + kSteps - 1);
  EXPECT_TRUE(x.tile_error().empty()) << x.tile_error();
  profiler::SessionReader reader(path);
  const double score = hovered_score(h, f, x, 13, 5);
  const auto p = reader.row(f.vs.run, 0, 1, 13);
  EXPECT_NEAR(score, p[5], 1e-6 * std::max(1.0, std::abs(score)));
  EXPECT_NE(p[5], 0.f);
  EXPECT_EQ(field(x.inspection(), "values"), "implicit attention, exact");

  // Its weights have both signs: the scale diverges about 0, so a negative cell is blue, not the
  // colour of an empty one.
  EXPECT_TRUE(f.vs.scale.is_signed());
  const auto last = reader.row(f.vs.run, 0, 1, kPrefill + kSteps - 2);
  const auto negative = std::min_element(last.begin(), last.end()) - last.begin();
  ASSERT_LT(last[static_cast<size_t>(negative)], 0.f);
  const auto textures = ImGuiHarness::textures(h.frame(f.host(x)));
  ASSERT_FALSE(textures.empty());
  const auto* img = f.textures.find(textures.front());
  ASSERT_NE(img, nullptr);
  const uint32_t px = img->at(static_cast<int>(negative), static_cast<int>(kPrefill + kSteps - 2));
  EXPECT_EQ(px, f.vs.scale.color(last[static_cast<size_t>(negative)]));
  EXPECT_GT(static_cast<int>((px >> 16) & 0xff), static_cast<int>(px & 0xff)) << "blue over red";

  // No channel maps: no selector, and a channel asked for anyway is not shown.
  EXPECT_EQ(x.channels_per_head(), 0);
  EXPECT_FALSE(x.channel_selector_shown());
  x.set_channel(1);
  ASSERT_TRUE(h.frames_until(f.host(x), [&] { return f.settled() && !x.map_label().empty(); }));
  h.frame(f.host(x));
  EXPECT_FALSE(x.channel_selector_shown());
  EXPECT_EQ(x.map_label(), "implicit attention, exact");
  EXPECT_TRUE(x.tile_error().empty()) << x.tile_error();
}

// A Mamba-1 layer offers one map per channel: the explorer shows a channel selector, draws the head's
// map (mean over channels) until a channel is chosen, then that channel's own map, and says which in
// its label; hover gives the chosen map's exact value.
TEST(AttentionExplorer, OffersAMamba1LayersChannelMapsWithTheirLabels) {
  const std::string path = write_mamba1_session();
  ImGuiHarness h;
  Fixture f(path);
  ASSERT_TRUE(f.vs.has_run());
  AttentionExplorer x(f.vs);
  ASSERT_TRUE(shows_layer0_head1(h, f, x));
  EXPECT_TRUE(x.tile_error().empty()) << x.tile_error();
  EXPECT_EQ(x.channels_per_head(), kMambaChannels);
  EXPECT_TRUE(x.channel_selector_shown());
  EXPECT_EQ(x.channel(), -1);
  EXPECT_EQ(x.map_label(), "implicit attention, exact, mean over channels");
  profiler::SessionReader reader(path);
  const auto mean_row = reader.row(f.vs.run, 0, 1, 13);
  double score = hovered_score(h, f, x, 13, 5);
  EXPECT_NEAR(score, mean_row[5], 1e-6 * std::max(1.0, std::abs(score)));
  EXPECT_EQ(field(x.inspection(), "values"), "implicit attention, exact, mean over channels");

  x.set_channel(2);
  const std::string channel_label = "implicit attention, exact, channel 2 of head 1";
  ASSERT_TRUE(h.frames_until(f.host(x), [&] { return f.settled() && x.map_label() == channel_label; }));
  EXPECT_TRUE(x.channel_selector_shown());
  EXPECT_TRUE(x.tile_error().empty()) << x.tile_error();
  const auto channel_row = reader.row(f.vs.run, 0, 1, 13, 2);
  EXPECT_NE(channel_row[5], mean_row[5]) << "a channel's map is not the head's";
  h.io().MousePos = ImVec2(-FLT_MAX, -FLT_MAX);  // hover anew: the row asked for is the channel's
  h.frame(f.host(x));
  score = hovered_score(h, f, x, 13, 5);
  EXPECT_NEAR(score, channel_row[5], 1e-6 * std::max(1.0, std::abs(score)));
  EXPECT_EQ(field(x.inspection(), "values"), channel_label);

  // Back to the head's map.
  x.set_channel(-1);
  ASSERT_TRUE(h.frames_until(f.host(x), [&] {
    return f.settled() && x.map_label() == "implicit attention, exact, mean over channels";
  }));
}

TEST(AttentionExplorer, SaysSoWhenTheHeadHasNoAttention) {
  ImGuiHarness h;
  Fixture f;
  AttentionExplorer x(f.vs);
  f.vs.layer = 9;  // the demo has 4 layers
  h.frames_until(f.host(x), [&] { return f.settled(); });
  h.frame(f.host(x));
  EXPECT_EQ(x.map_rows(), 0);
  ViewState none;
  AttentionExplorer empty(none);
  h.frame([&] { empty.draw(); });  // no session: a notice, no crash
  EXPECT_EQ(empty.map_rows(), 0);
}

}  // namespace
}  // namespace mnemo::viz
