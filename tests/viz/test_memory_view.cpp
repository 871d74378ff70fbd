#include <gtest/gtest.h>

#include <cmath>

#include "imgui_harness.h"
#include "mnemo/profiler/session/attention_math.h"
#include "mnemo/profiler/session/recorder.h"
#include "mnemo/profiler/session/session_reader.h"
#include "mnemo/viz/memory_view.h"

namespace mnemo::viz {
namespace {

using test::field;

using test::Fixture;
using test::ImGuiHarness;

// A demo whose decode crosses several 64-token segment boundaries: snapshots of segments 1 to 4.
const std::string& multi_segment_session() {
  static const std::string path = [] {
    DemoOptions o;
    o.prompt_tokens = 64, o.decode_steps = 200, o.layers = 2, o.heads = 2, o.kv_heads = 1;
    const std::string p = test::fresh_session_path("memory", "segments.mnemo");
    write_demo_session(p, o);
    return p;
  }();
  return path;
}

// The reader's newest snapshot of each segment of a layer, decoded to floats.
struct Decoded {
  int64_t segment, step, rows, cols;
  std::vector<float> values, norms;
};
std::vector<Decoded> decoded(const std::string& path, int64_t run, int32_t layer) {
  profiler::SessionReader reader(path);
  std::map<int64_t, Decoded> by;
  for (const auto& s : reader.memory_snapshots(run, layer)) {
    Decoded d{s.segment, s.step, s.rows, s.cols, std::vector<float>(s.data.size()), s.norms};
    profiler::fp16_to_f32(s.data, d.values.data());
    by[s.segment] = std::move(d);
  }
  std::vector<Decoded> out;
  for (auto& [k, d] : by) out.push_back(std::move(d));
  return out;
}

double flat_cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) ab += double{a[i]} * b[i], aa += double{a[i]} * a[i], bb += double{b[i]} * b[i];
  return ab / std::sqrt(aa * bb);
}

bool loaded(const MemoryView& v, int32_t layer) {
  return v.memory() && v.memory()->layer == layer && v.heatmap_texture();
}

TEST(MemoryView, HeatmapPixelsFollowTheSnapshotValues) {
  ImGuiHarness h(ImVec2(1400, 900));
  Fixture f;
  MemoryView view(f.vs, f.textures);
  f.vs.layer = 1;
  ASSERT_TRUE(h.frames_until(f.host(view), [&] { return loaded(view, 1) && f.settled(); }));
  ImDrawData* dd = h.frame(f.host(view));
  EXPECT_GE(ImGuiHarness::commands_with(dd, view.heatmap_texture()), 1) << "the heatmap is drawn";

  const auto segs = decoded(f.doc.path(), f.vs.run, 1);
  ASSERT_FALSE(segs.empty());
  const Decoded& shown = segs.back();  // the view follows the newest segment
  float abs_max = 0;
  for (const auto& s : segs)
    for (float v : s.values) abs_max = std::max(abs_max, std::abs(v));
  const auto* img = f.textures.find(view.heatmap_texture());
  ASSERT_NE(img, nullptr);
  ASSERT_EQ(img->w, shown.cols);
  ASSERT_EQ(img->h, shown.rows);
  int positive = 0, negative = 0;
  for (int64_t r = 0; r < shown.rows; ++r)
    for (int64_t c = 0; c < shown.cols; ++c) {
      const float v = shown.values[static_cast<size_t>(r * shown.cols + c)];
      const uint32_t px = img->at(static_cast<int>(c), static_cast<int>(r));
      ASSERT_EQ(px, MemoryView::diverging_color(v, abs_max)) << "slot " << r << " dim " << c;
      const int red = static_cast<int>(px & 0xFF), blue = static_cast<int>((px >> 16) & 0xFF);
      if (v > 0.1f * abs_max) {
        EXPECT_GT(red, blue) << v;
        ++positive;
      }
      if (v < -0.1f * abs_max) {
        EXPECT_GT(blue, red) << v;
        ++negative;
      }
    }
  EXPECT_GT(positive, 0);
  EXPECT_GT(negative, 0);
  // Zero sits at the neutral centre of the scale.
  const uint32_t zero = MemoryView::diverging_color(0.f, 1.f);
  EXPECT_EQ(zero & 0xFF, (zero >> 16) & 0xFF);

  // Hover a cell and a norm bar: the values the reader has.
  for (auto [slot, dim] : {std::pair{3, 17}, std::pair{0, 0}, std::pair{7, 63}}) {
    h.io().MousePos = *view.heatmap_point(slot, dim);
    h.frame(f.host(view));
    const Inspection& in = view.inspection();
    EXPECT_EQ(field(in, "segment"), std::to_string(shown.segment));
    EXPECT_EQ(field(in, "slot"), std::to_string(slot));
    EXPECT_EQ(field(in, "dimension"), std::to_string(dim));
    EXPECT_NEAR(std::stod(field(in, "value")), shown.values[static_cast<size_t>(slot * shown.cols + dim)], 1e-4);
    EXPECT_NEAR(std::stod(field(in, "norm")), shown.norms[static_cast<size_t>(slot)], 1e-3);
  }
  h.io().MousePos = *view.norm_bar_point(5);
  h.frame(f.host(view));
  EXPECT_EQ(field(view.inspection(), "slot"), "5");
  EXPECT_NEAR(std::stod(field(view.inspection(), "norm")), shown.norms[5], 1e-3);
}

