// The timeline: what each thread ran, op by op, over the run, with step boundaries, zoom about
// the pointer and pan by dragging, and a per-kind summary table. Only what is visible is read:
// when the view settles the lanes ask the worker for their part of it, and keep drawing the
// last answer meanwhile. A view spanning many ops draws the reader's level-of-detail buckets
// (busy fraction as the fill) instead of ops; ops narrower than a few pixels fold into one block.
//
// Lanes share one drawing sequence (STYLE.md §9, Tracy's TimelineItem::Draw): header label,
// time range, contents. A CPU thread's ops are one kind of lane; a GPU stream's kernels can be
// another without touching the Timeline.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mnemo/viz/canvas.h"

namespace mnemo::viz {

// Visible time ↔ screen x, for one frame.
struct TimeAxis {
  double t0 = 0, t1 = 1;    // visible time, ns on the session's clock
  float x0 = 0, width = 1;  // the lanes' contents on screen
  double ns_per_px() const { return (t1 - t0) / static_cast<double>(width); }
  float x_of(double t) const { return x0 + static_cast<float>((t - t0) / ns_per_px()); }
  float x_of(int64_t t) const { return x_of(static_cast<double>(t)); }
  double t_of(float x) const { return t0 + static_cast<double>(x - x0) * ns_per_px(); }
};

// What one lane is given for a frame.
struct LaneFrame {
  ImDrawList* dl = nullptr;
  TimeAxis axis;
  float top = 0;          // the lane's top edge
  float header_x = 0;     // the header gutter's left edge (contents start at axis.x0)
  int64_t origin_ns = 0;  // times are labelled relative to this (the run's start)
  ImVec2 mouse{};
  bool hovered = false;         // the pointer is over the lanes' item
  Inspection* hover = nullptr;  // filled when the pointer is over something of this lane
};

// A horizontal lane of the timeline. draw() is the template method every lane shares.
class TimelineLane {
 public:
  virtual ~TimelineLane() = default;
  // Prepare, header, range and contents, clipped to the lane; returns the height used.
  float draw(const LaneFrame& f);
  // Asks for the data of [t0, t1), which spans `pixels` on screen; the lane keeps drawing what
  // it has until the answer arrives.
  virtual void fetch(SessionWorker& worker, int64_t run, int64_t t0, int64_t t1, int64_t pixels) = 0;
  virtual bool loading() const = 0;
  virtual float height() const { return 44.f; }

 protected:
  virtual void prepare() {}  // takes what arrived from the worker, before anything is drawn
  virtual std::string header_label() const = 0;
  // The time this lane has data in, when known: outside it the lane is shaded as empty.
  virtual std::optional<std::pair<int64_t, int64_t>> range() const = 0;
  virtual void draw_contents(const LaneFrame& f, ImVec2 min, ImVec2 max) = 0;
};

// One CPU thread's ops.
class OpThreadLane : public TimelineLane {
 public:
  // What the lane drew from: ops, or buckets (with the ops that are the longest in them).
  struct Data {
    int64_t t0 = 0, t1 = 0;  // the time fetched
    bool buckets_mode = false;
    std::vector<profiler::TimelineBucket> buckets;
    std::vector<profiler::OpRow> ops;  // all ops in [t0, t1), or in buckets mode the buckets' longest ones
  };
  OpThreadLane(int64_t thread, std::pair<int64_t, int64_t> extent) : thread_(thread), extent_(extent) {}
  int64_t thread() const { return thread_; }
  void set_extent(std::pair<int64_t, int64_t> extent) { extent_ = extent; }
  const Data* data() const { return data_.get(); }
  void fetch(SessionWorker& worker, int64_t run, int64_t t0, int64_t t1, int64_t pixels) override;
  bool loading() const override;
  // Ops per pixel (over what is fetched) above which the lane draws buckets: ops then average
  // under 4 pixels, too narrow to tell apart, and reading them costs more than drawing them.
  static constexpr double kOpsPerPixelForBuckets = 0.25;
  static constexpr float kFoldPx = 3.f;    // ops narrower than this fold into blocks
  static constexpr int64_t kBucketPx = 2;  // screen pixels per level-of-detail bucket

