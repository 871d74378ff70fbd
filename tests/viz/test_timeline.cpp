#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <map>

#include "imgui_harness.h"
#include "mnemo/profiler/session/recorder.h"
#include "mnemo/profiler/session/session_reader.h"
#include "mnemo/viz/timeline.h"

namespace mnemo::viz {
namespace {

using test::field;

using test::Fixture;
using test::ImGuiHarness;

// Frames until every lane has an answer for the current view and nothing is on its way.
bool settle(ImGuiHarness& h, Fixture& f, Timeline& t) {
  return h.frames_until(f.host(t), [&] {
    if (!f.settled() || t.wants_redraw() || !t.thread_lane(0)) return false;
    for (int64_t th : {0, 1})
      if (!t.thread_lane(th) || !t.thread_lane(th)->data()) return false;
    return true;
  });
}

// Every op of the reader overlapping [t0, t1) on a thread.
std::vector<profiler::OpRow> reader_ops(const std::string& path, int64_t run, double t0, double t1, int64_t thread) {
  profiler::SessionReader r(path);
  return r.ops(run, static_cast<int64_t>(std::floor(t0)), static_cast<int64_t>(std::ceil(t1)), thread);
}

TEST(Timeline, TheWholeRunDrawsBucketsThatCoverEveryOp) {
  ImGuiHarness h(ImVec2(1400, 900));
  Fixture f;
  Timeline t(f.vs);
  ASSERT_TRUE(settle(h, f, t));
  h.frame(f.host(t));
  const auto v = t.view();
  for (int64_t thread : {0, 1}) {
    const auto* d = t.thread_lane(thread)->data();
    ASSERT_TRUE(d->buckets_mode) << "1000 ops on ~1270 px: too dense for ops";
    EXPECT_LE(d->t0, v.t0);
    EXPECT_GE(d->t1, v.t1);
    const auto ops = reader_ops(f.doc.path(), f.vs.run, v.t0, v.t1, thread);
    ASSERT_FALSE(ops.empty());
    // Each op lies in buckets that count it, and the buckets count at least every op.
    int64_t counted = 0;
    for (const auto& b : d->buckets) counted += b.count;
    EXPECT_GE(counted, static_cast<int64_t>(ops.size()));
    for (const auto& o : ops) {
      bool covered = false;
      for (const auto& b : d->buckets) covered |= b.count > 0 && o.start_ns >= b.t0_ns && o.start_ns < b.t1_ns;
      ASSERT_TRUE(covered) << "op " << o.op_id << " at " << o.start_ns;
    }
    // The ops resolved for labels are the buckets' longest, as the reader has them.
    std::map<int64_t, profiler::OpRow> by_id;
    for (const auto& o : ops) by_id[o.op_id] = o;
    for (const auto& o : d->ops) {
      ASSERT_TRUE(by_id.count(o.op_id)) << o.op_id;
      EXPECT_EQ(o.kind, by_id[o.op_id].kind);
      EXPECT_EQ(o.end_ns - o.start_ns, by_id[o.op_id].end_ns - by_id[o.op_id].start_ns);
    }
  }
}

TEST(Timeline, ZoomingInAboutThePointerSwitchesToOps) {
  ImGuiHarness h(ImVec2(1400, 900));
  Fixture f;
  Timeline t(f.vs);
  ASSERT_TRUE(settle(h, f, t));
  ASSERT_TRUE(t.thread_lane(0)->data()->buckets_mode);
  const auto before = t.view();
  // ImGui floors the pointer to whole pixels: anchor the time under a whole pixel.
  const float x = std::floor(t.lane_point(0, before.t0 + (before.t1 - before.t0) * 0.3)->x);
  const double anchor = t.axis().t_of(x);
  h.io().MousePos = ImVec2(x, t.lane_point(0, anchor)->y);
  for (int i = 0; i < 7; ++i) {  // 0.8^7: a fifth of the run
    h.io().MouseWheel = 1.f;
    h.frame(f.host(t));
  }
  const auto after = t.view();
  EXPECT_NEAR(after.t1 - after.t0, (before.t1 - before.t0) * std::pow(0.8, 7), (before.t1 - before.t0) * 1e-6);
  EXPECT_NEAR(t.axis().t_of(x), anchor, (after.t1 - after.t0) * 1e-3) << "the time under the pointer stays there";
  ASSERT_TRUE(settle(h, f, t));
  for (int64_t thread : {0, 1}) {
    const auto* d = t.thread_lane(thread)->data();
    ASSERT_FALSE(d->buckets_mode) << "zoomed in, the lane reads ops";
    // Exactly the reader's ops over what was fetched (the view and half a view either side).
    const auto want =
        reader_ops(f.doc.path(), f.vs.run, static_cast<double>(d->t0), static_cast<double>(d->t1), thread);
    ASSERT_EQ(d->ops.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(d->ops[i].op_id, want[i].op_id);
    EXPECT_LE(d->t0, after.t0);
    EXPECT_GE(d->t1, after.t1);
  }
  // Zooming back out returns to buckets.
  for (int i = 0; i < 8; ++i) {
    h.io().MouseWheel = -1.f;
    h.frame(f.host(t));
  }
  ASSERT_TRUE(settle(h, f, t));
  EXPECT_TRUE(t.thread_lane(0)->data()->buckets_mode);
}

TEST(Timeline, HoveringAnOpReportsItAsTheReaderHasIt) {
  ImGuiHarness h(ImVec2(1400, 900));
  Fixture f;
  Timeline t(f.vs);
  ASSERT_TRUE(settle(h, f, t));
  profiler::SessionReader reader(f.doc.path());
  const auto steps = reader.steps(f.vs.run);
  // Step 3 of the decode: its ops are a few µs each; show that step alone.
  const auto& st = steps[3];
  t.set_view({static_cast<double>(st.start_ns), static_cast<double>(st.end_ns)});
  ASSERT_TRUE(settle(h, f, t));
  ASSERT_FALSE(t.thread_lane(1)->data()->buckets_mode);
  const auto ops = reader.ops(f.vs.run, st.start_ns, st.end_ns, 1);
  ASSERT_GT(ops.size(), 10u);
  int checked = 0;
  for (const auto& o : ops) {
    if (o.start_ns < st.start_ns || o.end_ns > st.end_ns) continue;
    h.io().MousePos = *t.lane_point(1, 0.5 * static_cast<double>(o.start_ns + o.end_ns));
    h.frame(f.host(t));
    const Inspection& in = t.inspection();
    ASSERT_EQ(in.title, "Op");
    EXPECT_EQ(field(in, "op id"), std::to_string(o.op_id));
    EXPECT_EQ(field(in, "kind"), o.kind);
    EXPECT_EQ(field(in, "duration (ns)"), std::to_string(o.end_ns - o.start_ns));
    EXPECT_EQ(field(in, "duration"), format_duration_ns(static_cast<double>(o.end_ns - o.start_ns)));
    EXPECT_EQ(field(in, "layer"), std::to_string(o.layer));
    EXPECT_EQ(field(in, "step"), std::to_string(o.step));
    EXPECT_EQ(field(in, "thread"), "1");
    ++checked;
  }
  EXPECT_GT(checked, 10);

  // Dragging pans by the pointer's movement.
  const auto v0 = t.view();
  const double ns_per_px = t.axis().ns_per_px();
  h.io().MouseDown[0] = true;
  h.frame(f.host(t));
  h.io().MousePos.x -= 100;
  h.frame(f.host(t));
  h.io().MouseDown[0] = false;
  h.frame(f.host(t));
  EXPECT_NEAR(t.view().t0 - v0.t0, 100 * ns_per_px, ns_per_px * 0.01);
  EXPECT_NEAR((t.view().t1 - t.view().t0), v0.t1 - v0.t0, 1e-3);
}

TEST(Timeline, SummaryTotalsAreTheReadersSums) {
  ImGuiHarness h(ImVec2(1400, 900));
  Fixture f;
  Timeline t(f.vs);
  ASSERT_TRUE(settle(h, f, t));
  ASSERT_TRUE(h.frames_until(f.host(t), [&] { return !t.summary().empty() && !t.wants_redraw(); }));
  profiler::SessionReader reader(f.doc.path());
  struct Sum {
    int64_t count = 0, total = 0, max = 0;
  };
  std::map<std::string, Sum> want;
  for (const auto& o : reader.ops(f.vs.run, INT64_MIN, INT64_MAX)) {
    Sum& s = want[o.kind];
    ++s.count, s.total += o.end_ns - o.start_ns, s.max = std::max(s.max, o.end_ns - o.start_ns);
  }
  ASSERT_EQ(t.summary().size(), want.size());
  for (const auto& k : t.summary()) {
    ASSERT_TRUE(want.count(k.kind)) << k.kind;
    EXPECT_EQ(k.count, want[k.kind].count) << k.kind;
    EXPECT_EQ(k.total_ns, want[k.kind].total) << k.kind;
    EXPECT_EQ(k.max_ns, want[k.kind].max) << k.kind;
  }
  // Sorted by total, largest first (the table's default column).
  for (size_t i = 1; i < t.summary().size(); ++i) EXPECT_GE(t.summary()[i - 1].total_ns, t.summary()[i].total_ns);

  // The visible scope: ops overlapping the view, once the view has settled.
  const profiler::StepRecord st = reader.steps(f.vs.run)[5];
  const int64_t want_visible = static_cast<int64_t>(reader.ops(f.vs.run, st.start_ns, st.end_ns).size());
  ASSERT_LT(want_visible, 2000);
  t.set_view({static_cast<double>(st.start_ns), static_cast<double>(st.end_ns)});
  t.set_summary_visible_only(true);
  auto visible = [&] {
    int64_t n = 0;
    for (const auto& k : t.summary()) n += k.count;
    return n;
  };
  EXPECT_TRUE(h.frames_until(
      f.host(t), [&] { return visible() == want_visible; }, 5000))
      << visible() << " ops summarised";
}

TEST(Timeline, SaysSoWhenTheRunHasNoOps) {
  const std::string path = test::fresh_session_path("timeline", "bare.mnemo");
  {
    profiler::RunInfo info;
    info.label = "bare", info.architecture = "llama", info.model_path = "(none)", info.model_format = "gguf";
    info.n_layers = 1, info.n_heads = 1, info.n_kv_heads = 1, info.head_dim = 8, info.d_model = 8;
    profiler::Recorder rec(path, info);
    rec.submit(profiler::TokenRecord{0, 1, "x", 0});
    profiler::StepRecord s;
    s.step = 0, s.pos0 = 0, s.n_tokens = 1, s.start_ns = 0, s.end_ns = 900;
    rec.submit(s);
    rec.end_step(0);
    rec.finish();
  }
  ImGuiHarness h;
  Fixture f(path);
  ASSERT_TRUE(f.vs.has_run());
  Timeline t(f.vs);
  ASSERT_TRUE(h.frames_until(f.host(t), [&] { return f.settled() && !t.wants_redraw(); }));
  h.frame(f.host(t));
  EXPECT_EQ(t.notice(), "No op timings were recorded for this run");

  ViewState none;
  Timeline empty(none);
  h.frame([&] { empty.draw(); });
  EXPECT_EQ(empty.notice(), "No session open");
}

}  // namespace
}  // namespace mnemo::viz