TEST(MemoryView, SegmentSimilarityIsTheCosineOfTheFlattenedMemory) {
  ImGuiHarness h(ImVec2(1400, 900));
  Fixture f(multi_segment_session());
  MemoryView view(f.vs, f.textures);
  ASSERT_TRUE(
      h.frames_until(f.host(view), [&] { return loaded(view, 0) && view.similarity_texture() && f.settled(); }));
  h.frame(f.host(view));
  const auto segs = decoded(f.doc.path(), f.vs.run, 0);
  ASSERT_GE(segs.size(), 3u);
  EXPECT_EQ(view.similarity_mode(), MemoryView::Similarity::Segments) << "several segments: compare them";
  const auto* img = f.textures.find(view.similarity_texture());
  ASSERT_NE(img, nullptr);
  ASSERT_EQ(static_cast<size_t>(img->w), segs.size());
  for (size_t a = 0; a < segs.size(); ++a) {
    EXPECT_EQ(img->at(static_cast<int>(a), static_cast<int>(a)), MemoryView::diverging_color(1.f, 1.f))
        << "diagonal " << a;
    for (size_t b = 0; b < segs.size(); ++b) {
      const double want = flat_cosine(segs[a].values, segs[b].values);
      EXPECT_EQ(img->at(static_cast<int>(b), static_cast<int>(a)),
                MemoryView::diverging_color(static_cast<float>(want), 1.f));
      h.io().MousePos = *view.similarity_point(static_cast<int64_t>(a), static_cast<int64_t>(b));
      h.frame(f.host(view));
      EXPECT_EQ(field(view.inspection(), "segment a"), std::to_string(segs[a].segment));
      EXPECT_EQ(field(view.inspection(), "segment b"), std::to_string(segs[b].segment));
      EXPECT_NEAR(std::stod(field(view.inspection(), "cosine")), want, 1e-4);
      if (a == b) {
        EXPECT_EQ(field(view.inspection(), "cosine"), "1.0000");
      }
    }
  }
  // A click on a row shows that segment's memory.
  h.io().MousePos = *view.similarity_point(1, 2);
  h.io().MouseDown[0] = true;
  h.frame(f.host(view));
  h.io().MouseDown[0] = false;
  h.frames_until(
      f.host(view), [&] { return view.shown_segment() && view.shown_segment()->segment == segs[1].segment; }, 2000);
  ASSERT_NE(view.shown_segment(), nullptr);
  EXPECT_EQ(view.shown_segment()->segment, segs[1].segment);
  h.frame(f.host(view));
  const auto* heat = f.textures.find(view.heatmap_texture());
  ASSERT_NE(heat, nullptr);
  float abs_max = 0;
  for (const auto& s : segs)
    for (float v : s.values) abs_max = std::max(abs_max, std::abs(v));
  EXPECT_EQ(heat->at(5, 2),
            MemoryView::diverging_color(segs[1].values[static_cast<size_t>(2 * segs[1].cols + 5)], abs_max));

  // Slot × slot within the shown segment: 1 on the diagonal, symmetric.
  view.set_similarity_mode(MemoryView::Similarity::Slots);
  h.frame(f.host(view));
  h.frame(f.host(view));
  const auto* slots = f.textures.find(view.similarity_texture());
  ASSERT_NE(slots, nullptr);
  ASSERT_EQ(slots->w, segs[1].rows);
  for (int a = 0; a < slots->w; ++a) {
    EXPECT_EQ(slots->at(a, a), MemoryView::diverging_color(1.f, 1.f));
    for (int b = 0; b < slots->w; ++b) EXPECT_EQ(slots->at(a, b), slots->at(b, a));
  }
}

