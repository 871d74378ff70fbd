// The model overview: every layer × head of a run at one step, each as a thumbnail of its
// attention map with its metrics (entropy, mean distance, sink mass, sparsity), in a layer × head
// grid or ranked by a metric and filtered to a range of it. Thumbnails are the heads' overview
// tiles max-pooled to at most 64 × 64 on the worker (peaks stay visible), normalised per head
// (head_full_scale) and packed into one atlas texture; they arrive one by one in the background.
// Hovering a head fills the Inspector; clicking it opens it in the attention explorer.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mnemo/viz/canvas.h"
#include "mnemo/viz/texture_store.h"

namespace mnemo::viz {

enum class HeadMetric { Entropy, MeanDistance, SinkMass, Sparsity };
inline constexpr int kHeadMetrics = 4;
const char* head_metric_name(HeadMetric m);
// What a head's thumbnail shows at full scale: the kFullScaleQuantile quantile of its positive
// pooled scores. Not the maximum: the first queries of a causal map see a key or two, so every
// head peaks near 1 there and dividing by the peak would leave diffuse heads dark.
float head_full_scale(std::span<const float> pooled);
double head_metric_value(const profiler::HeadMetrics& m, HeadMetric which);

class ModelOverview : public Canvas {
 public:
  static constexpr int kThumbMax = 64;  // thumbnail side, pixels (= pooled map cells)

  // `textures` holds the thumbnail atlas (the tile cache's store serves, as in the app).
  ModelOverview(ViewState& vs, TextureStore& textures);
  ~ModelOverview() override;
  ModelOverview(const ModelOverview&) = delete;
  ModelOverview& operator=(const ModelOverview&) = delete;

  const char* id() const override { return "overview"; }
  const char* title() const override { return "Model overview"; }
  void draw() override;
  bool wants_redraw() const override { return loading_; }

  static constexpr double kFullScaleQuantile = 0.995;

  // One head's thumbnail: its overview tile max-pooled, over the head's own full scale.
  struct Thumbnail {
    int w = 0, h = 0;             // pixels
    std::vector<float> values;    // [h][w] in [0, 1]
    float peak = 0;               // the largest pooled score
    float full_scale = 0;         // what maps to 1 (head_full_scale)
    int level = 0, pool = 1;      // the overview's pyramid level; tile cells per pixel side
    int64_t map_rows = 0, map_cols = 0;
    std::string label;            // what the head's map is, as the reader labels it
  };
  enum class Arrange { Grid, Ranked };

  // What the tests and linked views read and set.
  int32_t layers() const { return layers_; }
  int32_t heads() const { return heads_; }
  const Thumbnail* thumbnail(int32_t layer, int32_t head) const;
  size_t thumbnails_loaded() const { return loaded_; }
  // Whether every head drawn in the last frame (the rows scrolled into view) shows its
  // thumbnail or its error, and at least one was drawn.
  bool drawn_thumbnails_loaded() const;
  std::optional<profiler::HeadMetrics> metrics(int32_t layer, int32_t head) const;
  bool metrics_loaded() const { return metrics_done_; }
  // The heads drawn, in order (layer-major in the grid; by the metric when ranked; filtered).
  const std::vector<std::pair<int32_t, int32_t>>& order() const { return order_; }
  // Where a head's thumbnail was drawn last frame (nullopt when it was not).
  std::optional<ImVec2> thumbnail_center(int32_t layer, int32_t head) const;
  ImTextureID atlas() const { return atlas_; }
  // The atlas pixel where a head's thumbnail starts.
  std::pair<int, int> atlas_origin(int32_t layer, int32_t head) const;
  const char* notice() const { return notice_; }  // the message drawn instead of heads, or nullptr
  // What the thumbnails are, as the toolbar says it: "values: softmax probabilities", or for a
  // model whose layers differ (a hybrid) each label with its layers; "" before any arrived.
  const std::string& values_label() const { return values_label_; }

  void set_metric(HeadMetric m) { metric_ = m, range_user_ = false; }
  void set_arrange(Arrange a) { arrange_ = a; }
  void set_descending(bool d) { descending_ = d; }
  void set_range(float lo, float hi) { range_lo_ = lo, range_hi_ = hi, range_user_ = true; }

 private:
  struct Key {
    int64_t run = -1, step = -1;
    int32_t layers = 0, heads = 0;
    bool operator==(const Key&) const = default;
  };
  struct Slot {
    PendingPtr<Thumbnail> pending;
    std::optional<Thumbnail> thumb;
    std::string error;
    bool stale_pixels = false;  // the atlas holds an older step's thumbnail here
  };
  struct CellRect {
    int32_t layer = 0, head = 0;
    ImVec2 min, max;  // the thumbnail's square, screen
  };

  void sync();  // restarts loads when the run or step changed; takes what arrived
  void restart(const Key& key);
  void update_atlas();
  void update_values_label();
  void color_thumbnail(size_t slot);
  void draw_toolbar();
  void draw_legend();
  void arrange_heads();
  void draw_heads();
  void draw_cell(ImDrawList* dl, const CellRect& c, int rank, bool in_range);
  void inspect_head(int32_t layer, int32_t head);
  void inspect_run();
  std::optional<double> value(int32_t layer, int32_t head) const;  // of the chosen metric
  bool in_range(int32_t layer, int32_t head) const;                 // has it, inside the filter
  size_t slot_of(int32_t layer, int32_t head) const { return static_cast<size_t>(layer) * static_cast<size_t>(heads_) + static_cast<size_t>(head); }

  ViewState& vs_;
  TextureStore& textures_;
  Key key_;
  int32_t layers_ = 0, heads_ = 0;
  std::vector<Slot> slots_;
  size_t loaded_ = 0;
  bool loading_ = false;
  // Bumped at every restart: queued jobs of an older epoch skip their work.
  std::shared_ptr<std::atomic<uint64_t>> epoch_ = std::make_shared<std::atomic<uint64_t>>(0);
  PendingPtr<std::vector<profiler::HeadMetricRecord>> metrics_pending_;
  std::vector<std::optional<profiler::HeadMetrics>> metrics_;
  bool metrics_done_ = false;
  std::string metrics_error_;

  // The atlas: kAtlasColumns thumbnails a row, one kThumbMax square each, slot order.
  ImTextureID atlas_ = nullptr;
  int atlas_w_ = 0, atlas_h_ = 0;
  std::vector<uint32_t> atlas_pixels_;
  bool atlas_dirty_ = false;
  std::vector<size_t> to_color_;
  ColorScale thumb_scale_;
  struct ScaleLook {
    const profiler::Colormap* map = nullptr;
    profiler::ScaleKind kind = profiler::ScaleKind::Linear;
    float log_floor = 0;
    bool operator==(const ScaleLook&) const = default;
  } look_;

  HeadMetric metric_ = HeadMetric::Entropy;
  Arrange arrange_ = Arrange::Grid;
  bool descending_ = true;
  float range_lo_ = 0, range_hi_ = 0;  // the filter; follows the data until the user edits it
  bool range_user_ = false;
  float data_lo_ = 0, data_hi_ = 0;    // the metric's range over the heads that have it
  std::vector<std::pair<int32_t, int32_t>> order_;
  std::vector<CellRect> cells_;        // drawn last frame
  const char* notice_ = nullptr;
  std::string values_label_;
};

}  // namespace mnemo::viz
