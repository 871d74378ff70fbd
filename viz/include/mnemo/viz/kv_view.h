// The KV cache over a run: how many tokens and bytes each layer keeps at every step (line
// charts, one line per layer), and which positions one layer keeps, has evicted or has not seen
// yet at every step (a residency raster: x = position, y = step). A sliding-window policy shows
// as a diagonal band of residency with the sinks kept at the left edge; a full cache as a
// triangle. Hovering names the step, layer and position and what the cache held there.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mnemo/viz/canvas.h"
#include "mnemo/viz/texture_store.h"

namespace mnemo::viz {

class KvView : public Canvas {
 public:
  KvView(ViewState& vs, TextureStore& textures);
  ~KvView() override;
  KvView(const KvView&) = delete;
  KvView& operator=(const KvView&) = delete;

  const char* id() const override { return "kv"; }
  const char* title() const override { return "KV cache"; }
  void draw() override;
  bool wants_redraw() const override;

  // What the cache held at one (step, position).
  enum class Residency : uint8_t { NotWritten, Resident, Evicted };
  static uint32_t residency_color(Residency r);  // RGBA as packed by pack_rgba
  static const char* residency_name(Residency r);

  // All KV records of the run, a step × layer grid (the worker builds it from reader.kv()).
  struct Series {
    std::vector<int64_t> steps;               // the steps that have records, ascending
    int32_t layers = 0;                       // highest layer recorded + 1
    std::vector<profiler::KvRecord> records;  // [step index * layers + layer]
    std::vector<uint8_t> present;             // same index: whether that record exists
    std::vector<int64_t> written;             // per step index: positions written so far (exclusive end)
    int64_t positions = 0;                    // the raster's width: positions written by the last step
    int64_t max_resident = 0, max_bytes = 0;  // over every layer and step (chart ranges)
    const profiler::KvRecord* at(size_t step_index, int32_t layer) const;
    std::optional<size_t> step_index(int64_t step) const;
  };
  // One layer's residency image. Pooled when the run is larger than a texture: a pixel then
  // covers a block of positions × steps and shows the state most of its cells have (evicted
  // wins ties, so evictions stay visible).
  struct Raster {
    int32_t layer = -1;
    int w = 0, h = 0;
    int64_t positions_per_px = 1, steps_per_px = 1;
    std::vector<uint32_t> rgba;
  };
  static Residency residency(const Series& s, size_t step_index, int32_t layer, int64_t position);

  // For tests and linked views: the data once loaded, the shown layer's raster texture, and the
  // screen position (last frame) of the raster pixel holding (step, position).
  const Series* series() const { return series_.get(); }
  const std::string& notice() const { return notice_; }  // what the canvas says instead of plots ("" when it draws)
  ImTextureID raster_texture() const;
  const Raster* raster() const;
  std::optional<ImVec2> raster_point(int64_t step, int64_t position) const;
  std::optional<ImVec2> chart_point(int64_t step) const;  // x of a step on the token chart, y at its middle

 private:
  struct Axis {  // where a plot is on screen last frame
    ImVec2 origin{}, size{};
    bool valid() const { return size.x > 0 && size.y > 0; }
  };
  struct RasterSlot {
    Raster raster;
    ImTextureID texture = nullptr;
  };
  void notice(const char* message, const char* detail = nullptr);
  void request_series();
  void request_raster();
  void clear_textures();
  void draw_toolbar();
  void draw_chart(ImDrawList* dl, const Axis& a, bool bytes);
  void draw_layer_legend(ImDrawList* dl, ImVec2 at, float height);
  void draw_raster(ImDrawList* dl, const Axis& a);
  void draw_raster_legend(ImDrawList* dl, ImVec2 at);
  void hover_chart(const Axis& a, bool bytes);
  void hover_raster(const Axis& a);
  void inspect_step(size_t step_index, int32_t layer, std::optional<int64_t> position);
  ImU32 layer_color(int32_t layer, float alpha = 1.f) const;
  ImU32 shown_layer_color() const;

  ViewState& vs_;
  TextureStore& textures_;
  // The series of (run, generation) asked for; kept until a newer one arrives.
  int64_t series_run_ = -1;
  uint64_t series_generation_ = 0;
  bool series_asked_ = false;
  PendingPtr<std::shared_ptr<const Series>> series_pending_;
  std::shared_ptr<const Series> series_;
  std::string error_, notice_;
  // One raster per layer visited, until the series changes.
  std::map<int32_t, RasterSlot> rasters_;
  int32_t raster_asked_ = -1;
  PendingPtr<Raster> raster_pending_;
  Axis tokens_chart_, bytes_chart_, raster_axis_;
  bool cursor_set_ = false;  // this canvas put the linked cursor where it is
};

}  // namespace mnemo::viz
