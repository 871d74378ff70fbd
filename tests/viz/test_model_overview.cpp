#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <map>

#include "imgui_harness.h"
#include "mnemo/profiler/session/recorder.h"
#include "mnemo/profiler/session/session_reader.h"
#include "mnemo/viz/map_levels.h"
#include "mnemo/viz/model_overview.h"

namespace mnemo::viz {
namespace {

using test::field;

using test::Fixture;
using test::ImGuiHarness;

bool all_loaded(const ModelOverview& o) {
  return o.layers() > 0 && o.thumbnails_loaded() == static_cast<size_t>(o.layers() * o.heads()) && o.metrics_loaded();
}

int64_t last_step(profiler::SessionReader& r, int64_t run) { return r.steps(run).back().step; }

// The head's thumbnail computed here from the reader's overview tile: max over pool × pool
// cells, over the 99.5th percentile of the positive ones, at most 1.
struct Expected {
  int w = 0, h = 0;
  std::vector<float> values;
  float peak = 0, full_scale = 0;
};
Expected expected_thumbnail(profiler::SessionReader& r, int64_t run, int64_t step, int32_t layer, int32_t head) {
  const auto shape = r.map_shape(run, step, layer, head);
  const auto tile = r.tile(run, step, layer, head, fit_level_of(shape.rows, shape.cols), 0, 0);
  const int64_t pool = (std::max(tile.rows, tile.cols) + 63) / 64;
  Expected e;
  e.w = static_cast<int>((tile.cols + pool - 1) / pool), e.h = static_cast<int>((tile.rows + pool - 1) / pool);
  e.values.assign(static_cast<size_t>(e.w * e.h), 0.f);
  for (int64_t y = 0; y < tile.rows; ++y)
    for (int64_t x = 0; x < tile.cols; ++x) {
      float& v = e.values[static_cast<size_t>(y / pool * e.w + x / pool)];
      v = std::max(v, tile.max[static_cast<size_t>(y * tile.cols + x)]);
      e.peak = std::max(e.peak, v);
    }
  std::vector<float> positive;
  for (float v : e.values)
    if (v > 0) positive.push_back(v);
  std::sort(positive.begin(), positive.end());
  e.full_scale = positive[static_cast<size_t>(0.995 * static_cast<double>(positive.size() - 1))];
  for (float& v : e.values) v = std::min(1.f, v / e.full_scale);
  return e;
}

// Whether an atlas pixel is the colormap's colour of t (or a neighbouring entry: rounding).
bool colour_of(uint32_t pixel, const profiler::Colormap& map, float t) {
  const int i = profiler::Colormap::index(t);
  for (int j = std::max(0, i - 1); j <= std::min(255, i + 1); ++j) {
    const profiler::Rgb8 c = map.entry8(j);
    if (pixel == pack_rgba(c.r, c.g, c.b)) return true;
  }
  return false;
}

float luminance(uint32_t p) {
  return 0.2126f * static_cast<float>(p & 0xff) + 0.7152f * static_cast<float>((p >> 8) & 0xff) +
         0.0722f * static_cast<float>((p >> 16) & 0xff);
}

TEST(ModelOverview, EveryHeadHasAThumbnailOfItsOverviewTileInOneAtlas) {
  ImGuiHarness h;
  Fixture f;
  f.vs.scale.set_kind(profiler::ScaleKind::Linear);
  ModelOverview o(f.vs, f.textures);
  ASSERT_TRUE(h.frames_until(f.host(o), [&] { return all_loaded(o) && f.settled(); }));
  profiler::SessionReader reader(f.doc.path());
  const int64_t run = f.vs.run, step = last_step(reader, run);
  EXPECT_EQ(o.layers(), 4);
  EXPECT_EQ(o.heads(), 4);

  // One texture for all 16 thumbnails, drawn; nothing went through the tile cache.
  ImDrawData* dd = h.frame(f.host(o));
  ASSERT_NE(o.atlas(), nullptr);
  for (ImTextureID t : ImGuiHarness::textures(dd)) EXPECT_EQ(t, o.atlas());
  EXPECT_GE(ImGuiHarness::commands_with(dd, o.atlas()), 1);
  EXPECT_EQ(f.textures.live(), 1u);
  EXPECT_EQ(f.doc.tiles().size(), 0u);
  const auto* atlas = f.textures.find(o.atlas());
  ASSERT_NE(atlas, nullptr);

  // Linear scale: every pixel is the colormap's colour of the head's pooled, normalised score.
  for (int32_t layer = 0; layer < 4; ++layer)
    for (int32_t head = 0; head < 4; ++head) {
      const Expected e = expected_thumbnail(reader, run, step, layer, head);
      const auto* t = o.thumbnail(layer, head);
      ASSERT_NE(t, nullptr);
      ASSERT_EQ(t->w, e.w);
      ASSERT_EQ(t->h, e.h);
      ASSERT_TRUE(o.thumbnail_center(layer, head)) << "drawn";
      EXPECT_FLOAT_EQ(t->peak, e.peak);
      EXPECT_FLOAT_EQ(t->full_scale, e.full_scale);
      const auto [ox, oy] = o.atlas_origin(layer, head);
      int wrong = 0;
      for (int y = 0; y < e.h; ++y)
        for (int x = 0; x < e.w; ++x)
          wrong += !colour_of(atlas->at(ox + x, oy + y), f.vs.scale.colormap(), e.values[static_cast<size_t>(y * e.w + x)]);
      EXPECT_EQ(wrong, 0) << "layer " << layer << " head " << head;
      // The first query of a causal map puts all of its attention on one key: every head peaks
      // at 1, so a diffuse head is only visible over a full scale below its peak.
      EXPECT_NEAR(e.peak, 1.f, 1e-3);
      if (head == 3) {
        EXPECT_LT(t->full_scale, 0.5f * t->peak) << "content-like head, layer " << layer;
      }
    }

  // Under the default log scale the sink head is brightest in its first column, and the
  // previous-token head along its diagonal.
  f.vs.scale.set_kind(profiler::ScaleKind::Log);
  h.frame(f.host(o));
  atlas = f.textures.find(o.atlas());
  for (int32_t layer = 0; layer < 4; ++layer) {
    const auto* t = o.thumbnail(layer, 0);
    const auto [ox, oy] = o.atlas_origin(layer, 0);
    std::vector<float> column(static_cast<size_t>(t->w), 0.f);
    for (int y = 0; y < t->h; ++y)
      for (int x = 0; x < t->w; ++x) column[static_cast<size_t>(x)] += luminance(atlas->at(ox + x, oy + y));
    EXPECT_EQ(std::max_element(column.begin(), column.end()) - column.begin(), 0) << "sink head, layer " << layer;

    const auto* p = o.thumbnail(layer, 1);
    const auto [px, py] = o.atlas_origin(layer, 1);
    double diagonal = 0, far = 0;
    int n_diagonal = 0, n_far = 0;
    for (int y = 0; y < p->h; ++y)
      for (int x = 0; x < p->w; ++x) {
        const float l = luminance(atlas->at(px + x, py + y));
        if (x == y) diagonal += l, ++n_diagonal;
        else if (x < y - 4) far += l, ++n_far;
      }
    if (layer < 2) {
      EXPECT_GT(diagonal / n_diagonal, 2 * far / n_far) << "previous-token head, layer " << layer;
    }
  }
}

TEST(ModelOverview, MetricsAreTheReadersAndHoverFillsTheInspector) {
  ImGuiHarness h;
  Fixture f;
  ModelOverview o(f.vs, f.textures);
  ASSERT_TRUE(h.frames_until(f.host(o), [&] { return all_loaded(o) && f.settled(); }));
  profiler::SessionReader reader(f.doc.path());
  const int64_t run = f.vs.run, step = last_step(reader, run);
  const auto records = reader.head_metrics(run, step);
  ASSERT_EQ(records.size(), 16u);
  for (const auto& r : records) {
    const auto m = o.metrics(r.layer, r.head);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->entropy, r.m.entropy);
    EXPECT_EQ(m->mean_distance, r.m.mean_distance);
    EXPECT_EQ(m->sink_mass, r.m.sink_mass);
    EXPECT_EQ(m->sparsity, r.m.sparsity);

    h.io().MousePos = *o.thumbnail_center(r.layer, r.head);
    h.frame(f.host(o));
    const Inspection& in = o.inspection();
    EXPECT_EQ(field(in, "layer / head"), std::to_string(r.layer) + " / " + std::to_string(r.head));
    EXPECT_EQ(field(in, "step"), std::to_string(step));
    for (auto [name, value] : {std::pair{"entropy", r.m.entropy}, std::pair{"mean distance", r.m.mean_distance},
                               std::pair{"sink mass", r.m.sink_mass}, std::pair{"sparsity", r.m.sparsity}}) {
      const std::string shown = field(in, name);
      ASSERT_FALSE(shown.empty()) << name;
      EXPECT_NEAR(std::stod(shown), value, 5e-3 * std::max(1.0, std::abs(value))) << name << " of " << r.layer << "/" << r.head;
    }
  }
  // The demo's sink heads carry the most sink mass.
  EXPECT_GT(o.metrics(1, 0)->sink_mass, 0.5);
  EXPECT_LT(o.metrics(1, 1)->sink_mass, 0.5);
}

TEST(ModelOverview, RankedByAMetricInsideARange) {
  ImGuiHarness h;
  Fixture f;
  ModelOverview o(f.vs, f.textures);
  ASSERT_TRUE(h.frames_until(f.host(o), [&] { return all_loaded(o) && f.settled(); }));
  profiler::SessionReader reader(f.doc.path());
  std::map<std::pair<int32_t, int32_t>, profiler::HeadMetrics> truth;
  for (const auto& r : reader.head_metrics(f.vs.run, last_step(reader, f.vs.run))) truth[{r.layer, r.head}] = r.m;

  // The grid: layer-major, layers down, heads across.
  h.frame(f.host(o));
  ASSERT_EQ(o.order().size(), 16u);
  EXPECT_EQ(o.order().front(), std::make_pair(0, 0));
  EXPECT_LT(o.thumbnail_center(0, 0)->x, o.thumbnail_center(0, 1)->x);
  EXPECT_LT(o.thumbnail_center(0, 0)->y, o.thumbnail_center(1, 0)->y);
  EXPECT_FLOAT_EQ(o.thumbnail_center(0, 0)->y, o.thumbnail_center(0, 3)->y);

  o.set_arrange(ModelOverview::Arrange::Ranked);
  for (int k = 0; k < kHeadMetrics; ++k) {
    const auto metric = static_cast<HeadMetric>(k);
    o.set_metric(metric);
    for (bool descending : {true, false}) {
      o.set_descending(descending);
      h.frame(f.host(o));
      const auto& order = o.order();
      ASSERT_EQ(order.size(), 16u) << head_metric_name(metric);
      for (size_t i = 1; i < order.size(); ++i) {
        const double a = head_metric_value(truth[order[i - 1]], metric), b = head_metric_value(truth[order[i]], metric);
        EXPECT_TRUE(descending ? a >= b : a <= b) << head_metric_name(metric) << " rank " << i;
      }
      // Drawn in rank order: the first is at the top left, the second beside it.
      const ImVec2 first = *o.thumbnail_center(order[0].first, order[0].second);
      const ImVec2 second = *o.thumbnail_center(order[1].first, order[1].second);
      EXPECT_LT(first.x, second.x);
      EXPECT_FLOAT_EQ(first.y, second.y);
      for (const auto& lh : order) EXPECT_LE(first.y, o.thumbnail_center(lh.first, lh.second)->y);
    }
  }
  // A range keeps exactly the heads whose metric is inside it.
  o.set_metric(HeadMetric::SinkMass);
  o.set_range(0.5f, 1.f);
  h.frame(f.host(o));
  size_t inside = 0;
  for (const auto& [lh, m] : truth) inside += m.sink_mass >= 0.5 && m.sink_mass <= 1.0;
  EXPECT_EQ(o.order().size(), inside);
  EXPECT_GE(inside, 2u) << "the sink heads of the causal layers";
  EXPECT_LT(inside, 16u);
  for (const auto& lh : o.order()) EXPECT_GE(truth[lh].sink_mass, 0.5);
}

TEST(ModelOverview, ClickingAThumbnailOpensTheHeadInTheExplorer) {
  ImGuiHarness h;
  Fixture f;
  ModelOverview o(f.vs, f.textures);
  ASSERT_TRUE(h.frames_until(f.host(o), [&] { return all_loaded(o) && f.settled(); }));
  h.io().MousePos = *o.thumbnail_center(2, 3);
  h.frame(f.host(o));
  h.io().MouseDown[0] = true;
  h.frame(f.host(o));
  EXPECT_TRUE(f.vs.requested_view.empty()) << "on release, as a button";
  h.io().MouseDown[0] = false;
  h.frame(f.host(o));
  EXPECT_EQ(f.vs.layer, 2);
  EXPECT_EQ(f.vs.head, 3);
  EXPECT_EQ(f.vs.requested_view, "attention");
}

TEST(ModelOverview, AnotherStepDiscardsThumbnailsStillLoading) {
  ImGuiHarness h;
  Fixture f;
  ModelOverview o(f.vs, f.textures);
  ASSERT_TRUE(h.frames_until(f.host(o), [&] { return all_loaded(o) && f.settled(); }));
  h.frame(f.host(o));
  EXPECT_TRUE(o.drawn_thumbnails_loaded());
  profiler::SessionReader reader(f.doc.path());
  // Hold the worker while the step changes twice: step 3's jobs must not land as step 9's.
  std::promise<void> open;
  std::shared_future<void> opened = open.get_future().share();
  f.doc.worker().submit(Priority::Now, [opened](profiler::SessionReader&) { opened.wait(); });
  f.vs.step = 3;
  h.frame(f.host(o));
  EXPECT_TRUE(o.wants_redraw());
  f.vs.step = 9;
  h.frame(f.host(o));
  EXPECT_FALSE(o.drawn_thumbnails_loaded()) << "step 9's thumbnails are still to come";
  open.set_value();
  ASSERT_TRUE(h.frames_until(f.host(o), [&] { return all_loaded(o) && f.settled() && !o.wants_redraw(); }));
  EXPECT_TRUE(o.drawn_thumbnails_loaded());
  EXPECT_EQ(o.thumbnails_loaded(), 16u);
  for (int32_t layer = 0; layer < 4; ++layer)
    for (int32_t head = 0; head < 4; ++head) {
      const auto shape = reader.map_shape(f.vs.run, 9, layer, head);
      EXPECT_EQ(o.thumbnail(layer, head)->map_rows, shape.rows);
      EXPECT_EQ(o.thumbnail(layer, head)->map_cols, shape.cols);
    }
  h.io().MousePos = *o.thumbnail_center(0, 0);
  h.frame(f.host(o));
  EXPECT_EQ(field(o.inspection(), "step"), "9");
}

// A session path in this suite's folder, and the run of a small demo model (2 layers × 2 heads).
std::string overview_session_path(const std::string& name) { return test::fresh_session_path("overview", name); }

profiler::RunInfo small_run(const std::string& label, const std::string& captures) {
  profiler::RunInfo info;
  info.label = label;
  info.architecture = "demo";
  info.n_layers = 2, info.n_heads = 2, info.n_kv_heads = 1, info.head_dim = 8;
  info.captures = captures;
  return info;
}

// A recurrent run (no softmax anywhere, Mamba-2's factors have no 'q'): every head's thumbnail is
// its implicit attention, as the reader's MixerMap gives it, and the toolbar says so.
TEST(ModelOverview, ShowsARecurrentRunsImplicitAttentionWithItsLabel) {
  for (const char* mixer : {"gla", "mamba2"}) {
    SCOPED_TRACE(mixer);
    const std::string path = overview_session_path(std::string(mixer) + ".mnemo");
    test::write_recurrent_session(path, mixer);
    ImGuiHarness h;
    Fixture f(path);
    ASSERT_TRUE(f.vs.has_run());
    ModelOverview o(f.vs, f.textures);
    ASSERT_TRUE(h.frames_until(f.host(o), [&] { return all_loaded(o) && f.settled(); }));
    ImDrawData* dd = h.frame(f.host(o));
    EXPECT_EQ(o.notice(), nullptr) << o.notice();
    ASSERT_NE(o.atlas(), nullptr);
    EXPECT_GE(ImGuiHarness::commands_with(dd, o.atlas()), 1);
    profiler::SessionReader reader(path);
    const int64_t step = last_step(reader, f.vs.run);
    for (int32_t head = 0; head < test::RecurrentSession::kHeads; ++head) {
      const Expected e = expected_thumbnail(reader, f.vs.run, step, 0, head);
      const auto* t = o.thumbnail(0, head);
      ASSERT_NE(t, nullptr) << "head " << head;
      EXPECT_EQ(t->map_rows, test::RecurrentSession::kRows);
      EXPECT_FLOAT_EQ(t->peak, e.peak);
      EXPECT_GT(t->peak, 0.f);
      EXPECT_EQ(t->label, "implicit attention, exact");
    }
    EXPECT_EQ(o.values_label(), "values: implicit attention, exact");
    h.io().MousePos = *o.thumbnail_center(0, 1);
    h.frame(f.host(o));
    EXPECT_EQ(field(o.inspection(), "values"), "implicit attention, exact");
    h.io().MousePos = ImVec2(-FLT_MAX, -FLT_MAX);
  }
}

// A hybrid (a recurrent layer and a softmax layer): each layer's thumbnails are its own kind of
// map, and the toolbar names each label with its layers.
TEST(ModelOverview, AHybridNamesEachLayersKindOfMap) {
  const std::string path = overview_session_path("hybrid.mnemo");
  test::write_recurrent_session(path, "gla", true);
  ImGuiHarness h;
  Fixture f(path);
  ModelOverview o(f.vs, f.textures);
  ASSERT_TRUE(h.frames_until(f.host(o), [&] { return all_loaded(o) && f.settled(); }));
  h.frame(f.host(o));
  EXPECT_EQ(o.notice(), nullptr) << o.notice();
  ASSERT_NE(o.thumbnail(0, 0), nullptr);
  ASSERT_NE(o.thumbnail(1, 0), nullptr);
  EXPECT_EQ(o.thumbnail(0, 0)->label, "implicit attention, exact");
  EXPECT_EQ(o.thumbnail(1, 0)->label, "softmax probabilities");
  EXPECT_EQ(o.values_label(), "values: implicit attention, exact (L0); softmax probabilities (L1)");
}

TEST(ModelOverview, SaysSoWhenTheRunHasNoAttention) {
  const std::string path = overview_session_path("no-attention.mnemo");
  {
    profiler::Recorder rec(path, small_run("tokens only", "tokens"));
    for (int64_t p = 0; p < 8; ++p) rec.submit(profiler::TokenRecord{p, 1, " word", 0});
    rec.submit(profiler::StepRecord{0, "prefill", 0, 8, 0, 1});
    rec.end_step(0);
    rec.finish();
  }
  ImGuiHarness h;
  Fixture f(path);
  ModelOverview o(f.vs, f.textures);
  const std::string expected = "No attention recorded for this run";
  EXPECT_TRUE(h.frames_until(f.host(o), [&] { return o.notice() && o.notice() == expected && f.settled(); }));
  ImDrawData* dd = h.frame(f.host(o));
  ASSERT_NE(o.notice(), nullptr);
  EXPECT_EQ(o.notice(), expected);
  EXPECT_TRUE(ImGuiHarness::textures(dd).empty());

  ViewState none;
  ModelOverview empty(none, f.textures);
  h.frame([&] { empty.draw(); });
  EXPECT_STREQ(empty.notice(), "No session open");
}

// A run that has no committed step yet (being recorded, or its recorder killed before the first
// step) has no attention *yet*: the overview says that, not that attention was not captured.
TEST(ModelOverview, ARunWithoutACommittedStepSaysSoRatherThanBlamingTheCaptures) {
  const std::string path = overview_session_path("no-step-yet.mnemo");
  profiler::Recorder rec(path, small_run("recording", "attention,metrics"));  // the run row is committed; no step is yet
  ImGuiHarness h;
  Fixture f(path);
  ASSERT_TRUE(f.vs.has_run());
  ModelOverview o(f.vs, f.textures);
  const std::string expected = "No committed step yet";
  EXPECT_TRUE(h.frames_until(f.host(o), [&] { return o.notice() && o.notice() == expected && f.settled(); }))
      << (o.notice() ? o.notice() : "(no notice)");
  EXPECT_TRUE(ImGuiHarness::textures(h.frame(f.host(o))).empty());
  rec.finish();
}

// A session whose run claims 100000 or 2^31 − 1 layers or heads (damaged or hostile) once made the
// overview size its grid from them and abort. The reader refuses the run naming the file, the run
// and the field; the overview shows that message and sizes nothing.
TEST(ModelOverview, ARunClaimingAbsurdCountsShowsTheReadersErrorInsteadOfAborting) {
  // Columns set to a value; both at once last (the grid would be 2^62 heads).
  const std::vector<std::vector<std::pair<std::string, int64_t>>> cases = {
      {{"n_layers", 100000}}, {{"n_layers", 2147483647}}, {{"n_heads", 2147483647}},
      {{"n_layers", 2147483647}, {"n_heads", 2147483647}}};
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string path = overview_session_path("absurd" + std::to_string(i) + ".mnemo");
    write_demo_session(path);
    std::string set;
    for (const auto& [column, value] : cases[i]) set += (set.empty() ? "" : ", ") + column + " = " + std::to_string(value);
    {
      profiler::Db db(path, profiler::Db::Mode::ReadWriteCreate);
      db.exec("UPDATE _run SET " + set);
    }
    ImGuiHarness h;
    Fixture f(path);
    ModelOverview o(f.vs, f.textures);
    const std::string expected = "Cannot show this session";
    ASSERT_TRUE(h.frames_until(f.host(o), [&] { return o.notice() && o.notice() == expected; }, 5000))
        << set << ": " << (o.notice() ? o.notice() : "(drawing heads)");
    const std::string why = f.doc.error().value_or("");
    const std::string first = cases[i].front().first + " = " + std::to_string(cases[i].front().second);
    EXPECT_NE(why.find(path), std::string::npos) << why;
    EXPECT_NE(why.find("run 1 claims " + first), std::string::npos) << why;
    EXPECT_EQ(o.layers() * o.heads(), 0);
  }
}

}  // namespace
}  // namespace mnemo::viz
