// Memory tokens (or a recurrent state) of one layer, as the run recorded them at each segment
// boundary (for runs that record recurrent states as statistics instead, _state_stat: each head's
// state norm and effective rank over the steps, one line per head): the slots × dimensions contents as a heatmap on a diverging scale centred on 0, each
// slot's norm as a bar, and how similar the memory is from segment to segment (or slot to slot
// within one segment). Architectures without memory (a plain transformer) get a notice saying
// so; the KV view shows what they keep instead.
//
// For a recurrent memory transformer (a run recorded under the mask "segments") it also shows the
// reads and writes of the memory by each head over the segments, and the lineage of the segment's
// memory: how much of each slot derives from each input token before it
// and from the learned memory (profiler::memory_lineage: attention rollout through the recorded
// reads and writes; docs/ARCHITECTURES.md states the method), one row per slot, so a row is what a
// slot remembers and a column is where a token lives.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mnemo/viz/canvas.h"
#include "mnemo/viz/texture_store.h"

namespace mnemo::viz {

class MemoryView : public Canvas {
 public:
  MemoryView(ViewState& vs, TextureStore& textures);
  ~MemoryView() override;
  MemoryView(const MemoryView&) = delete;
  MemoryView& operator=(const MemoryView&) = delete;

  const char* id() const override { return "memory"; }
  const char* title() const override { return "Memory"; }
  void draw() override;
  bool wants_redraw() const override { return pending_ != nullptr || states_pending_ != nullptr; }

  // The diverging scale: Moreland's cool–warm ramp (the control points of matplotlib's
  // "coolwarm": blue (59, 76, 192) → light grey (221, 221, 221) → red (180, 4, 38)), interpolated
  // in sRGB into 257 entries (0 falls on the centre one). v is mapped from [−abs_max, abs_max] with 0 at the grey
  // centre; negative is blue, positive red; non-finite values are dark grey.
  static uint32_t diverging_color(float v, float abs_max);

  // One snapshot, decoded: a segment's memory at the step that wrote it.
  struct Segment {
    int64_t segment = 0, step = 0;
    std::string kind;                    // memory_tokens | recurrent_state
    int64_t rows = 0, cols = 0;          // slots × dimensions
    std::vector<float> values;           // [rows][cols]
    std::vector<float> norms;            // [rows], as recorded
    std::vector<float> slot_similarity;  // [rows][rows] cosine between slots; empty when rows is too large
    // Recurrent memory transformers: the memory's lineage, [rows][lineage_positions] shares of the
    // tokens before this segment, and [rows] shares of the learned memory; empty otherwise.
    int64_t lineage_positions = 0;
    std::vector<float> lineage, learned;
  };
  // One layer's snapshots of one kind, in segment order.
  struct LayerMemory {
    int32_t layer = -1;
    std::string kind;
    std::vector<std::string> kinds;  // every kind the layer has (a picker when more than one)
    std::vector<Segment> segments;
    float abs_max = 0;  // the largest |value| over every segment: one colour range for the layer
    // [segments][segments]: cosine of the flattened memories (NaN between different shapes).
    std::vector<float> segment_similarity;
    bool has_lineage = false;
    std::string lineage_note;             // why there is no lineage, when the run could have one
    // Recurrent memory transformers: the reads and writes of each head at each segment s (the
    // attention the lineage is made of), [heads][attention_segments][slots]: reads, the mean over
    // s's tokens of each token's probability on read slot j (of mem_s); writes, write slot j's
    // probability on s's tokens (what went into mem_{s+1}; NaN for a partial segment).
    int32_t heads = 0;
    int64_t attention_segments = 0;
    std::vector<float> reads, writes;
    std::vector<std::string> token_text;  // by position, for the lineage's tooltips
  };
  // What the bottom-left panel shows: similarity (segment × segment, slot × slot), or the memory's
  // reads and writes over the segments (slots × segments).
  enum class Similarity { Segments, Slots, Reads, Writes };

