#include <gtest/gtest.h>

#include "imgui_harness.h"
#include "mnemo/profiler/session/recorder.h"
#include "mnemo/profiler/session/session_reader.h"
#include "mnemo/viz/kv_view.h"

namespace mnemo::viz {
namespace {

using test::field;

using test::Fixture;
using test::ImGuiHarness;
using R = KvView::Residency;

// A run with steps and tokens only, as a recording without the kv capture leaves it.
std::string write_bare_session(const std::string& name) {
  const std::string path = test::fresh_session_path("kv", name);
  profiler::Recorder rec(path, test::synthetic_run("bare", "llama", "gguf", {2, 2, 1, 8, 16}, ""));
  for (int64_t step = 0; step < 3; ++step) test::end_synthetic_step(rec, step, step, 1);
  rec.finish();
  return path;
}

bool ready(const KvView& v, int layer) { return v.series() && v.raster() && v.raster()->layer == layer; }

TEST(KvView, ResidencyRasterFollowsTheRecordedRanges) {
  ImGuiHarness h(ImVec2(1400, 900));
  Fixture f;
  KvView view(f.vs, f.textures);
  f.vs.layer = 2;  // a windowed layer: 4 sinks and the last 48 keys
  ASSERT_TRUE(h.frames_until(f.host(view), [&] { return ready(view, 2) && f.settled(); }));
  h.frame(f.host(view));
  const auto* img = f.textures.find(view.raster_texture());
  ASSERT_NE(img, nullptr);

  // The independent path: the reader's KV ranges and steps, pixel by pixel.
  profiler::SessionReader reader(f.doc.path());
  const auto steps = reader.steps(f.vs.run);
  std::vector<profiler::KvRecord> layer2;
  for (auto& k : reader.kv(f.vs.run))
    if (k.layer == 2) layer2.push_back(k);
  ASSERT_EQ(static_cast<size_t>(img->h), layer2.size());
  const int64_t positions = steps.back().pos0 + steps.back().n_tokens;
  ASSERT_EQ(img->w, positions);
  int evicted_pixels = 0;
  for (size_t y = 0; y < layer2.size(); ++y) {
    const int64_t written = steps[y].pos0 + steps[y].n_tokens;
    for (int64_t p = 0; p < positions; ++p) {
      bool resident = false;
      for (auto [b, e] : layer2[y].ranges) resident |= p >= b && p < e;
      const R want = resident ? R::Resident : p < written ? R::Evicted : R::NotWritten;
      ASSERT_EQ(img->at(static_cast<int>(p), static_cast<int>(y)), KvView::residency_color(want))
          << "step " << y << " position " << p;
      evicted_pixels += want == R::Evicted;
    }
  }
  EXPECT_GT(evicted_pixels, 0) << "the demo's window evicts on layer 2";
  // The demo's policy, spelled out: at the last step the sinks are kept, the middle evicted.
  const int y_last = img->h - 1;
  for (int p = 0; p < 4; ++p) EXPECT_EQ(img->at(p, y_last), KvView::residency_color(R::Resident)) << "sink " << p;
  EXPECT_EQ(img->at(10, y_last), KvView::residency_color(R::Evicted));
  EXPECT_EQ(img->at(static_cast<int>(positions) - 1, y_last), KvView::residency_color(R::Resident));
  EXPECT_EQ(img->at(static_cast<int>(positions) - 1, 0), KvView::residency_color(R::NotWritten))
      << "the prefill had not written it";
  EXPECT_GE(ImGuiHarness::commands_with(h.frame(f.host(view)), view.raster_texture()), 1) << "the raster is drawn";

  // Layer 0 keeps everything: no evicted pixel at all.
  f.vs.layer = 0;
  ASSERT_TRUE(h.frames_until(f.host(view), [&] { return view.raster() && view.raster()->layer == 0; }));
  const auto* full = f.textures.find(view.raster_texture());
  ASSERT_NE(full, nullptr);
  for (uint32_t px : full->rgba) ASSERT_NE(px, KvView::residency_color(R::Evicted));
}

TEST(KvView, HoverReportsWhatTheReaderHas) {
  ImGuiHarness h(ImVec2(1400, 900));
  Fixture f;
  KvView view(f.vs, f.textures);
  f.vs.layer = 2;
  ASSERT_TRUE(h.frames_until(f.host(view), [&] { return ready(view, 2) && f.settled(); }));
  profiler::SessionReader reader(f.doc.path());
  std::map<std::pair<int64_t, int32_t>, profiler::KvRecord> by;
  for (auto& k : reader.kv(f.vs.run)) by[{k.step, k.layer}] = k;
  const int64_t last = reader.steps(f.vs.run).back().step;

  auto hover = [&](int64_t step, int64_t pos) {
    h.io().MousePos = *view.raster_point(step, pos);
    h.frame(f.host(view));
    h.frame(f.host(view));
    return view.inspection();
  };
  for (auto [step, pos, state] :
       {std::tuple{last, int64_t{10}, "evicted"}, std::tuple{last, int64_t{2}, "resident"},
        std::tuple{int64_t{1}, int64_t{200}, "not yet written"}, std::tuple{int64_t{5}, int64_t{150}, "resident"}}) {
    const Inspection in = hover(step, pos);
    EXPECT_EQ(field(in, "step"), std::to_string(step));
    EXPECT_EQ(field(in, "layer"), "2");
    EXPECT_EQ(field(in, "position").rfind(std::to_string(pos), 0), 0u) << field(in, "position");
    EXPECT_EQ(field(in, "state"), state) << "step " << step << " position " << pos;
    EXPECT_EQ(field(in, "tokens resident"), std::to_string(by[{step, 2}].n_resident));
    EXPECT_EQ(field(in, "bytes used"), format_bytes(static_cast<double>(by[{step, 2}].bytes_used)));
  }
  EXPECT_EQ(f.vs.cursor_key, 150) << "the hovered position is the linked cursor";

  // The token chart: at a step, the shown layer's resident count; a click picks the step.
  h.io().MousePos = *view.chart_point(3);
  h.frame(f.host(view));
  EXPECT_EQ(field(view.inspection(), "step"), "3");
  EXPECT_EQ(field(view.inspection(), "tokens resident"),
            std::to_string(by[{3, std::stoi(field(view.inspection(), "layer"))}].n_resident));
  h.io().MouseDown[0] = true;
  h.frame(f.host(view));
  h.io().MouseDown[0] = false;
  h.frame(f.host(view));
  EXPECT_EQ(f.vs.step, 3);
  // Nothing hovered: the Inspector describes the shown layer at the shown step.
  h.io().MousePos = ImVec2(-FLT_MAX, -FLT_MAX);
  h.frame(f.host(view));
  EXPECT_EQ(field(view.inspection(), "step"), "3");
  EXPECT_EQ(field(view.inspection(), "tokens resident"), std::to_string(by[{3, f.vs.layer}].n_resident));
}

TEST(KvView, TexturesAreFreedWithTheView) {
  ImGuiHarness h;
  Fixture f;
  const size_t before = f.textures.live();
  {
    KvView view(f.vs, f.textures);
    for (int layer : {0, 2, 3}) {
      f.vs.layer = layer;
      ASSERT_TRUE(h.frames_until(f.host(view), [&] { return view.raster() && view.raster()->layer == layer; }));
    }
    EXPECT_EQ(f.textures.live(), before + 3) << "one texture per layer visited";
  }
  EXPECT_EQ(f.textures.live(), before);
}

TEST(KvView, SaysSoWhenTheRunHasNoKvRecords) {
  ImGuiHarness h;
  Fixture f(write_bare_session("bare.mnemo"));
  ASSERT_TRUE(f.vs.has_run());
  KvView view(f.vs, f.textures);
  ASSERT_TRUE(h.frames_until(f.host(view), [&] { return view.series() != nullptr && f.settled(); }));
  h.frame(f.host(view));
  EXPECT_EQ(view.notice(), "KV occupancy was not recorded for this run");
  EXPECT_EQ(f.textures.live(), 0u);

  ViewState none;
  KvView empty(none, f.textures);
  h.frame([&] { empty.draw(); });
  EXPECT_EQ(empty.notice(), "No session open");
}

// A run being recorded that has not committed its first step: not a run without KV records.
TEST(KvView, ARunWithoutACommittedStepSaysSoRatherThanBlamingTheCaptures) {
  const std::string path = test::fresh_session_path("kv", "recording.mnemo");
  profiler::Recorder rec(path, test::synthetic_run("live", "llama", "gguf", {2, 2, 1, 8, 16}, "all"));  // before its first step
  ImGuiHarness h;
  Fixture f(path);
  ASSERT_TRUE(f.vs.has_run());
  KvView view(f.vs, f.textures);
  ASSERT_TRUE(h.frames_until(f.host(view), [&] { return view.series() != nullptr && f.settled(); }));
  h.frame(f.host(view));
  EXPECT_EQ(view.notice(), "No committed step yet");
  rec.finish();
}

}  // namespace
}  // namespace mnemo::viz
