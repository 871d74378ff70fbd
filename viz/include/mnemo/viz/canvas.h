// The canvases' common ground: what one side of the workspace shows (a session, a run, a step,
// a layer and head, the colour scale) and the interface every canvas implements. Each canvas is
// one class with its own state (STYLE.md §8); they share only a ViewState.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <imgui.h>

#include "mnemo/viz/color_scale.h"
#include "mnemo/viz/session_doc.h"
#include "mnemo/viz/tile_cache.h"

namespace mnemo::viz {

// What the Inspector panel shows about what is hovered (or, when nothing is, selected).
struct Inspection {
  std::string title;
  std::vector<std::pair<std::string, std::string>> fields;
  bool empty() const { return title.empty() && fields.empty(); }
  void clear() { title.clear(), fields.clear(); }
  void add(std::string name, std::string value) { fields.emplace_back(std::move(name), std::move(value)); }
};

// One side of the workspace. Compare holds two; every other canvas draws from one.
struct ViewState {
  ViewState() { scale.set_kind(profiler::ScaleKind::Log); }  // attention spans decades
  SessionDoc* doc = nullptr;
  int64_t run = -1;
  int64_t step = -1;  // -1 follows the newest step (a live recording keeps showing the latest)
  int32_t layer = 0, head = 0;
  ColorScale scale;
  bool auto_range = true;  // the colour range follows the head's overview
  Pool pool = Pool::Max;
  // The linked cursor: query and key positions under the pointer in any canvas of this side.
  std::optional<int64_t> cursor_query, cursor_key;
  bool cursor_linked = false;  // set by the other side of a comparison, not by this side's pointer
  // A canvas asking its host to bring another view forward ("attention" after a click on a head).
  std::string requested_view;
  // A canvas asking the tokens view to pin a token and scroll to it (the Memory view, after a
  // click on a lineage cell: where that token lives, read from its side); the tokens view takes it.
  std::optional<int64_t> pin_token;

  bool has_run() const { return doc && run >= 0; }
  const RunData* run_data() const { return has_run() ? doc->run(run) : nullptr; }
  // The step shown: `step`, or the run's newest when following.
  int64_t shown_step() const;
};

class Canvas {
 public:
  virtual ~Canvas() = default;
  virtual const char* id() const = 0;     // "attention", "overview", ... as the command line names views
  virtual const char* title() const = 0;  // for menus and tabs
  // Draws into the current ImGui window's content region.
  virtual void draw() = 0;
  // Whether the next frame should come soon even without input (an animation, data arriving).
  virtual bool wants_redraw() const { return false; }
  const Inspection& inspection() const { return inspection_; }

 protected:
  Inspection inspection_;
};

// Shared drawing helpers.
// A centred message in the remaining content region, for canvases without data to show.
void draw_notice(const char* message, const char* detail = nullptr);
// The notice of a run without a committed step (being recorded and not past its first step, or
// stopped before it): the views give it before they blame the captures for what is missing.
inline constexpr const char* kNoCommittedStep = "No committed step yet";
inline constexpr const char* kNoCommittedStepDetail =
    "This run has no committed step yet: it is still being recorded (the view follows as steps land), or its "
    "recorder stopped before the first step.";
// What a canvas with no run to show says: that its session could not be read and the reader's
// reason (a damaged or hostile file is refused with a message, never sized from), or that no
// session is open. `message` is a string literal.
struct NoRunNotice {
  const char* message;
  std::string detail;
};
NoRunNotice no_run_notice(const ViewState& vs);
// The canvas' standard header: run, step, layer and head pickers. Returns true when any changed.
bool draw_selection_bar(ViewState& vs, bool with_layer_head = true, bool with_step = true);
// Rotates the vertices added to `dl` since `first_vertex` by `radians` around `center`.
void rotate_vertices(ImDrawList* dl, int first_vertex, float radians, ImVec2 center);
// Human-readable sizes and durations.
std::string format_bytes(double bytes);
std::string format_duration_ns(double ns);

}  // namespace mnemo::viz
