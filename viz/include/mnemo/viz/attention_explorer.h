// The attention explorer: one head's query × key map at one step, from the whole sequence down
// to single cells. The view picks the pyramid level whose cells are about a pixel, draws the
// tiles it has as textures, stands in the nearest coarser tile for those still loading, and
// prefetches the ring around the view and the next finer level. Hovering a cell shows the
// query and key tokens and the exact score (recomputed from the factors when the tile under
// the pointer is pooled). A layer whose map kind offers channel maps (Mamba-1) gets a channel
// selector: the head's map (its kind's default view, the mean over channels) or one channel's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mnemo/viz/canvas.h"

namespace mnemo::viz {

class AttentionExplorer : public Canvas {
 public:
  explicit AttentionExplorer(ViewState& vs) : vs_(vs) {}
  const char* id() const override { return "attention"; }
  const char* title() const override { return "Attention explorer"; }
  void draw() override;
  // As of the last frame: what it drew while waiting, not what has arrived since (a result that
  // lands between drawing "…" and this call must still get its frame).
  bool wants_redraw() const override { return animating_ || loading_ || waiting_; }
  // Why wants_redraw() holds, for diagnostics ("animating loading waiting").
  std::string busy_reason() const {
    return std::string(animating_ ? "animating " : "") + (loading_ ? "loading " : "") + (waiting_ ? "waiting" : "");
  }

  // The view in map cells: centre and pixels per cell (tests and linked views set it).
  struct View {
    double cx = 0, cy = 0;  // map cell at the centre of the canvas (column, row)
    double zoom = 1;        // pixels per map cell
  };
  const View& view() const { return view_; }
  // A view set as if the user had moved there (by default): it stays when the canvas is resized.
  // Linked views pass on whether their leader's view is still its fit.
  void set_view(View v, bool moved_by_user = true) { view_ = target_ = v, fitted_ = true, moved_by_user_ = moved_by_user; }
  bool moved_by_user() const { return moved_by_user_; }
  void fit();  // the whole map in the canvas, next frame, and kept fitted until the user moves
  int level() const { return level_; }  // the pyramid level drawn last frame
  // What the drawn tiles hold, as the reader labels the layer's maps ("softmax probabilities"), and
  // why a tile in view could not be read (a damaged value, factors not recorded), last frame.
  const std::string& map_label() const { return label_; }
  const std::string& tile_error() const { return tile_error_; }
  // The map cell (row, column) under a screen position last frame (nullopt outside the map).
  std::optional<std::pair<int64_t, int64_t>> cell_at(ImVec2 screen) const;
  ImVec2 cell_center(int64_t row, int64_t col) const { return to_screen(col + 0.5, row + 0.5); }
  // Channel maps a head of the shown layer offers (0: none, and no selector), the channel chosen
  // (−1: the head's map), and whether last frame drew the selector.
  int64_t channels_per_head() const { return shape_.channels; }
  int64_t channel() const { return channel_; }
  void set_channel(int64_t channel) { channel_ = channel; }
  bool channel_selector_shown() const { return channel_selector_shown_; }
  int64_t map_rows() const { return shape_.rows; }
  int64_t map_cols() const { return shape_.cols; }
  int fit_level() const { return shape_.fit_level; }

 private:
  struct Shape {
    int64_t run = -1, step = -1;
    int32_t layer = -1, head = -1;
    int64_t rows = 0, cols = 0;
    int64_t channels = 0;  // channel maps per head (MapShape::channels_per_head)
    int fit_level = 0;     // the first level whose map fits one tile
    bool operator==(const Shape&) const = default;
  };
  void draw_toolbar();
  void draw_channel_selector();
  // The channel whose map is drawn: the one chosen while the layer has it, else −1 (the head's).
  int64_t shown_channel() const { return channel_ >= 0 && channel_ < shape_.channels ? channel_ : -1; }
  TileKey tile_key(int level, int64_t ty, int64_t tx) const;
  void update_shape();
  void handle_input(ImVec2 origin, ImVec2 size);
  void draw_map(ImDrawList* dl, ImVec2 origin, ImVec2 size);
  void draw_axes(ImDrawList* dl, ImVec2 origin, ImVec2 size);
  void draw_color_bar(ImDrawList* dl, ImVec2 at, float height);
  void hover(ImVec2 origin, ImVec2 size);
  void update_auto_range();
  ImVec2 to_screen(double col, double row) const;

  ViewState& vs_;
  View view_, target_;
  bool fitted_ = false, animating_ = false, loading_ = false, waiting_ = false;
  // Until the user zooms or pans, the fit follows the canvas's size (a compare side laid out
  // narrow on its first frame, a window resized).
  bool moved_by_user_ = false;
  ImVec2 fitted_size_{0, 0};
  int level_ = 0;
  ImVec2 map_origin_{}, map_size_{};
  struct {
    float left = 0, top = 0;
  } margins_;  // of the axes' labels, this frame
  Shape shape_;
  PendingPtr<profiler::MapShape> shape_pending_;
  Shape shape_asked_;
  // The exact score under the pointer: one query row, recomputed on the worker.
  struct RowKey {
    int64_t run = -1;
    int32_t layer = -1, head = -1;
    int64_t channel = -1;
    int64_t query = -1;
    bool operator==(const RowKey&) const = default;
  };
  RowKey row_key_;
  PendingPtr<std::vector<float>> row_;
  uint64_t range_for_ = 0;  // hash of the head whose overview set the colour range
  std::string error_;
  std::string label_, tile_error_;
  int64_t channel_ = -1;
  bool channel_selector_shown_ = false;
};

}  // namespace mnemo::viz
