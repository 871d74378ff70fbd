// The token view: the run's text as tokens, wrapped like running text. Pointing at a token (a
// query) shades every key token by the attention it gets from the query (BertViz-style) and
// draws lines to the strongest keys, for the current head or all heads of the layer (mean or
// max). The layout is computed once per run generation and width; a frame draws only the lines
// on screen and finds the token under the pointer by binary search, so thousands of tokens cost
// no more than a screenful. A click pins the query; a second click or Escape unpins it.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mnemo/viz/canvas.h"

namespace mnemo::viz {

class TokenView : public Canvas {
 public:
  explicit TokenView(ViewState& vs) : vs_(vs) {}
  const char* id() const override { return "tokens"; }
  const char* title() const override { return "Tokens"; }
  void draw() override;
  bool wants_redraw() const override { return loading_; }

  static constexpr ImU32 kShade = IM_COL32(255, 146, 36, 255);  // the keys' shading, at full weight

  enum class Combine { Mean, Max };
  void set_all_heads(bool all) { all_heads_ = all; }
  void set_combine(Combine c) { combine_ = c; }
  void set_top_k(int k) { top_k_ = k; }
  void scroll_to(int64_t position) { scroll_to_ = position; }  // next frame

  // What the tests and linked views read.
  std::optional<int64_t> query() const { return query_; }    // the hovered or pinned token
  std::optional<int64_t> pinned() const { return pinned_; }
  // The query's strongest keys (position, combined weight), strongest first, once they arrived.
  const std::vector<std::pair<int64_t, float>>& top_keys() const { return top_; }
  // The combined weight a key gets from the query (NaN while none is shown).
  float weight(int64_t key) const;
  // How strongly a key's box is shaded, 0 … 1 (0 when nothing is shown).
  float shade(int64_t key) const;
  // A token's box last frame, in screen coordinates (nullopt before any layout).
  std::optional<std::pair<ImVec2, ImVec2>> token_rect(int64_t position) const;
  std::optional<ImVec2> token_center(int64_t position) const;
  int64_t drawn_tokens() const { return drawn_; }  // tokens drawn last frame
  // What the weights are, as the reader labels the layer's maps ("softmax probabilities",
  // "implicit attention, exact", ...); "" until it arrived. Drawn in the legend.
  const std::string& map_label() const { return label_; }
  size_t lines() const { return line_first_.empty() ? 0 : line_first_.size() - 1; }

 private:
  // A token as drawn: its text without the leading space (the gap before the box shows it).
  struct Measured {
    std::string text;
    float width = 0;           // of the text
    bool space_before = false;  // a word starts here
    int breaks_after = 0;       // newlines in the token
    bool generated = false;     // written by a decode step (the prompt is prefill)
  };
  struct Box {
    float x = 0, w = 0;  // relative to the text's left edge
    int64_t line = 0;
  };
  struct RowsKey {
    int64_t run = -1;
    int32_t layer = -1, head = -1;  // head -1: every head of the layer
    int64_t query = -1;
    bool operator==(const RowsKey&) const = default;
  };
  using Rows = std::vector<std::vector<float>>;  // one row of weights per head

  void draw_toolbar();
  void measure(const RunData& d);
  void lay_out(float width);
  int64_t token_at(ImVec2 local) const;
  void request_rows();
  void request_label();
  void combine_rows();
  void draw_text(ImDrawList* dl, ImVec2 origin, int64_t line0, int64_t line1);
  void draw_links(ImDrawList* dl, ImVec2 origin);
  void inspect();
  ImVec2 box_min(int64_t position, ImVec2 origin) const;

  ViewState& vs_;
  bool all_heads_ = false;
  Combine combine_ = Combine::Mean;
  int top_k_ = 5;
  bool loading_ = false;
  std::optional<int64_t> scroll_to_;

  // Measured once per (run, generation, font size); laid out again when the width changes.
  int64_t measured_run_ = -1;
  uint64_t measured_generation_ = 0;
  float measured_font_ = 0;
  std::vector<Measured> tokens_;
  int64_t generated_ = 0;  // tokens written by decode steps
  float laid_out_width_ = -1;
  std::vector<Box> boxes_;
  std::vector<int64_t> line_first_;  // first token of each line, then the token count
  float line_h_ = 0;
  ImVec2 origin_{};  // screen position of the text's top-left corner last frame
  int64_t drawn_ = 0;

  std::optional<int64_t> hovered_, pinned_, query_;
  // Rows of recent queries (the pointer goes back and forth), newest first.
  std::deque<std::pair<RowsKey, Rows>> recent_;
  RowsKey asked_;               // the rows wanted now
  RowsKey pending_for_;         // the rows pending_ computes
  PendingPtr<Rows> pending_;
  // Bumped at every new query: a queued job for an older one skips its work.
  std::shared_ptr<std::atomic<uint64_t>> wanted_ = std::make_shared<std::atomic<uint64_t>>(0);
  std::string error_;
  // The label of the shown layer's maps, asked for once per (run, layer).
  std::pair<int64_t, int32_t> label_for_{-1, -1};
  PendingPtr<std::string> label_pending_;
  std::string label_;
  // What is shown for the current query: combined weights, their largest, the top keys.
  RowsKey shown_;
  Combine shown_combine_ = Combine::Mean;
  int shown_top_k_ = 0;
  std::vector<float> weights_;
  float peak_ = 0;
  std::vector<std::pair<int64_t, float>> top_;
};

}  // namespace mnemo::viz
