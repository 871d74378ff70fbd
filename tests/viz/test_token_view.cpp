#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "imgui_harness.h"
#include "mnemo/profiler/session/session_reader.h"
#include "mnemo/viz/token_view.h"

namespace mnemo::viz {
namespace {

using test::field;

using test::Fixture;
using test::ImGuiHarness;

// Points at a token (scrolled into view first) and waits for its weights.
void hover_token(ImGuiHarness& h, Fixture& f, TokenView& t, int64_t pos) {
  t.scroll_to(pos);
  h.frame(f.host(t));
  h.frame(f.host(t));
  h.io().MousePos = *t.token_center(pos);
  ASSERT_TRUE(h.frames_until(f.host(t), [&] { return t.query() == pos && !t.top_keys().empty() && !t.wants_redraw(); }));
}

// The strongest shading drawn inside a token's box: the largest alpha of a vertex with the
// shading's colour there (0 when the box is not shaded).
int shading_alpha(ImDrawData* dd, std::pair<ImVec2, ImVec2> box) {
  int alpha = 0;
  for (int l = 0; l < dd->CmdListsCount; ++l)
    for (const ImDrawVert& v : dd->CmdLists[l]->VtxBuffer) {
      if ((v.col & ~IM_COL32_A_MASK) != (TokenView::kShade & ~IM_COL32_A_MASK)) continue;
      if (v.pos.x < box.first.x - 0.01f || v.pos.x > box.second.x + 0.01f || v.pos.y < box.first.y - 0.01f ||
          v.pos.y > box.second.y + 0.01f)
        continue;
      alpha = std::max(alpha, static_cast<int>(v.col >> IM_COL32_A_SHIFT));
    }
  return alpha;
}

int vertices(ImDrawData* dd) {
  int n = 0;
  for (int l = 0; l < dd->CmdListsCount; ++l) n += dd->CmdLists[l]->VtxBuffer.Size;
  return n;
}

TEST(TokenView, PreviousTokenHeadShadesThePreviousToken) {
  ImGuiHarness h;
  Fixture f;
  TokenView t(f.vs);
  t.set_top_k(0);  // no outlines or lines: the only orange in the text is the shading
  f.vs.layer = 1, f.vs.head = 1;
  ASSERT_TRUE(h.frames_until(f.host(t), [&] { return t.lines() > 0; }));
  profiler::SessionReader reader(f.doc.path());
  for (int64_t i : {40, 150, 210}) {
    hover_token(h, f, t, i);
    const auto p = reader.row(f.vs.run, 1, 1, i);
    ASSERT_EQ(std::max_element(p.begin(), p.end()) - p.begin(), i - 1) << "the demo's head 1 reads the previous token";
    ASSERT_FALSE(t.top_keys().empty());
    EXPECT_EQ(t.top_keys().front().first, i - 1);
    EXPECT_NEAR(t.top_keys().front().second, p[static_cast<size_t>(i - 1)], 1e-6);
    for (int64_t k = 0; k < static_cast<int64_t>(p.size()); ++k) EXPECT_NEAR(t.weight(k), p[static_cast<size_t>(k)], 1e-6);
    EXPECT_EQ(f.vs.cursor_query, i);
    EXPECT_EQ(f.vs.cursor_key, i - 1);

    // Drawn: the previous token's box carries the strongest shading of the neighbourhood.
    ImDrawData* dd = h.frame(f.host(t));
    const int strongest = shading_alpha(dd, *t.token_rect(i - 1));
    EXPECT_GE(strongest, 230);
    for (int64_t k = std::max<int64_t>(0, i - 12); k <= i; ++k)
      if (k != i - 1) {
        EXPECT_LT(shading_alpha(dd, *t.token_rect(k)), strongest) << "key " << k << " of query " << i;
      }

    // The Inspector: the query, and the strongest key with the reader's weight.
    const Inspection& in = t.inspection();
    EXPECT_EQ(field(in, "query").rfind(std::to_string(i) + " '", 0), 0u) << field(in, "query");
    const std::string top = field(in, "key 1");
    EXPECT_EQ(top.rfind(std::to_string(i - 1) + " '", 0), 0u) << top;
    const auto dot = top.rfind("·");
    ASSERT_NE(dot, std::string::npos);
    EXPECT_NEAR(std::stod(top.substr(dot + 2)), p[static_cast<size_t>(i - 1)], 5e-4 * p[static_cast<size_t>(i - 1)]);  // 4 digits
  }
  // Off the text: nothing is shaded and the linked cursor is cleared.
  h.io().MousePos = ImVec2(-FLT_MAX, -FLT_MAX);
  h.frame(f.host(t));
  EXPECT_FALSE(t.query());
  EXPECT_FALSE(f.vs.cursor_query);
  EXPECT_EQ(t.shade(39), 0.f);
}

TEST(TokenView, AllHeadsOfTheLayerByMeanOrMax) {
  ImGuiHarness h;
  Fixture f;
  TokenView t(f.vs);
  f.vs.layer = 0;
  t.set_all_heads(true);
  t.set_combine(TokenView::Combine::Mean);
  ASSERT_TRUE(h.frames_until(f.host(t), [&] { return t.lines() > 0; }));
  hover_token(h, f, t, 100);
  profiler::SessionReader reader(f.doc.path());
  std::vector<std::vector<float>> rows;
  for (int32_t head = 0; head < 4; ++head) rows.push_back(reader.row(f.vs.run, 0, head, 100));
  for (size_t k = 0; k < rows[0].size(); ++k) {
    const float mean = (rows[0][k] + rows[1][k] + rows[2][k] + rows[3][k]) / 4;
    EXPECT_NEAR(t.weight(static_cast<int64_t>(k)), mean, 1e-6) << k;
  }
  EXPECT_NE(field(t.inspection(), "heads").find("mean"), std::string::npos);

  // Max needs no new rows: the same frame shows it.
  t.set_combine(TokenView::Combine::Max);
  h.frame(f.host(t));
  for (size_t k = 0; k < rows[0].size(); ++k) {
    const float mx = std::max({rows[0][k], rows[1][k], rows[2][k], rows[3][k]});
    EXPECT_NEAR(t.weight(static_cast<int64_t>(k)), mx, 1e-6) << k;
  }
  EXPECT_NE(field(t.inspection(), "heads").find("max"), std::string::npos);
  // The sink head makes position 0 the strongest key under max.
  EXPECT_EQ(t.top_keys().front().first, 0);
}

TEST(TokenView, ClickPinsTheQueryAndEscapeOrASecondClickUnpins) {
  ImGuiHarness h;
  Fixture f;
  TokenView t(f.vs);
  f.vs.layer = 1, f.vs.head = 1;
  ASSERT_TRUE(h.frames_until(f.host(t), [&] { return t.lines() > 0; }));
  auto click = [&](int64_t pos) {
    h.io().MousePos = *t.token_center(pos);
    h.frame(f.host(t));
    h.io().MouseDown[0] = true;
    h.frame(f.host(t));
    h.io().MouseDown[0] = false;
    h.frame(f.host(t));
  };
  click(50);
  EXPECT_EQ(t.pinned(), 50);
  // Pointing elsewhere keeps the pinned query.
  h.io().MousePos = *t.token_center(80);
  ASSERT_TRUE(h.frames_until(f.host(t), [&] { return !t.top_keys().empty() && !t.wants_redraw(); }));
  EXPECT_EQ(t.query(), 50);
  EXPECT_EQ(t.top_keys().front().first, 49);
  EXPECT_NE(field(t.inspection(), "query").find("(pinned)"), std::string::npos);
  click(50);
  EXPECT_FALSE(t.pinned());

  click(60);
  EXPECT_EQ(t.pinned(), 60);
  h.io().KeyMap[ImGuiKey_Escape] = 27;
  h.io().KeysDown[27] = true;
  h.frame(f.host(t));
  h.io().KeysDown[27] = false;
  h.frame(f.host(t));
  EXPECT_FALSE(t.pinned());
}

TEST(TokenView, ThousandsOfTokensCostOnlyTheScreenful) {
  DemoOptions o;
  o.prompt_tokens = 4000, o.decode_steps = 1, o.layers = 1, o.heads = 2, o.kv_heads = 1;
  const std::string path = test::fresh_session_path("tokens", "long.mnemo");
  write_demo_session(path, o);

  // The same window over the short demo (it fills the window too) and the long one.
  ImGuiHarness h(ImVec2(600, 260));
  Fixture small;
  TokenView short_view(small.vs);
  ASSERT_TRUE(h.frames_until(small.host(short_view), [&] { return short_view.lines() > 0; }));
  const int short_vertices = vertices(h.frame(small.host(short_view)));
  const int64_t short_drawn = short_view.drawn_tokens();
  ASSERT_LT(short_drawn, 216) << "the short demo overflows the window";

  Fixture f(path);
  TokenView t(f.vs);
  f.vs.head = 1;
  ASSERT_TRUE(h.frames_until(f.host(t), [&] { return f.vs.run_data() != nullptr; }));
  using Clock = std::chrono::steady_clock;
  auto start = Clock::now();
  h.frame(f.host(t));  // measures and lays out 4001 tokens
  const double layout_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  ASSERT_GT(t.lines(), 100u);
  EXPECT_LT(layout_ms, 250.0);

  // Every frame after the layout costs a screenful, wherever the view is.
  for (int64_t at : {int64_t{0}, int64_t{2000}, int64_t{3990}}) {
    t.scroll_to(at);
    h.frame(f.host(t));
    std::vector<double> ms;
    ImDrawData* dd = nullptr;
    for (int i = 0; i < 20; ++i) {
      start = Clock::now();
      dd = h.frame(f.host(t));
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    }
    std::sort(ms.begin(), ms.end());
    EXPECT_LT(ms[ms.size() / 2], 8.0) << "median frame at token " << at;
    EXPECT_LT(t.drawn_tokens(), short_drawn * 2) << "at token " << at;
    EXPECT_LT(vertices(dd), short_vertices * 2) << "at token " << at;
    EXPECT_TRUE(t.token_center(at)->y >= 0 && t.token_center(at)->y < 260) << "scrolled to token " << at;
  }

  // Pointing deep into the text works as at its start.
  hover_token(h, f, t, 3500);
  profiler::SessionReader reader(path);
  const auto p = reader.row(f.vs.run, 0, 1, 3500);
  EXPECT_EQ(t.top_keys().front().first, 3499);
  EXPECT_NEAR(t.top_keys().front().second, p[3499], 1e-6);
}

// A recurrent run: pointing at a token shades the keys by the layer's implicit attention (the
// reader's MixerMap rows) and the legend says that is what the weights are; a hybrid's softmax
// layer says softmax probabilities.
TEST(TokenView, ShadesARecurrentLayersImplicitAttentionAndSaysSo) {
  for (const char* mixer : {"gla", "mamba2"}) {
    SCOPED_TRACE(mixer);
    const std::string path = test::fresh_session_path("tokens", std::string(mixer) + ".mnemo");
    test::write_recurrent_session(path, mixer, true);
    ImGuiHarness h;
    Fixture f(path);
    ASSERT_TRUE(f.vs.has_run());
    TokenView t(f.vs);
    t.set_top_k(0);  // the only orange in the text is the shading
    f.vs.layer = 0, f.vs.head = 1;
    ASSERT_TRUE(h.frames_until(f.host(t), [&] { return t.lines() > 0 && !t.map_label().empty(); }));
    EXPECT_EQ(t.map_label(), "implicit attention, exact");
    EXPECT_EQ(field(t.inspection(), "values"), "implicit attention, exact");
    const int64_t query = test::RecurrentSession::kRows - 1;
    hover_token(h, f, t, query);
    profiler::SessionReader reader(path);
    const auto p = reader.row(f.vs.run, 0, 1, query);
    ASSERT_EQ(p.size(), static_cast<size_t>(query + 1));
    for (int64_t k = 0; k <= query; ++k) EXPECT_NEAR(t.weight(k), p[static_cast<size_t>(k)], 1e-6) << k;
    const int64_t strongest = std::max_element(p.begin(), p.end()) - p.begin();
    ASSERT_GT(p[static_cast<size_t>(strongest)], 0.f);
    EXPECT_EQ(t.top_keys().front().first, strongest);
    EXPECT_GE(shading_alpha(h.frame(f.host(t)), *t.token_rect(strongest)), 230);
    EXPECT_EQ(field(t.inspection(), "values"), "implicit attention, exact");
    EXPECT_EQ(field(t.inspection(), "weights"), "") << "no error for the query";

    f.vs.layer = 1;  // the hybrid's softmax layer
    ASSERT_TRUE(h.frames_until(f.host(t), [&] { return t.map_label() == "softmax probabilities" && !t.top_keys().empty(); }));
    const auto s = reader.row(f.vs.run, 1, 1, query);
    for (int64_t k = 0; k <= query; ++k) EXPECT_NEAR(t.weight(k), s[static_cast<size_t>(k)], 1e-6) << k;
    h.io().MousePos = ImVec2(-FLT_MAX, -FLT_MAX);
  }
}

TEST(TokenView, SaysSoWithoutASession) {
  ImGuiHarness h;
  ViewState none;
  TokenView t(none);
  h.frame([&] { t.draw(); });
  EXPECT_EQ(t.drawn_tokens(), 0);
  EXPECT_FALSE(t.query());
}

}  // namespace
}  // namespace mnemo::viz