 protected:
  std::string header_label() const override;
  std::optional<std::pair<int64_t, int64_t>> range() const override { return extent_; }
  void draw_contents(const LaneFrame& f, ImVec2 min, ImVec2 max) override;

 private:
  void prepare() override;
  void draw_buckets(const LaneFrame& f, ImVec2 min, ImVec2 max);
  void draw_ops(const LaneFrame& f, ImVec2 min, ImVec2 max);

  int64_t thread_;
  std::pair<int64_t, int64_t> extent_;  // first op start, last op end
  std::shared_ptr<const Data> data_;
  PendingPtr<std::shared_ptr<const Data>> pending_;
};

class Timeline : public Canvas {
 public:
  explicit Timeline(ViewState& vs) : vs_(vs) {}
  const char* id() const override { return "timeline"; }
  const char* title() const override { return "Timeline"; }
  void draw() override;
  bool wants_redraw() const override;

  struct View {
    double t0 = 0, t1 = 0;  // visible ns
  };
  const View& view() const { return view_; }
  void set_view(View v) { view_ = v, fitted_ = true; }
  void fit() { fitted_ = false; }

  // The per-kind summary, as the table shows it (sorted by its current column).
  struct KindStats {
    std::string kind;
    int64_t count = 0, total_ns = 0, max_ns = 0;
    double share = 0;  // total ÷ wall time of the scope (sums over threads, so may pass 1)
  };
  const std::vector<KindStats>& summary() const { return summary_; }
  bool summary_visible_only() const { return summary_visible_only_; }
  void set_summary_visible_only(bool v) { summary_visible_only_ = v; }

  // For tests: lanes and positions (last frame).
  const OpThreadLane* thread_lane(int64_t thread) const;
  std::optional<ImVec2> lane_point(int64_t thread, double t_ns) const;
  const TimeAxis& axis() const { return axis_; }
  const std::string& notice() const { return notice_; }
  int64_t origin_ns() const { return origin_ns_; }

 private:
  struct RunMeta {
    std::vector<int64_t> threads;
    std::vector<std::pair<int64_t, int64_t>> extents;  // per thread: first op start, last op end
    int64_t t0 = 0, t1 = 0;                            // ops and steps together
  };
  void notice(const char* message, const char* detail = nullptr);
  void load_meta();
  void handle_input(const TimeAxis& axis);
  void maybe_fetch();
  void request_summary();
  void draw_time_axis(ImDrawList* dl, const TimeAxis& axis, float top, float bottom);
  void draw_steps(ImDrawList* dl, const TimeAxis& axis, float top, float bottom);
  void draw_summary_table();
  void sort_summary();
  void inspect_view();

  ViewState& vs_;
  int64_t meta_run_ = -1;
  uint64_t meta_generation_ = 0;
  PendingPtr<RunMeta> meta_pending_;
  std::optional<RunMeta> meta_;
  std::string error_, notice_;
  std::vector<std::unique_ptr<OpThreadLane>> lanes_;
  View view_;
  bool fitted_ = false;
  TimeAxis axis_;
  int64_t origin_ns_ = 0;
  float lanes_top_ = 0;
  // Fetching what is visible: after the view has been still for a moment.
  View fetched_{-1, -1};
  float fetched_width_ = 0;
  View last_view_;
  double still_since_ = 0;
  bool fetch_due_ = false;  // the view moved past what was fetched; waiting for it to settle
  std::vector<float> lane_tops_;
  // Summary.
  bool summary_visible_only_ = false;
  PendingPtr<std::vector<KindStats>> summary_pending_;
  std::vector<KindStats> summary_;
  View summary_for_{-1, -1};
  int sort_column_ = 2;  // total
  bool sort_ascending_ = false;
};

}  // namespace mnemo::viz
