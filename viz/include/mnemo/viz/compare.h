// Compare: two or more runs side by side (the primary and the secondary side of the workspace,
// and any runs added to the comparison) in any of the other views, with layer, head, step, cursor
// and (for attention) zoom linked across all of them, and a task prompt's answers with each run's
// prediction beside the maps; plus two views of its own, between the first two sides: the
// difference map of one head when both runs saw the same tokens, and the per-head metric deltas.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mnemo/viz/canvas.h"

namespace mnemo::viz {

class CompareCanvas : public Canvas {
 public:
  // Makes the canvas of a view for one side ("attention", "overview", ...); null when the view
  // does not exist in this build.
  using Factory = std::function<std::unique_ptr<Canvas>(const std::string& view, ViewState& side)>;
  // `views` lists the side-by-side views offered, in menu order.
  CompareCanvas(ViewState& left, ViewState& right, Factory make, std::vector<std::string> views, TextureStore& textures);
  ~CompareCanvas() override;

  const char* id() const override { return "compare"; }
  const char* title() const override { return "Compare"; }
  void draw() override;
  bool wants_redraw() const override;

  // "difference", "deltas", or one of the side-by-side views.
  const std::string& mode() const { return mode_; }
  void set_mode(const std::string& m) { mode_ = m; }
  Canvas* side(int i) const;  // the side's canvas in the current side-by-side mode (0 left, 1 right, 2...)

  // Sides beyond the two of the workspace: a run of an open session, shown as one more column.
  // The first of them copies the left side's layer, head and step. Returns the side's index.
  size_t add_side(SessionDoc* doc, int64_t run);
  void remove_side(size_t i);  // an added side (i >= 2)
  size_t side_count() const { return 2 + extra_.size(); }
  ViewState& side_state(size_t i) { return i == 0 ? left_ : i == 1 ? right_ : *extra_[i - 2]; }
  // Why the difference map cannot be drawn (token sequences differ, no attention), or "".
  const std::string& difference_problem() const { return diff_problem_; }
  // What the difference map subtracts, as its header says: both sides' map labels ("softmax
  // probabilities", "implicit attention, exact"), and that they differ when they do; "" before it
  // was drawn.
  const std::string& difference_label() const { return diff_label_; }
  // The answers table as last drawn (for tests): one row per answer position of either side.
  struct AnswerRow {
    int64_t position = 0;
    std::vector<int> right;  // per side: 1 right, 0 wrong, -1 no answer there
    float center_x = 0, center_y = 0;  // of the row on screen
  };
  const std::vector<AnswerRow>& answer_rows() const { return answer_rows_; }

 private:
  void draw_toolbar();
  void draw_side_by_side();
  // The task prompt's answers with each side's prediction and confidence, when a run has them;
  // hovering one puts both sides' cursors on the query row that predicts it.
  void draw_answers();
  void draw_difference();
  void draw_deltas();
  void link_selection();
  // The view's canvas of every side, made on first use.
  std::vector<std::unique_ptr<Canvas>>& canvases(const std::string& view);
  std::vector<ViewState*> sides();

  ViewState& left_;
  ViewState& right_;
  Factory make_;
  std::vector<std::string> views_;
  TextureStore& textures_;
  std::string mode_ = "attention";
  std::vector<std::unique_ptr<ViewState>> extra_;
  std::map<std::string, std::vector<std::unique_ptr<Canvas>>> canvases_;
  // What each side showed last frame, to tell which one the user changed.
  struct Picked {
    int64_t step = -2;
    int32_t layer = -1, head = -1;
  };
  std::vector<Picked> last_;

  // The difference map: both heads' overview tiles, subtracted, as one texture.
  struct Diff;
  std::unique_ptr<Diff> diff_;
  std::string diff_problem_, diff_label_;
  // Metric deltas: both runs' head metrics at the shown step.
  struct Deltas;
  std::unique_ptr<Deltas> deltas_;
  bool waiting_ = false;
  bool answer_hovered_ = false;  // this frame: the answers table holds both cursors
  std::vector<AnswerRow> answer_rows_;
};

}  // namespace mnemo::viz
