#include <gtest/gtest.h>

#include <cmath>

#include "imgui_harness.h"
#include "mnemo/profiler/session/session_reader.h"
#include "mnemo/viz/attention_explorer.h"
#include "mnemo/viz/compare.h"
#include "mnemo/viz/model_overview.h"
#include "mnemo/viz/token_view.h"

namespace mnemo::viz {
namespace {

using test::field;

using test::ImGuiHarness;

// A session with three runs: two demo runs on the same tokens (different seeds, so their
// content heads differ) and one on a shorter prompt.
const std::string& compare_session() {
  static const std::string path = [] {
    const std::string p = test::fresh_session_path("compare", "compare.mnemo");
    DemoOptions o;
    o.label = "seed 7";
    write_demo_session(p, o);
    o.seed = 8, o.label = "seed 8";
    write_demo_session(p, o);
    o.prompt_tokens = 100, o.label = "short";
    write_demo_session(p, o);
    return p;
  }();
  return path;
}

struct CompareFixture {
  MemoryTextureStore textures;
  SessionDoc doc;
  ViewState left, right;
  CompareCanvas canvas{left, right,
                       [](const std::string& view, ViewState& vs) -> std::unique_ptr<Canvas> {
                         if (view == "attention") return std::make_unique<AttentionExplorer>(vs);
                         return nullptr;
                       },
                       {"attention"}, textures};
  CompareFixture(int64_t left_run, int64_t right_run, const std::string& path = compare_session()) : doc(path, textures) {
    for (int i = 0; i < 5000 && doc.loading(); ++i) {
      doc.poll();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    left.doc = right.doc = &doc;
    left.run = left_run, right.run = right_run;
  }
  std::function<void()> host() {
    return [this] {
      doc.poll();
      doc.tiles().begin_frame();
      canvas.draw();
      doc.tiles().end_frame();
    };
  }
};

TEST(Compare, DifferenceMapIsLeftMinusRightOfTheSameHead) {
  ImGuiHarness h;
  CompareFixture f(1, 2);
  f.canvas.set_mode("difference");
  f.left.layer = 1, f.left.head = 3;  // content-like: differs between seeds
  ASSERT_TRUE(h.frames_until(f.host(), [&] { return !f.canvas.wants_redraw() && f.doc.settled(); }));
  EXPECT_EQ(f.canvas.difference_problem(), "");
  EXPECT_EQ(f.right.layer, 1);  // the right side follows the left's head
  EXPECT_EQ(f.right.head, 3);
  // Hover the middle of the map: the Inspector's values are the two runs' exact scores.
  const auto textures = ImGuiHarness::textures(h.frame(f.host()));
  ASSERT_EQ(textures.size(), 1u);
  profiler::SessionReader reader(compare_session());
  // Find the map on screen from the texture's draw command, then hover cell (150, 120).
  ImDrawData* dd = h.frame(f.host());
  ImVec2 p0(FLT_MAX, FLT_MAX), p1(-FLT_MAX, -FLT_MAX);
  for (int l = 0; l < dd->CmdListsCount; ++l) {
    const ImDrawList* list = dd->CmdLists[l];
    for (const ImDrawCmd& c : list->CmdBuffer)
      if (c.TextureId == textures[0])
        for (unsigned i = 0; i < c.ElemCount; ++i) {
          const ImVec2 v = list->VtxBuffer[list->IdxBuffer[c.IdxOffset + i] + c.VtxOffset].pos;
          p0 = ImVec2(std::min(p0.x, v.x), std::min(p0.y, v.y)), p1 = ImVec2(std::max(p1.x, v.x), std::max(p1.y, v.y));
        }
  }
  const auto shape = reader.map_shape(1, reader.steps(1).back().step, 1, 3);
  const float cw = (p1.x - p0.x) / static_cast<float>(shape.cols), ch = (p1.y - p0.y) / static_cast<float>(shape.rows);
  h.io().MousePos = ImVec2(p0.x + (120 + 0.5f) * cw, p0.y + (150 + 0.5f) * ch);
  h.frame(f.host());
  h.frame(f.host());
  const double l = std::stod(field(f.canvas.inspection(), "left"));
  const double r = std::stod(field(f.canvas.inspection(), "right"));
  EXPECT_NEAR(l, reader.row(1, 1, 3, 150)[120], 1e-6);
  EXPECT_NEAR(r, reader.row(2, 1, 3, 150)[120], 1e-6);
  EXPECT_NEAR(std::stod(field(f.canvas.inspection(), "left − right")), l - r, 1e-6);
  EXPECT_NE(l, r);
  // The texture colours follow the sign: a cell where left > right is red-ish, else blue-ish.
  const auto* img = f.textures.find(textures[0]);
  ASSERT_NE(img, nullptr);
  const uint32_t px = img->at(120, 150);
  const int red = px & 0xff, blue = (px >> 16) & 0xff;
  if (l - r > 1e-4) {
    EXPECT_GT(red, blue);
  } else if (l - r < -1e-4) {
    EXPECT_LT(red, blue);
  }
}

TEST(Compare, NoDifferenceMapWhenTheTokensDiffer) {
  ImGuiHarness h;
  CompareFixture f(1, 3);
  f.canvas.set_mode("difference");
  h.frames_until(f.host(), [&] { return !f.canvas.wants_redraw() && f.doc.settled(); });
  h.frame(f.host());
  EXPECT_NE(f.canvas.difference_problem().find("rows"), std::string::npos) << f.canvas.difference_problem();
}

TEST(Compare, MetricDeltasAreTheDifferencesOfTheHeadMetrics) {
  ImGuiHarness h;
  CompareFixture f(1, 2);
  f.canvas.set_mode("deltas");
  ASSERT_TRUE(h.frames_until(f.host(), [&] { return !f.canvas.wants_redraw(); }));
  profiler::SessionReader reader(compare_session());
  const int64_t step = reader.steps(1).back().step;
  const auto a = reader.head_metrics(1, step), b = reader.head_metrics(2, step);
  // Sweep the pointer over the grid until a cell is hovered, then check its numbers.
  int checked = 0;
  for (float y = 60; y < 780 && checked < 5; y += 37)
    for (float x = 70; x < 1100 && checked < 5; x += 53) {
      h.io().MousePos = ImVec2(x, y);
      h.frame(f.host());
      const std::string lh = field(f.canvas.inspection(), "layer / head");
      if (lh.empty()) continue;
      const int layer = std::stoi(lh), head = std::stoi(lh.substr(lh.find('/') + 1));
      double ea = NAN, eb = NAN;
      for (const auto& m : a)
        if (m.layer == layer && m.head == head) ea = m.m.entropy;
      for (const auto& m : b)
        if (m.layer == layer && m.head == head) eb = m.m.entropy;
      EXPECT_NEAR(std::stod(field(f.canvas.inspection(), "left − right")), ea - eb, 1e-5);
      ++checked;
    }
  EXPECT_GE(checked, 3);
}

TEST(Compare, SideBySideLinksHeadsAndCursors) {
  ImGuiHarness h(ImVec2(1400, 800));
  CompareFixture f(1, 2);
  f.canvas.set_mode("attention");
  ASSERT_TRUE(h.frames_until(f.host(), [&] { return !f.canvas.wants_redraw() && f.doc.settled(); }));
  f.right.head = 2;  // the right side changes head: the left follows
  h.frame(f.host());
  EXPECT_EQ(f.left.head, 2);
  auto* left = dynamic_cast<AttentionExplorer*>(f.canvas.side(0));
  auto* right = dynamic_cast<AttentionExplorer*>(f.canvas.side(1));
  ASSERT_TRUE(left && right);
  h.frames_until(f.host(), [&] { return left->map_rows() > 0 && right->map_rows() > 0; });
  h.io().MousePos = left->cell_center(100, 60);
  h.frame(f.host());
  h.frame(f.host());
  EXPECT_EQ(f.left.cursor_query, 100);
  EXPECT_EQ(f.right.cursor_query, 100);  // linked
  EXPECT_EQ(f.right.cursor_key, 60);
  EXPECT_TRUE(f.right.cursor_linked);
  EXPECT_EQ(f.canvas.inspection().title.rfind("Left", 0), 0u);
}

// Two sessions compared, each side a whole Fixture (its own document), in the views that show a
// layer's map: the explorer, the overview and the tokens.
struct TwoSessions {
  test::Fixture left, right;
  CompareCanvas canvas;
  TwoSessions(const std::string& left_path, const std::string& right_path)
      : left(left_path), right(right_path),
        canvas(left.vs, right.vs,
               [this](const std::string& view, ViewState& vs) -> std::unique_ptr<Canvas> {
                 if (view == "attention") return std::make_unique<AttentionExplorer>(vs);
                 if (view == "overview") return std::make_unique<ModelOverview>(vs, &vs == &left.vs ? left.textures : right.textures);
                 if (view == "tokens") return std::make_unique<TokenView>(vs);
                 return nullptr;
               },
               {"attention", "overview", "tokens"}, left.textures) {}
  std::function<void()> host() {
    return [this] {
      for (test::Fixture* f : {&left, &right}) f->doc.poll(), f->doc.tiles().begin_frame();
      canvas.draw();
      for (test::Fixture* f : {&left, &right}) f->doc.tiles().end_frame();
    };
  }
  bool settled() { return left.settled() && right.settled() && !canvas.wants_redraw(); }
};

// A hybrid (GLA layer 0, softmax layer 1) beside a Mamba-2 run: each side draws its own layer's
// map through the reader and names it, in every side-by-side view.
TEST(Compare, SideBySideShowsEachSidesKindOfMapWithItsLabel) {
  const std::string hybrid = test::fresh_session_path("compare", "hybrid.mnemo");
  const std::string mamba2 = test::fresh_session_path("compare", "mamba2.mnemo");
  test::write_recurrent_session(hybrid, "gla", true);
  test::write_recurrent_session(mamba2, "mamba2");
  ImGuiHarness h(ImVec2(1400, 800));
  TwoSessions s(hybrid, mamba2);
  ASSERT_TRUE(s.left.vs.has_run() && s.right.vs.has_run());
  const std::string implicit = "implicit attention, exact", softmax = "softmax probabilities";

  s.canvas.set_mode("attention");
  s.left.vs.layer = 1;  // the softmax layer; the Mamba-2 run has one layer, its 0 follows
  h.frame(s.host());  // makes the pair of explorers
  auto* la = dynamic_cast<AttentionExplorer*>(s.canvas.side(0));
  auto* ra = dynamic_cast<AttentionExplorer*>(s.canvas.side(1));
  ASSERT_TRUE(la && ra);
  ASSERT_TRUE(h.frames_until(s.host(), [&] { return !la->map_label().empty() && !ra->map_label().empty() && s.settled(); }));
  EXPECT_EQ(s.right.vs.layer, 0);
  EXPECT_EQ(la->map_label(), softmax);
  EXPECT_EQ(ra->map_label(), implicit);
  EXPECT_EQ(ra->map_rows(), test::RecurrentSession::kRows);
  EXPECT_TRUE(ra->tile_error().empty()) << ra->tile_error();
  s.left.vs.layer = 0;  // the GLA layer
  ASSERT_TRUE(h.frames_until(s.host(), [&] { return la->map_label() == implicit && s.settled(); }));

  s.canvas.set_mode("overview");
  h.frame(s.host());
  auto* lo = dynamic_cast<ModelOverview*>(s.canvas.side(0));
  auto* ro = dynamic_cast<ModelOverview*>(s.canvas.side(1));
  ASSERT_TRUE(lo && ro);
  auto loaded = [](const ModelOverview* o) {
    return o->layers() > 0 && o->thumbnails_loaded() == static_cast<size_t>(o->layers() * o->heads());
  };
  ASSERT_TRUE(h.frames_until(s.host(), [&] { return loaded(lo) && loaded(ro) && s.settled(); }));
  EXPECT_EQ(lo->notice(), nullptr) << lo->notice();
  EXPECT_EQ(ro->notice(), nullptr) << ro->notice();
  EXPECT_EQ(lo->values_label(), "values: " + implicit + " (L0); " + softmax + " (L1)");
  EXPECT_EQ(ro->values_label(), "values: " + implicit);
  ASSERT_NE(ro->thumbnail(0, 1), nullptr);
  EXPECT_GT(ro->thumbnail(0, 1)->peak, 0.f);

  s.canvas.set_mode("tokens");
  h.frame(s.host());
  auto* lt = dynamic_cast<TokenView*>(s.canvas.side(0));
  auto* rt = dynamic_cast<TokenView*>(s.canvas.side(1));
  ASSERT_TRUE(lt && rt);
  s.left.vs.layer = 1;
  ASSERT_TRUE(h.frames_until(s.host(), [&] { return lt->map_label() == softmax && rt->map_label() == implicit && s.settled(); }));
}

// The difference map says what it subtracts: the same quantity, or a softmax layer's
// probabilities against a recurrent layer's implicit attention.
TEST(Compare, DifferenceMapNamesWhatItSubtracts) {
  const std::string hybrid = test::fresh_session_path("compare", "hybrid-diff.mnemo");
  const std::string gla = test::fresh_session_path("compare", "gla-diff.mnemo");
  test::write_recurrent_session(hybrid, "gla", true);
  test::write_recurrent_session(gla, "gla");
  ImGuiHarness h;
  TwoSessions s(hybrid, gla);
  s.canvas.set_mode("difference");
  s.left.vs.layer = 1;
  ASSERT_TRUE(h.frames_until(s.host(), [&] { return !s.canvas.difference_label().empty() && s.settled(); }));
  EXPECT_EQ(s.canvas.difference_problem(), "");
  EXPECT_EQ(s.canvas.difference_label(), "left: softmax probabilities, right: implicit attention, exact (different quantities)");
  s.left.vs.layer = 0;
  ASSERT_TRUE(h.frames_until(s.host(), [&] {
    return s.canvas.difference_label() == "both implicit attention, exact" && s.settled();
  }));
}

// Two runs on one task prompt: the answers table lists every answer with each side's prediction,
// and hovering an answer puts both sides' cursors on the query row that predicts it.
TEST(Compare, SideBySideShowsTheTaskAnswersOfEachSide) {
  const std::string path = test::fresh_session_path("compare", "answers.mnemo");
  DemoOptions o;
  o.answer_every = 16, o.label = "answers, seed 7";
  write_demo_session(path, o);
  o.seed = 8, o.label = "answers, seed 8";
  write_demo_session(path, o);
  o.answer_every = 0, o.label = "no task";
  write_demo_session(path, o);
  CompareFixture f(1, 2, path);
  f.canvas.set_mode("attention");
  auto host = f.host();
  CompareCanvas& canvas = f.canvas;
  SessionDoc& doc = f.doc;
  ImGuiHarness h(ImVec2(1400, 900));
  ASSERT_TRUE(h.frames_until(host, [&] { return !canvas.answer_rows().empty() && doc.settled(); }));
  const std::vector<CompareCanvas::AnswerRow> rows = canvas.answer_rows();  // a copy: the next frames redraw it
  ASSERT_EQ(rows.size(), static_cast<size_t>((o.prompt_tokens - 1) / 16));
  for (size_t k = 0; k < rows.size(); ++k) {
    EXPECT_EQ(rows[k].position, static_cast<int64_t>(16 * (k + 1)));
    EXPECT_EQ(rows[k].right[0], demo_answer_right(static_cast<int64_t>(k), 7) ? 1 : 0) << k;
    EXPECT_EQ(rows[k].right[1], demo_answer_right(static_cast<int64_t>(k), 8) ? 1 : 0) << k;
  }
  h.io().MousePos = ImVec2(rows[1].center_x, rows[1].center_y);
  h.frame(host);
  h.frame(host);
  EXPECT_EQ(f.left.cursor_query, 31);  // answer 32 is predicted from the row of position 31
  EXPECT_EQ(f.right.cursor_query, 31);
  EXPECT_FALSE(f.right.cursor_key.has_value());

  // A run without answers beside one with them: the table stays, that side's column is empty.
  f.right.run = 3;
  ASSERT_TRUE(h.frames_until(host, [&] { return doc.settled() && !canvas.wants_redraw(); }));
  ASSERT_EQ(canvas.answer_rows().size(), rows.size());
  for (const auto& row : canvas.answer_rows()) EXPECT_EQ(row.right[1], -1);
}

// Three runs side by side: an added side follows the others' head and cursor, shows its answers
// in its own column, and can be taken out again.
TEST(Compare, MoreThanTwoSidesAreLinkedAndShowTheirAnswers) {
  const std::string path = test::fresh_session_path("compare", "three.mnemo");
  DemoOptions o;
  o.answer_every = 32;
  for (uint64_t seed : {7, 8, 9}) {
    o.seed = seed, o.label = "seed " + std::to_string(seed);
    write_demo_session(path, o);
  }
  CompareFixture f(1, 2, path);
  f.canvas.set_mode("attention");
  EXPECT_EQ(f.canvas.add_side(&f.doc, 3), 2u);
  ASSERT_EQ(f.canvas.side_count(), 3u);
  ImGuiHarness h(ImVec2(1500, 900));
  auto host = f.host();
  ASSERT_TRUE(h.frames_until(host, [&] { return !f.canvas.answer_rows().empty() && f.doc.settled() && !f.canvas.wants_redraw(); }));
  for (size_t k = 0; k < f.canvas.answer_rows().size(); ++k) {
    const auto& row = f.canvas.answer_rows()[k];
    ASSERT_EQ(row.right.size(), 3u);
    for (size_t side = 0; side < 3; ++side)
      EXPECT_EQ(row.right[side], demo_answer_right(static_cast<int64_t>(k), 7 + side) ? 1 : 0) << k << " " << side;
  }
  f.right.head = 3;  // the right side leads: left and the added side follow
  h.frame(host);
  EXPECT_EQ(f.left.head, 3);
  EXPECT_EQ(f.canvas.side_state(2).head, 3);
  auto* left = dynamic_cast<AttentionExplorer*>(f.canvas.side(0));
  auto* third = dynamic_cast<AttentionExplorer*>(f.canvas.side(2));
  ASSERT_TRUE(left && third);
  ASSERT_TRUE(h.frames_until(host, [&] { return left->map_rows() > 0 && third->map_rows() > 0; }));
  h.io().MousePos = left->cell_center(120, 40);
  h.frame(host);
  h.frame(host);
  EXPECT_EQ(f.canvas.side_state(2).cursor_query, 120);
  EXPECT_EQ(f.canvas.side_state(2).cursor_key, 40);
  f.canvas.remove_side(2);
  EXPECT_EQ(f.canvas.side_count(), 2u);
  h.frame(host);
  EXPECT_EQ(f.canvas.answer_rows().front().right.size(), 2u);
}

TEST(Compare, NeedsTwoRuns) {
  ImGuiHarness h;
  MemoryTextureStore textures;
  ViewState a, b;
  CompareCanvas c(a, b, [](const std::string&, ViewState&) { return nullptr; }, {"attention"}, textures);
  h.frame([&] { c.draw(); });
  EXPECT_FALSE(c.wants_redraw());
}

}  // namespace
}  // namespace mnemo::viz