  // A recurrent layer's state statistics (_state_stat) over the steps: per head, the Frobenius
  // norm and the effective rank (participation ratio, docs/SESSION_FORMAT.md), drawn as one line
  // per head for runs that have them.
  struct StateSeries {
    int64_t run = -1;
    int32_t layer = -1, heads = 0;
    std::vector<int64_t> steps;     // ascending
    std::vector<double> norm, rank;  // [heads][steps]; NaN where a head has no row at a step
    std::vector<int32_t> layers_with_state;  // of the whole run, ascending (a hybrid's recurrent layers)
  };
  const StateSeries* state_series() const { return states_.get(); }

  // For tests: the data shown, the textures, and screen positions (last frame) of cells.
  const LayerMemory* memory() const { return memory_.get(); }
  const Segment* shown_segment() const;
  ImTextureID heatmap_texture() const { return heat_.texture; }
  ImTextureID similarity_texture() const { return sim_.texture; }
  Similarity similarity_mode() const { return mode_; }
  void set_similarity_mode(Similarity m) { mode_ = m, mode_chosen_ = true; }
  void show_segment(int64_t segment) { segment_ = segment; }
  // The head whose reads and writes are shown; -1: the mean over heads.
  void set_reads_head(int32_t head) { reads_head_ = head; }
  std::optional<ImVec2> reads_point(int64_t slot, int64_t segment) const;  // Reads or Writes shown
  std::optional<ImVec2> heatmap_point(int64_t slot, int64_t dim) const;
  std::optional<ImVec2> similarity_point(int64_t a, int64_t b) const;
  std::optional<ImVec2> norm_bar_point(int64_t slot) const;
  std::optional<ImVec2> lineage_point(int64_t slot, int64_t position) const;
  ImTextureID lineage_texture() const { return lin_.texture; }
  const std::string& notice() const { return notice_; }

 private:
  struct Plot {
    ImVec2 origin{}, size{};
  };
  struct Texture {
    ImTextureID texture = nullptr;
    int w = 0, h = 0;
    uint64_t key = 0;  // what it shows (segment, mode, range), so it is rebuilt only on change
  };
  void notice(const std::string& message, const char* detail = nullptr);
  bool explain_missing_memory();
  void request();
  void request_states();
  void draw_states();
  void draw_layer_picker();
  void draw_toolbar();
  void update_textures(const Segment& seg);
  void upload(Texture& t, int w, int h, const std::vector<uint32_t>& rgba, uint64_t key);
  void draw_heatmap(ImDrawList* dl, const Segment& seg);
  void draw_norms(ImDrawList* dl, const Segment& seg);
  void draw_similarity(ImDrawList* dl, const Segment& seg);
  void draw_lineage(ImDrawList* dl, const Segment& seg);
  void draw_reads(ImDrawList* dl, const Segment& seg);
  // The reads or writes shown ([slots][attention segments]) for the chosen head or their mean.
  std::vector<float> reads_matrix() const;
  void draw_color_bar(ImDrawList* dl, ImVec2 at, float width, float lo, float hi, const char* label);
  void hover(const Segment& seg, const Plot* hovered, bool clicked);
  void inspect_default(const Segment& seg);
  size_t shown_index() const;

  ViewState& vs_;
  TextureStore& textures_;
  int64_t asked_run_ = -1;
  int32_t asked_layer_ = -1;
  uint64_t asked_generation_ = 0;
  std::string asked_kind_;
  PendingPtr<std::shared_ptr<const LayerMemory>> pending_;
  std::shared_ptr<const LayerMemory> memory_;
  std::string error_, notice_, kind_;
  int64_t segment_ = -1;  // the segment shown; -1 follows the newest
  Similarity mode_ = Similarity::Segments;
  bool mode_chosen_ = false;  // until the user picks, one segment means the slot matrix
  bool per_segment_range_ = false;
  int32_t reads_head_ = -1;
  int64_t states_run_ = -1;
  int32_t states_layer_ = -1;
  uint64_t states_generation_ = 0;
  PendingPtr<std::shared_ptr<const StateSeries>> states_pending_;
  std::shared_ptr<const StateSeries> states_;
  Texture heat_, sim_, lin_;
  Plot heat_plot_, norm_plot_, sim_plot_, lin_plot_;
};

}  // namespace mnemo::viz
