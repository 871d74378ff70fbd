// The Memory view on a recurrent memory transformer's session (recorded from the tiny rmt model by
// the memory.record_session fixture): the lineage of the shown memory is the reader's
// profiler::memory_lineage, drawn one row per slot, hovering a cell names the token and its
// share, and clicking it pins the token in the tokens view.
#include <gtest/gtest.h>

#include <filesystem>

#include "imgui_harness.h"
#include "mnemo/profiler/session/memory_lineage.h"
#include "mnemo/profiler/session/session_reader.h"
#include "mnemo/viz/memory_view.h"
#include "mnemo/viz/token_view.h"

namespace mnemo::viz {
namespace {

using test::field;
using test::Fixture;
using test::ImGuiHarness;

TEST(MemoryView, ShowsTheLineageOfARecurrentMemoryTransformersMemory) {
  const std::string path = MNEMO_MEMORY_SESSION;
  ASSERT_TRUE(std::filesystem::exists(path)) << path << ": run the memory.record_session test first";
  ImGuiHarness h(ImVec2(1800, 1000));
  Fixture f(path);
  ASSERT_TRUE(f.vs.has_run());
  MemoryView view(f.vs, f.textures);
  profiler::SessionReader reader(path);
  f.vs.layer = reader.run(f.vs.run).info.n_layers - 1;  // the memory is the last layer's output
  ASSERT_TRUE(h.frames_until(f.host(view), [&] {
    return view.memory() && view.memory()->layer == f.vs.layer && view.lineage_texture() && f.settled();
  }));
  ImDrawData* dd = h.frame(f.host(view));
  EXPECT_GE(ImGuiHarness::commands_with(dd, view.lineage_texture()), 1) << "the lineage is drawn";
  ASSERT_TRUE(view.memory()->has_lineage) << view.memory()->lineage_note;

  const MemoryView::Segment& shown = *view.shown_segment();
  const profiler::MemoryLineage want = profiler::memory_lineage(reader, f.vs.run, shown.segment);
  ASSERT_GT(shown.segment, 1);
  ASSERT_EQ(shown.lineage_positions, want.n_positions);
  ASSERT_EQ(shown.lineage, want.tokens);
  ASSERT_EQ(shown.learned, want.learned);
  const auto* img = f.textures.find(view.lineage_texture());
  ASSERT_NE(img, nullptr);
  EXPECT_EQ(img->w, want.n_positions);
  EXPECT_EQ(img->h, want.memory_slots);

  // Each row's largest share is the scale's full red; hovering a cell names the token and its share.
  for (int64_t slot = 0; slot < want.memory_slots; ++slot) {
    const float* row = want.tokens.data() + slot * want.n_positions;
    const int64_t top = std::max_element(row, row + want.n_positions) - row;
    EXPECT_EQ(img->at(static_cast<int>(top), static_cast<int>(slot)), MemoryView::diverging_color(1.f, 1.f));
    h.io().MousePos = *view.lineage_point(slot, top);
    h.frame(f.host(view));
    const Inspection& in = view.inspection();
    EXPECT_EQ(field(in, "slot"), std::to_string(slot));
    // A pixel may span more than one position: the one hovered is beside the one aimed at.
    const int64_t hovered = std::stoll(field(in, "token position"));
    EXPECT_LE(std::abs(hovered - top), 1);
    EXPECT_NEAR(std::stod(field(in, "share of the slot")), row[hovered], 1e-3 * row[hovered] + 1e-6);
    EXPECT_NEAR(std::stod(field(in, "learned memory's share")), want.learned[static_cast<size_t>(slot)], 1e-3);
  }

  // Reads and writes over the segments: slots × segments, each cell the reader's segment_attention
  // (reads: the tokens' mean probability on the slot, over heads; writes: head 0's write slot on
  // the tokens); a click shows the memory read or written.
  const int32_t heads = reader.layer(f.vs.run, f.vs.layer).n_heads;
  for (const auto mode : {MemoryView::Similarity::Reads, MemoryView::Similarity::Writes}) {
    const bool reads = mode == MemoryView::Similarity::Reads;
    view.set_similarity_mode(mode);
    view.set_reads_head(reads ? -1 : 0);
    h.frame(f.host(view));
    const auto* panel = f.textures.find(view.similarity_texture());
    ASSERT_NE(panel, nullptr);
    EXPECT_EQ(panel->h, want.memory_slots);
    const int64_t segments = panel->w;
    EXPECT_GE(segments, shown.segment + 1);
    for (const int64_t s : {int64_t{0}, shown.segment - 1}) {
      const int64_t slot = s % want.memory_slots;
      double expected = 0;
      for (int32_t head = 0; head < (reads ? heads : 1); ++head) {
        const profiler::SegmentAttention a = reader.segment_attention(f.vs.run, f.vs.layer, head, s);
        const int64_t M = a.memory_slots;
        for (int64_t t = 0; t < a.n_tokens; ++t)
          expected += reads ? a.token_reads[static_cast<size_t>(t * M + slot)] / static_cast<double>(a.n_tokens * heads)
                            : a.write_reads[static_cast<size_t>(slot * (2 * M + a.n_tokens) + M + t)];
      }
      h.io().MousePos = *view.reads_point(slot, s);
      h.frame(f.host(view));
      const Inspection& in = view.inspection();
      ASSERT_EQ(field(in, "segment"), std::to_string(s)) << (reads ? "reads" : "writes");
      EXPECT_EQ(field(in, "slot"), std::to_string(slot));
      EXPECT_NEAR(std::stod(field(in, reads ? "mean read probability" : "probability on the tokens")), expected,
                  1e-3 * expected + 1e-6);
    }
    h.io().MouseDown[0] = true;
    h.frame(f.host(view));
    h.io().MouseDown[0] = false;
    h.frame(f.host(view));
    EXPECT_EQ(view.shown_segment()->segment, reads ? shown.segment - 1 : shown.segment) << "the clicked segment's memory";
  }

  // A click on a cell asks the tokens view to pin that token (where it lives, from its side); the
  // tokens view takes the request on its next frame.
  h.io().MousePos = *view.lineage_point(0, 3);
  h.frame(f.host(view));
  const int64_t aimed = std::stoll(field(view.inspection(), "token position"));
  h.io().MouseDown[0] = true;
  h.frame(f.host(view));
  h.io().MouseDown[0] = false;
  h.frame(f.host(view));
  ASSERT_EQ(f.vs.pin_token, aimed);
  EXPECT_EQ(f.vs.requested_view, "tokens");
  TokenView tokens(f.vs);
  ASSERT_TRUE(h.frames_until(f.host(tokens), [&] { return tokens.pinned().has_value(); }));
  EXPECT_EQ(*tokens.pinned(), aimed);
  EXPECT_FALSE(f.vs.pin_token) << "the request is taken once";
}

}  // namespace
}  // namespace mnemo::viz