TEST(MemoryView, OneSegmentComparesSlots) {
  ImGuiHarness h;
  Fixture f;  // the default demo writes one snapshot per layer
  MemoryView view(f.vs, f.textures);
  ASSERT_TRUE(h.frames_until(f.host(view), [&] { return loaded(view, 0) && f.settled(); }));
  h.frame(f.host(view));
  EXPECT_EQ(view.memory()->segments.size(), 1u);
  EXPECT_EQ(view.similarity_mode(), MemoryView::Similarity::Slots);
}

// A recurrent run keeps per-head state statistics, not snapshots: the view draws their lines.
TEST(MemoryView, ShowsARecurrentLayersStateNormAndRankOverTheSteps) {
  const std::string path = test::fresh_session_path("memory", "states.mnemo");
  {
    profiler::Recorder rec(path, test::synthetic_run("gla", "gla", "safetensors", {2, 3, 3, 4, 12}, "attention,memory"));
    for (int64_t step = 0; step < 4; ++step) {
      for (int32_t layer = 0; layer < 2; ++layer)
        for (int32_t head = 0; head < 3; ++head)
          rec.submit(profiler::StateStatRecord{layer, head, step, 1.0 + step + 10 * layer, 1.0 + 0.5 * head});
      test::end_synthetic_step(rec, step, step, 1);
    }
    rec.finish();
  }
  ImGuiHarness h;
  Fixture f(path);
  ASSERT_TRUE(f.vs.has_run());
  MemoryView view(f.vs, f.textures);
  f.vs.layer = 1;
  ASSERT_TRUE(h.frames_until(f.host(view), [&] {
    return view.state_series() && view.state_series()->layer == 1 && f.settled();
  }));
  h.frame(f.host(view));
  const MemoryView::StateSeries& s = *view.state_series();
  EXPECT_EQ(s.heads, 3);
  ASSERT_EQ(s.steps, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_DOUBLE_EQ(s.norm[2 * 4 + 3], 14.0);  // head 2, step 3 of layer 1
  EXPECT_DOUBLE_EQ(s.rank[2 * 4 + 3], 2.0);
  EXPECT_TRUE(view.notice().empty()) << view.notice();
  EXPECT_EQ(field(view.inspection(), "values"), "state norm (Frobenius) and effective rank (participation ratio)");
}

// A hybrid's softmax layer keeps no state while its recurrent layer does: the view names the layers
// with state instead of saying the run has none, and the recurrent layer draws its lines.
TEST(MemoryView, AHybridsSoftmaxLayerNamesTheLayersWithState) {
  const std::string path = test::fresh_session_path("memory", "hybrid.mnemo");
  test::write_recurrent_session(path, "gla", true);
  ImGuiHarness h;
  Fixture f(path);
  ASSERT_TRUE(f.vs.has_run());
  MemoryView view(f.vs, f.textures);
  f.vs.layer = 1;
  const std::string expected = "Layer 1 keeps no recurrent state (layers with state: 0)";
  EXPECT_TRUE(h.frames_until(f.host(view), [&] { return view.notice() == expected && f.settled(); })) << view.notice();
  f.vs.layer = 0;
  ASSERT_TRUE(h.frames_until(f.host(view), [&] {
    return view.state_series() && view.state_series()->layer == 0 && view.notice().empty() && f.settled();
  }));
  const MemoryView::StateSeries& s = *view.state_series();
  EXPECT_EQ(s.heads, test::RecurrentSession::kHeads);
  ASSERT_EQ(s.steps, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_DOUBLE_EQ(s.norm[1 * 3 + 2], 4.0);  // head 1, step 2: 1 + step + head
  EXPECT_EQ(s.layers_with_state, (std::vector<int32_t>{0}));
}

TEST(MemoryView, SaysSoWhenTheRunHasNoMemory) {
  const std::string path = test::fresh_session_path("memory", "bare.mnemo");
  {
    profiler::Recorder rec(path, test::synthetic_run("bare", "llama", "gguf", {2, 2, 1, 8, 16}, "attention,kv,ops,memory"));
    for (int64_t step = 0; step < 2; ++step) test::end_synthetic_step(rec, step, step, 1);
    rec.finish();
  }
  ImGuiHarness h;
  Fixture f(path);
  ASSERT_TRUE(f.vs.has_run());
  MemoryView view(f.vs, f.textures);
  h.frames_until(
      f.host(view), [&] { return f.settled(); }, 2000);
  h.frame(f.host(view));
  EXPECT_EQ(view.notice().rfind("This run has no memory tokens or recurrent state (llama: ", 0), 0u) << view.notice();
  EXPECT_EQ(view.heatmap_texture(), nullptr);

  ViewState none;
  MemoryView empty(none, f.textures);
  h.frame([&] { empty.draw(); });
  EXPECT_EQ(empty.notice(), "No session open");
}

}  // namespace
}  // namespace mnemo::viz
