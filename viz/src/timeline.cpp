#include "mnemo/viz/timeline.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

namespace mnemo::viz {
namespace {

constexpr float kHeaderWidth = 118.f;  // lane labels
constexpr float kAxisHeight = 46.f;    // time ticks, then step markers
constexpr double kDebounceS = 0.08;    // the view must be still this long before a fetch
constexpr double kMinSpanNs = 200;
constexpr float kMinTableHeight = 150.f;

// One colour per op kind, the same in lanes and in the summary (Tableau 10).
ImU32 kind_color(const std::string& kind) {
  static const std::map<std::string, ImU32> known = {
      {"embed", IM_COL32(156, 117, 95, 255)},    {"norm", IM_COL32(118, 183, 178, 255)},
      {"matmul", IM_COL32(78, 121, 167, 255)},   {"rope", IM_COL32(237, 201, 72, 255)},
      {"attention", IM_COL32(225, 87, 89, 255)}, {"activation", IM_COL32(89, 161, 79, 255)},
      {"add", IM_COL32(176, 122, 161, 255)},     {"lm_head", IM_COL32(242, 142, 43, 255)}};
  if (auto it = known.find(kind); it != known.end()) return it->second;
  static const ImU32 spare[] = {IM_COL32(255, 157, 167, 255), IM_COL32(186, 176, 172, 255),
                                IM_COL32(140, 200, 240, 255)};
  return spare[std::hash<std::string>{}(kind) % std::size(spare)];
}

ImU32 text_on(ImU32 fill) {
  const float r = static_cast<float>(fill & 0xFF), g = static_cast<float>((fill >> 8) & 0xFF),
              b = static_cast<float>((fill >> 16) & 0xFF);
  return 0.299f * r + 0.587f * g + 0.114f * b > 150.f ? IM_COL32(20, 20, 24, 255) : IM_COL32(250, 250, 250, 255);
}

double nice_step(double min_step) {
  if (!(min_step > 0)) return 1;
  const double p = std::pow(10.0, std::floor(std::log10(min_step)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (p * m >= min_step * (1 - 1e-9)) return p * m;
  return 10 * p;
}

// A time relative to the run's start, in the unit of the tick step, with as many decimals as the
// step needs ("1.5 ms" on a 0.5 ms grid).
std::string tick_label(double ns, double step_ns) {
  const char* unit = "ns";
  double scale = 1;
  if (step_ns >= 1e9) unit = "s", scale = 1e9;
  else if (step_ns >= 1e6) unit = "ms", scale = 1e6;
  else if (step_ns >= 1e3) unit = "µs", scale = 1e3;
  const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step_ns / scale) - 1e-9)));
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f %s", decimals, std::abs(ns) < step_ns * 1e-6 ? 0.0 : ns / scale, unit);
  return buf;
}

std::string dur(int64_t ns) { return format_duration_ns(static_cast<double>(ns)); }
// A time relative to the run's start: "+1.25 ms", "−40 µs".
std::string relative(double ns) { return (ns < 0 ? "−" : "+") + format_duration_ns(std::abs(ns)); }
std::string relative(int64_t ns) { return relative(static_cast<double>(ns)); }
double busy_fraction(const profiler::TimelineBucket& b) {
  return std::clamp(static_cast<double>(b.busy_ns) / static_cast<double>(std::max<int64_t>(1, b.t1_ns - b.t0_ns)), 0.0,
                    1.0);
}

std::string op_label(const profiler::OpRow& o, bool with_place) {
  std::string s = o.kind;
  if (with_place && o.layer >= 0) s += " L" + std::to_string(o.layer);
  if (with_place && o.head >= 0) s += " h" + std::to_string(o.head);
  return s;
}

// The reader has no lookup by op id; the public `op` view (profiler/schema) is the documented way.
std::vector<profiler::OpRow> ops_by_id(const profiler::SessionReader& r, int64_t run, const std::vector<int64_t>& ids) {
  std::vector<profiler::OpRow> out;
  profiler::Stmt s = r.db().prepare(
      "SELECT op_id, step, kind, layer, head, thread, start_ns, end_ns FROM op WHERE run_id = ? AND op_id = ?");
  for (int64_t id : ids) {
    s.reset();
    s.bind(1, run).bind(2, id);
    if (s.step())
      out.push_back({s.integer(0), s.integer(1), s.text(2), static_cast<int32_t>(s.integer(3)),
                     static_cast<int32_t>(s.integer(4)), static_cast<int32_t>(s.integer(5)), s.integer(6),
                     s.integer(7)});
  }
  return out;
}

// How many ops of a thread start in [t0, t1), counting no further than `limit`: deciding between
// ops and buckets then costs at most `limit` index entries, however long the run.
int64_t count_ops_starting(const profiler::SessionReader& r, int64_t run, int64_t thread, int64_t t0, int64_t t1,
                           int64_t limit) {
  profiler::Stmt s = r.db().prepare(
      "SELECT count(*) FROM (SELECT 1 FROM op WHERE run_id = ?1 AND thread = ?2 AND start_ns >= ?3 AND start_ns < ?4 "
      "LIMIT ?5)");
  s.bind(1, run).bind(2, thread).bind(3, t0).bind(4, t1).bind(5, limit);
  return s.step() ? s.integer(0) : 0;
}

void add_op_fields(Inspection& in, const profiler::OpRow& o, int64_t origin_ns) {
  in.add("kind", o.kind);
  in.add("op id", std::to_string(o.op_id));
  in.add("thread", std::to_string(o.thread));
  in.add("layer", o.layer >= 0 ? std::to_string(o.layer) : "—");
  in.add("head", o.head >= 0 ? std::to_string(o.head) : "—");
  in.add("step", std::to_string(o.step));
  in.add("start", relative(o.start_ns - origin_ns));
  in.add("duration", dur(o.end_ns - o.start_ns));
  in.add("duration (ns)", std::to_string(o.end_ns - o.start_ns));
}

}  // namespace

// ---- Lanes -------------------------------------------------------------------------------------

float TimelineLane::draw(const LaneFrame& f) {
  prepare();
  const float h = height();
  const ImVec2 min(f.axis.x0, f.top + 1), max(f.axis.x0 + f.axis.width, f.top + h - 1);
  ImDrawList* dl = f.dl;
  // Header label, in the gutter.
  dl->PushClipRect(ImVec2(f.header_x, f.top), ImVec2(f.axis.x0 - 6, f.top + h), true);
  const std::string label = header_label();
  dl->AddText(ImVec2(f.header_x + 6, f.top + (h - ImGui::CalcTextSize(label.c_str()).y) * 0.5f),
              ImGui::GetColorU32(ImGuiCol_Text), label.c_str());
  dl->PopClipRect();
  // Range: outside it the lane has nothing, and looks it.
  dl->PushClipRect(min, max, true);
  if (auto r = range()) {
    const float a = f.axis.x_of(r->first), b = f.axis.x_of(r->second);
    const ImU32 empty = IM_COL32(0, 0, 0, 70);
    if (a > min.x) dl->AddRectFilled(min, ImVec2(a, max.y), empty);
    if (b < max.x) dl->AddRectFilled(ImVec2(b, min.y), max, empty);
  }
  // Contents, told whether the pointer is over this lane.
  LaneFrame inner = f;
  inner.hovered = f.hovered && f.mouse.y >= min.y && f.mouse.y < max.y && f.mouse.x >= min.x && f.mouse.x < max.x;
  draw_contents(inner, min, max);
  dl->PopClipRect();
  dl->AddLine(ImVec2(f.header_x, f.top + h), ImVec2(max.x, f.top + h), ImGui::GetColorU32(ImGuiCol_Border, 0.6f));
  return h;
}

void OpThreadLane::fetch(SessionWorker& worker, int64_t run, int64_t t0, int64_t t1, int64_t pixels) {
  const int64_t thread = thread_;
  const int64_t n_buckets = std::max<int64_t>(1, pixels / kBucketPx);
  const int64_t max_ops = static_cast<int64_t>(static_cast<double>(pixels) * kOpsPerPixelForBuckets);
  pending_ = worker.compute<std::shared_ptr<const Data>>(Priority::Visible, [=](profiler::SessionReader& r) {
    auto d = std::make_shared<Data>();
    d->t0 = t0, d->t1 = t1;
    if (count_ops_starting(r, run, thread, t0, t1, max_ops + 1) <= max_ops) {
      d->ops = r.ops(run, t0, t1, thread);
      return std::shared_ptr<const Data>(std::move(d));
    }
    d->buckets_mode = true;
    d->buckets = r.timeline(run, thread, t0, t1, n_buckets);
    std::set<int64_t> longest;
    for (const auto& b : d->buckets)
      if (b.count > 0 && b.longest_op >= 0) longest.insert(b.longest_op);
    d->ops = ops_by_id(r, run, std::vector<int64_t>(longest.begin(), longest.end()));
    return std::shared_ptr<const Data>(std::move(d));
  });
}

bool OpThreadLane::loading() const { return pending_ != nullptr; }

void OpThreadLane::prepare() {
  if (!pending_ || !pending_->ready()) return;
  if (auto* v = pending_->mutable_value()) data_ = std::move(*v);
  pending_.reset();
}

std::string OpThreadLane::header_label() const {
  std::string mode = !data_ ? "" : data_->buckets_mode ? "\n  buckets" : "\n  ops";
  return "thread " + std::to_string(thread_) + mode;
}

void OpThreadLane::draw_contents(const LaneFrame& f, ImVec2 min, ImVec2 max) {
  if (!data_) return;
  if (data_->buckets_mode) draw_buckets(f, min, max);
  else draw_ops(f, min, max);
}

void OpThreadLane::draw_buckets(const LaneFrame& f, ImVec2 min, ImVec2 max) {
  ImDrawList* dl = f.dl;
  std::map<int64_t, const profiler::OpRow*> longest;
  for (const auto& o : data_->ops) longest[o.op_id] = &o;
  const float h = max.y - min.y - 2;
  const profiler::TimelineBucket* hovered = nullptr;
  for (const auto& b : data_->buckets) {
    const float x0 = f.axis.x_of(b.t0_ns), x1 = std::max(x0 + 1, f.axis.x_of(b.t1_ns));
    if (x1 < min.x || x0 > max.x) continue;
    if (f.hovered && f.mouse.x >= x0 && f.mouse.x < x1) hovered = &b;
    if (b.count == 0) continue;
    const double busy = busy_fraction(b);
    auto it = longest.find(b.longest_op);
    const ImU32 c = it != longest.end() ? kind_color(it->second->kind) : IM_COL32(150, 150, 160, 255);
    // Busy fraction as the fill height; anything at all stays visible.
    dl->AddRectFilled(ImVec2(x0, max.y - 1 - h * static_cast<float>(std::max(busy, 0.08))), ImVec2(x1, max.y - 1), c);
  }
  // The longest ops wide enough to read: boxed and labelled over the buckets.
  for (const auto& o : data_->ops) {
    const float x0 = f.axis.x_of(o.start_ns), x1 = f.axis.x_of(o.end_ns);
    const std::string label = op_label(o, true);
    if (x1 < min.x || x0 > max.x || x1 - x0 < ImGui::CalcTextSize(label.c_str()).x + 8) continue;
    dl->AddRectFilled(ImVec2(x0, min.y + 1), ImVec2(x1, max.y - 1), kind_color(o.kind));
    const ImVec4 clip(std::max(x0, min.x) + 3, min.y, std::min(x1, max.x) - 3, max.y);
    dl->AddText(nullptr, 0.f, ImVec2(std::max(x0, min.x) + 4, (min.y + max.y - ImGui::GetTextLineHeight()) * 0.5f),
                text_on(kind_color(o.kind)), label.c_str(), nullptr, 0.f, &clip);
  }
  if (!hovered) return;
  dl->AddRect(ImVec2(f.axis.x_of(hovered->t0_ns), min.y),
              ImVec2(std::max(f.axis.x_of(hovered->t1_ns), f.axis.x_of(hovered->t0_ns) + 1), max.y),
              IM_COL32(255, 255, 255, 200));
  Inspection& in = *f.hover;
  in.title = "Ops (level of detail)";
  in.add("thread", std::to_string(thread_));
  in.add("from", relative(hovered->t0_ns - f.origin_ns));
  in.add("width", dur(hovered->t1_ns - hovered->t0_ns));
  in.add("ops", std::to_string(hovered->count));
  char busy[64];
  std::snprintf(busy, sizeof busy, "%s (%.0f%%)", dur(hovered->busy_ns).c_str(), 100.0 * busy_fraction(*hovered));
  in.add("busy", busy);
  if (auto it = longest.find(hovered->longest_op); it != longest.end())
    in.add("longest", op_label(*it->second, true) + ", " + dur(it->second->end_ns - it->second->start_ns));
}

void OpThreadLane::draw_ops(const LaneFrame& f, ImVec2 min, ImVec2 max) {
  ImDrawList* dl = f.dl;
  const auto& ops = data_->ops;  // by start time
  const float line = ImGui::GetTextLineHeight();
  const profiler::OpRow* hovered_op = nullptr;
  struct Fold {
    size_t first = 0, count = 0;
    int64_t busy = 0, t0 = 0, t1 = 0;
  } hovered_fold;
  auto draw_op = [&](const profiler::OpRow& o, float x0, float x1) {
    const ImU32 c = kind_color(o.kind);
    dl->AddRectFilled(ImVec2(x0, min.y + 1), ImVec2(x1, max.y - 1), c);
    if (x1 - x0 >= 6) dl->AddRect(ImVec2(x0, min.y + 1), ImVec2(x1, max.y - 1), IM_COL32(0, 0, 0, 90));
    // "attention L3 h0", else "attention", else "att…", else nothing.
    for (const std::string& label :
         {op_label(o, true), o.kind, o.kind.size() > 3 ? o.kind.substr(0, 3) + "…" : o.kind}) {
      if (ImGui::CalcTextSize(label.c_str()).x + 8 > std::min(x1, max.x) - std::max(x0, min.x)) continue;
      const ImVec4 clip(std::max(x0, min.x), min.y, std::min(x1, max.x), max.y);
      dl->AddText(nullptr, 0.f, ImVec2(std::max(x0, min.x) + 4, (min.y + max.y - line) * 0.5f), text_on(c),
                  label.c_str(), nullptr, 0.f, &clip);
      break;
    }
    if (f.hovered && f.mouse.x >= x0 && f.mouse.x < x1) hovered_op = &o;
  };
  for (size_t i = 0; i < ops.size();) {
    const float x0 = f.axis.x_of(ops[i].start_ns), x1 = f.axis.x_of(ops[i].end_ns);
    if (x1 < min.x) {
      ++i;
      continue;
    }
    if (x0 > max.x) break;
    if (x1 - x0 >= kFoldPx) {
      draw_op(ops[i], x0, x1);
      ++i;
      continue;
    }
    // Narrow ops that follow each other within a few pixels fold into one block (Tracy does so).
    size_t j = i;
    float end = x1;
    Fold fold{i, 0, 0, ops[i].start_ns, ops[i].end_ns};
    while (j < ops.size()) {
      const float a = f.axis.x_of(ops[j].start_ns), b = f.axis.x_of(ops[j].end_ns);
      if (j > i && (b - a >= kFoldPx || a > end + kFoldPx)) break;
      end = std::max(end, b);
      fold.busy += ops[j].end_ns - ops[j].start_ns, fold.t1 = std::max(fold.t1, ops[j].end_ns);
      ++j, ++fold.count;
    }
    if (fold.count == 1) {  // a lone narrow op keeps its identity, drawn at the minimum width
      draw_op(ops[i], x0, x0 + kFoldPx);
    } else {
      const float bx1 = std::max(end, x0 + kFoldPx);
      dl->AddRectFilled(ImVec2(x0, min.y + 1), ImVec2(bx1, max.y - 1), IM_COL32(128, 132, 148, 255));
      const std::string n = std::to_string(fold.count);
      if (ImGui::CalcTextSize(n.c_str()).x + 6 < bx1 - x0)
        dl->AddText(ImVec2(x0 + 3, (min.y + max.y - line) * 0.5f), IM_COL32(20, 20, 24, 255), n.c_str());
      if (f.hovered && f.mouse.x >= x0 && f.mouse.x < bx1) hovered_fold = fold, hovered_op = nullptr;
    }
    i = j;
  }
  Inspection& in = *f.hover;
  if (hovered_op) {
    const float x0 = f.axis.x_of(hovered_op->start_ns);
    const float x1 = std::max(f.axis.x_of(hovered_op->end_ns), x0 + kFoldPx);
    dl->AddRect(ImVec2(x0, min.y), ImVec2(x1, max.y), IM_COL32(255, 255, 255, 230), 0, 0, 1.5f);
    in.title = "Op";
    add_op_fields(in, *hovered_op, f.origin_ns);
  } else if (hovered_fold.count > 1) {
    in.title = "Folded ops";
    in.add("thread", std::to_string(thread_));
    in.add("ops", std::to_string(hovered_fold.count));
    in.add("from", relative(hovered_fold.t0 - f.origin_ns));
    in.add("span", dur(hovered_fold.t1 - hovered_fold.t0));
    in.add("busy", dur(hovered_fold.busy));
    in.add("first", op_label(ops[hovered_fold.first], true));
  }
}

// ---- Timeline ----------------------------------------------------------------------------------

bool Timeline::wants_redraw() const {
  if (meta_pending_ || summary_pending_ || fetch_due_) return true;
  for (const auto& l : lanes_)
    if (l->loading()) return true;
  return false;
}

const OpThreadLane* Timeline::thread_lane(int64_t thread) const {
  for (const auto& l : lanes_)
    if (l->thread() == thread) return l.get();
  return nullptr;
}

std::optional<ImVec2> Timeline::lane_point(int64_t thread, double t_ns) const {
  for (size_t i = 0; i < lanes_.size() && i < lane_tops_.size(); ++i)
    if (lanes_[i]->thread() == thread) return ImVec2(axis_.x_of(t_ns), lane_tops_[i] + lanes_[i]->height() * 0.5f);
  return std::nullopt;
}

void Timeline::notice(const char* message, const char* detail) {
  notice_ = message;
  draw_notice(message, detail);
}

void Timeline::load_meta() {
  const RunData* d = vs_.run_data();
  const uint64_t generation = d ? d->generation : 0;
  if (meta_pending_ && meta_pending_->ready()) {
    if (auto* m = meta_pending_->mutable_value()) {
      // A live run grew: the same threads keep their lanes (and draw what they had until the refetch).
      const bool same_threads = meta_ && meta_->threads == m->threads;
      meta_ = std::move(*m);
      if (!same_threads) lanes_.clear();
      for (size_t i = 0; i < meta_->threads.size(); ++i)
        if (same_threads) lanes_[i]->set_extent(meta_->extents[i]);
        else lanes_.push_back(std::make_unique<OpThreadLane>(meta_->threads[i], meta_->extents[i]));
      fetched_ = {-1, -1}, summary_for_ = {-1, -1};
      error_.clear();
    } else {
      error_ = meta_pending_->error();
    }
    meta_pending_.reset();
  }
  if (!d || (meta_run_ == vs_.run && meta_generation_ == generation)) return;  // steps first: they bound the run
  if (meta_run_ != vs_.run) meta_.reset(), lanes_.clear(), summary_.clear(), fitted_ = false;
  meta_run_ = vs_.run, meta_generation_ = generation;
  const int64_t run = vs_.run;
  std::vector<profiler::StepRecord> steps = d->steps;
  meta_pending_ = vs_.doc->worker().compute<RunMeta>(Priority::Visible, [run, steps](profiler::SessionReader& r) {
    RunMeta m;
    m.threads = r.op_threads(run);
    m.extents.assign(m.threads.size(), {0, 0});
    profiler::Stmt s =
        r.db().prepare("SELECT thread, min(start_ns), max(end_ns) FROM op WHERE run_id = ? GROUP BY thread");
    s.bind(1, run);
    m.t0 = INT64_MAX, m.t1 = INT64_MIN;
    while (s.step())
      for (size_t i = 0; i < m.threads.size(); ++i)
        if (m.threads[i] == s.integer(0)) {
          m.extents[i] = {s.integer(1), s.integer(2)};
          m.t0 = std::min(m.t0, s.integer(1)), m.t1 = std::max(m.t1, s.integer(2));
        }
    for (const auto& st : steps) m.t0 = std::min(m.t0, st.start_ns), m.t1 = std::max(m.t1, st.end_ns);
    if (m.t1 <= m.t0) m.t0 = 0, m.t1 = 1;
    return m;
  });
}

void Timeline::handle_input(const TimeAxis& axis) {
  ImGuiIO& io = ImGui::GetIO();
  const bool hovered = ImGui::IsItemHovered();
  const double full = static_cast<double>(meta_->t1 - meta_->t0);
  if (hovered && io.MouseWheel != 0.f) {
    // Zoom about the pointer: the time under it stays under it.
    const double span = view_.t1 - view_.t0;
    const double next = std::clamp(span * std::pow(0.8, io.MouseWheel), kMinSpanNs, full * 1.5);
    const double t = axis.t_of(std::clamp(io.MousePos.x, axis.x0, axis.x0 + axis.width));
    const double f = (t - view_.t0) / span;
    view_.t0 = t - f * next, view_.t1 = view_.t0 + next;
  }
  if (ImGui::IsItemActive() && ImGui::IsMouseDragging(ImGuiMouseButton_Left, 0.f)) {
    const double dt = -static_cast<double>(io.MouseDelta.x) * axis.ns_per_px();
    view_.t0 += dt, view_.t1 += dt;
  }
  if (hovered && ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) fit();
  if (ImGui::IsWindowFocused() && ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Home))) fit();
}

void Timeline::maybe_fetch() {
  const double now = ImGui::GetTime();
  if (view_.t0 != last_view_.t0 || view_.t1 != last_view_.t1) last_view_ = view_, still_since_ = now;
  const double span = view_.t1 - view_.t0, fetched_span = fetched_.t1 - fetched_.t0;
  const bool never = fetched_span <= 0;
  // What was fetched covers the view with room to pan, at about this zoom: nothing to ask.
  const double density =
      never ? 0
            : (fetched_span / (2.0 * static_cast<double>(fetched_width_))) / (span / static_cast<double>(axis_.width));
  const bool stale = never || view_.t0 < fetched_.t0 || view_.t1 > fetched_.t1 || density < 0.77 || density > 1.3 ||
                     std::abs(fetched_width_ - axis_.width) > 0.1f * axis_.width;
  fetch_due_ = stale;
  if (!stale || (!never && now - still_since_ < kDebounceS)) return;
  // Half a view on either side: small pans draw from what is already here.
  const int64_t t0 = static_cast<int64_t>(std::floor(view_.t0 - span * 0.5)),
                t1 = static_cast<int64_t>(std::ceil(view_.t1 + span * 0.5));
  for (auto& lane : lanes_) lane->fetch(vs_.doc->worker(), vs_.run, t0, t1, static_cast<int64_t>(axis_.width * 2));
  fetched_ = {static_cast<double>(t0), static_cast<double>(t1)}, fetched_width_ = axis_.width;
  fetch_due_ = false;
}

void Timeline::request_summary() {
  if (summary_pending_ && summary_pending_->ready()) {
    if (auto* v = summary_pending_->mutable_value()) summary_ = std::move(*v), sort_summary();
    summary_pending_.reset();
  }
  // The visible scope follows the view once it is still (as the lanes' fetches do).
  const bool visible = summary_visible_only_;
  if (summary_pending_ || (visible && ImGui::GetTime() - still_since_ < kDebounceS)) return;
  const View scope = visible ? view_ : View{-1, static_cast<double>(meta_->t1 - meta_->t0)};  // -1: "the run"
  if (scope.t0 == summary_for_.t0 && scope.t1 == summary_for_.t1) return;
  summary_for_ = scope;
  const int64_t run = vs_.run;
  // The visible scope counts ops overlapping the view (whole durations); the run scope all ops.
  const int64_t t0 = visible ? static_cast<int64_t>(view_.t0) : INT64_MIN,
                t1 = visible ? static_cast<int64_t>(view_.t1) : INT64_MAX;
  const double wall = visible ? view_.t1 - view_.t0 : static_cast<double>(meta_->t1 - meta_->t0);
  summary_pending_ =
      vs_.doc->worker().compute<std::vector<KindStats>>(Priority::Background, [=](profiler::SessionReader& r) {
        std::vector<KindStats> out;
        profiler::Stmt s = r.db().prepare(
            "SELECT kind, count(*), sum(dur_ns), max(dur_ns) FROM op WHERE run_id = ?1 AND start_ns < ?3 AND end_ns >= "
            "?2 GROUP BY kind");
        s.bind(1, run).bind(2, t0).bind(3, t1);
        while (s.step())
          out.push_back({s.text(0), s.integer(1), s.integer(2), s.integer(3),
                         static_cast<double>(s.integer(2)) / std::max(1.0, wall)});
        return out;
      });
}

void Timeline::sort_summary() {
  auto key = [&](const KindStats& k) -> double {
    switch (sort_column_) {
      case 1:
        return static_cast<double>(k.count);
      case 3:
        return k.count ? static_cast<double>(k.total_ns) / static_cast<double>(k.count) : 0.0;
      case 4:
        return static_cast<double>(k.max_ns);
      default:
        return static_cast<double>(k.total_ns);  // total and share order alike
    }
  };
  std::stable_sort(summary_.begin(), summary_.end(), [&](const KindStats& a, const KindStats& b) {
    if (sort_column_ == 0) return sort_ascending_ ? a.kind < b.kind : a.kind > b.kind;
    return sort_ascending_ ? key(a) < key(b) : key(a) > key(b);
  });
}

void Timeline::draw_time_axis(ImDrawList* dl, const TimeAxis& axis, float top, float bottom) {
  const ImU32 dim = ImGui::GetColorU32(ImGuiCol_TextDisabled), grid = ImGui::GetColorU32(ImGuiCol_Border, 0.35f);
  const double step = nice_step(axis.ns_per_px() * 110.0);
  const double rel0 = axis.t0 - static_cast<double>(origin_ns_);
  for (double rel = std::ceil(rel0 / step) * step; rel <= axis.t1 - static_cast<double>(origin_ns_); rel += step) {
    const float x = axis.x_of(rel + static_cast<double>(origin_ns_));
    dl->AddLine(ImVec2(x, top + 16), ImVec2(x, top + 22), dim);
    dl->AddLine(ImVec2(x, top + kAxisHeight), ImVec2(x, bottom), grid);
    const std::string l = tick_label(rel, step);
    const float w = ImGui::CalcTextSize(l.c_str()).x;
    dl->AddText(ImVec2(std::clamp(x - w * 0.5f, axis.x0, axis.x0 + axis.width - w), top), dim, l.c_str());
  }
  dl->AddLine(ImVec2(axis.x0, top + 22), ImVec2(axis.x0 + axis.width, top + 22), dim);
}

void Timeline::draw_steps(ImDrawList* dl, const TimeAxis& axis, float top, float bottom) {
  const RunData* d = vs_.run_data();
  if (!d) return;
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text), line = IM_COL32(255, 255, 255, 60);
  const float label_y = top + 25;
  auto first = std::lower_bound(d->steps.begin(), d->steps.end(), axis.t0, [](const profiler::StepRecord& s, double t) {
    return static_cast<double>(s.end_ns) < t;
  });
  float last_line = -1e9f, last_label = -1e9f;
  for (auto it = first; it != d->steps.end() && static_cast<double>(it->start_ns) <= axis.t1; ++it) {
    const float x0 = axis.x_of(it->start_ns), x1 = axis.x_of(it->end_ns);
    if (x1 < axis.x0 + 1) continue;         // ended just before the view
    if (it->step % 2 == 1 && x1 - x0 >= 2)  // alternate steps shaded: boundaries read at a glance
      dl->AddRectFilled(ImVec2(std::max(x0, axis.x0), top + kAxisHeight),
                        ImVec2(std::min(x1, axis.x0 + axis.width), bottom), IM_COL32(255, 255, 255, 10));
    if (x0 >= axis.x0 && x0 - last_line >= 4) {  // dense steps thin out to a line every few pixels
      dl->AddLine(ImVec2(x0, label_y - 2), ImVec2(x0, bottom), line);
      last_line = x0;
    }
    // "step 3 (prefill)" when the step has room, else its number, else nothing until there is room.
    const float lx = std::max(x0, axis.x0) + 3, room = std::min(x1, axis.x0 + axis.width) - lx;
    if (lx < last_label) continue;
    const std::string full = "step " + std::to_string(it->step) + (it->kind == "decode" ? "" : " (" + it->kind + ")");
    const bool fits = ImGui::CalcTextSize(full.c_str()).x + 2 <= room;
    const std::string l = fits ? full : std::to_string(it->step);
    dl->AddText(ImVec2(lx, label_y), fits ? text : ImGui::GetColorU32(ImGuiCol_TextDisabled), l.c_str());
    last_label = lx + ImGui::CalcTextSize(l.c_str()).x + 8;
  }
}

void Timeline::draw_summary_table() {
  ImGui::AlignTextToFramePadding();
  ImGui::TextUnformatted("Ops by kind");
  ImGui::SameLine(0, 16);
  int scope = summary_visible_only_ ? 1 : 0;
  ImGui::RadioButton("whole run", &scope, 0);
  ImGui::SameLine();
  ImGui::RadioButton("visible range", &scope, 1);
  summary_visible_only_ = scope == 1;
  ImGui::SameLine(0, 16);
  ImGui::TextDisabled(summary_visible_only_ ? "(ops overlapping the view, whole durations)" : "(every op of the run)");
  const ImGuiTableFlags flags = ImGuiTableFlags_Sortable | ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersOuter |
                                ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_ScrollY |
                                ImGuiTableFlags_SizingStretchProp;
  const float rows_h = (static_cast<float>(summary_.size()) + 2.f) * ImGui::GetFrameHeight() + 4;
  if (!ImGui::BeginTable("##kinds", 6, flags,
                         ImVec2(0, std::clamp(rows_h, 60.f, std::max(60.f, ImGui::GetContentRegionAvail().y)))))
    return;
  ImGui::TableSetupScrollFreeze(0, 1);
  ImGui::TableSetupColumn("kind", ImGuiTableColumnFlags_PreferSortAscending, 1.6f);
  ImGui::TableSetupColumn("count", ImGuiTableColumnFlags_PreferSortDescending, 1.f);
  ImGui::TableSetupColumn("total", ImGuiTableColumnFlags_DefaultSort | ImGuiTableColumnFlags_PreferSortDescending, 1.f);
  ImGui::TableSetupColumn("mean", ImGuiTableColumnFlags_PreferSortDescending, 1.f);
  ImGui::TableSetupColumn("max", ImGuiTableColumnFlags_PreferSortDescending, 1.f);
  ImGui::TableSetupColumn("share of wall time", ImGuiTableColumnFlags_PreferSortDescending, 2.f);
  ImGui::TableHeadersRow();
  if (ImGui::TableGetColumnFlags(5) & ImGuiTableColumnFlags_IsHovered)
    ImGui::SetTooltip(
        "total ÷ wall time of the scope; it adds up over threads, so kinds on several threads can pass 100%%");
  if (ImGuiTableSortSpecs* specs = ImGui::TableGetSortSpecs(); specs && specs->SpecsDirty) {
    if (specs->SpecsCount > 0) {
      sort_column_ = specs->Specs[0].ColumnIndex;
      sort_ascending_ = specs->Specs[0].SortDirection == ImGuiSortDirection_Ascending;
      sort_summary();
    }
    specs->SpecsDirty = false;
  }
  int64_t all_count = 0, all_total = 0;
  for (const KindStats& k : summary_) {
    all_count += k.count, all_total += k.total_ns;
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    const ImVec2 at = ImGui::GetCursorScreenPos();
    const float sz = ImGui::GetTextLineHeight() * 0.7f;
    ImGui::GetWindowDrawList()->AddRectFilled(ImVec2(at.x, at.y + sz * 0.25f), ImVec2(at.x + sz, at.y + sz * 1.25f),
                                              kind_color(k.kind));
    ImGui::SetCursorScreenPos(ImVec2(at.x + sz + 6, at.y));
    ImGui::TextUnformatted(k.kind.c_str());
    ImGui::TableNextColumn();
    ImGui::Text("%lld", static_cast<long long>(k.count));
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(dur(k.total_ns).c_str());
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(
        format_duration_ns(k.count ? static_cast<double>(k.total_ns) / static_cast<double>(k.count) : 0).c_str());
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(dur(k.max_ns).c_str());
    ImGui::TableNextColumn();
    const ImVec2 bar = ImGui::GetCursorScreenPos();
    const float w = ImGui::GetContentRegionAvail().x * 0.5f;
    ImGui::GetWindowDrawList()->AddRectFilled(
        ImVec2(bar.x, bar.y + 3),
        ImVec2(bar.x + w * static_cast<float>(std::min(1.0, k.share)), bar.y + ImGui::GetTextLineHeight() - 2),
        kind_color(k.kind));
    ImGui::SetCursorScreenPos(ImVec2(bar.x + w + 6, bar.y));
    ImGui::Text("%.1f%%", 100.0 * k.share);
  }
  if (!summary_.empty()) {
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    ImGui::TextDisabled("all kinds");
    ImGui::TableNextColumn();
    ImGui::TextDisabled("%lld", static_cast<long long>(all_count));
    ImGui::TableNextColumn();
    ImGui::TextDisabled("%s", dur(all_total).c_str());
  }
  ImGui::EndTable();
}

void Timeline::inspect_view() {
  inspection_.title = "Timeline";
  inspection_.add("visible", relative(view_.t0 - static_cast<double>(origin_ns_)) + " … " +
                                 relative(view_.t1 - static_cast<double>(origin_ns_)));
  inspection_.add("span", format_duration_ns(view_.t1 - view_.t0));
  inspection_.add("run wall time", dur(meta_->t1 - meta_->t0));
  for (const auto& l : lanes_) {
    const auto* d = l->data();
    inspection_.add("thread " + std::to_string(l->thread()),
                    !d                ? "loading"
                    : d->buckets_mode ? std::to_string(d->buckets.size()) + " buckets (level of detail)"
                                      : std::to_string(d->ops.size()) + " ops fetched");
  }
}

void Timeline::draw() {
  inspection_.clear();
  notice_.clear();
  if (!vs_.has_run()) {
    notice("No session open", "Open a .mnemo file (File › Open) or record one (Record panel).");
    return;
  }
  load_meta();
  draw_selection_bar(vs_, false, false);
  if (!meta_) {
    if (!error_.empty()) notice("Cannot read this run's ops", error_.c_str());
    else notice("Loading the timeline…");
    return;
  }
  if (meta_->threads.empty()) {
    if (const profiler::RunSummary* summary = vs_.doc->run_summary(vs_.run); summary && summary->n_steps == 0)
      notice(kNoCommittedStep, kNoCommittedStepDetail);
    else
      notice("No op timings were recorded for this run",
             "Record with --capture ops (or all) to see what each thread ran.");
    return;
  }
  const profiler::RunSummary* summary = vs_.doc->run_summary(vs_.run);
  origin_ns_ = summary && summary->info.start_ns > 0 ? std::min(summary->info.start_ns, meta_->t0) : meta_->t0;
  if (!fitted_) {
    const double pad = static_cast<double>(meta_->t1 - meta_->t0) * 0.01;
    view_ = {static_cast<double>(meta_->t0) - pad, static_cast<double>(meta_->t1) + pad};
    fitted_ = true;
  }
  ImGui::SameLine();
  if (ImGui::Button("Fit")) fit();
  ImGui::SameLine();
  ImGui::TextDisabled("showing %s of a %s run  ·  wheel: zoom  ·  drag: pan  ·  double-click: fit",
                      format_duration_ns(view_.t1 - view_.t0).c_str(), dur(meta_->t1 - meta_->t0).c_str());

  const ImVec2 avail = ImGui::GetContentRegionAvail();
  float lanes_h = kAxisHeight + 8;
  for (const auto& l : lanes_) lanes_h += l->height();
  lanes_h = std::min(lanes_h, std::max(kAxisHeight + 48, avail.y - kMinTableHeight));
  // The lanes in a child window: their own draw list, whatever the table adds.
  ImGui::BeginChild("##lanes", ImVec2(avail.x, lanes_h), false,
                    ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_NoScrollWithMouse);
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  const ImVec2 size(std::max(64.f, avail.x), lanes_h);
  ImGui::InvisibleButton("##lanes", size);  // one item for every lane (STYLE.md §8)
  const bool hovered = ImGui::IsItemHovered();
  axis_ = TimeAxis{view_.t0, view_.t1, origin.x + kHeaderWidth, std::max(32.f, size.x - kHeaderWidth - 10)};
  handle_input(axis_);
  axis_.t0 = view_.t0, axis_.t1 = view_.t1;
  maybe_fetch();

  ImDrawList* dl = ImGui::GetWindowDrawList();
  const float bottom = origin.y + size.y;
  dl->AddRectFilled(ImVec2(axis_.x0, origin.y + kAxisHeight), ImVec2(axis_.x0 + axis_.width, bottom),
                    ImGui::GetColorU32(ImGuiCol_FrameBg, 0.5f));
  dl->PushClipRect(ImVec2(axis_.x0, origin.y), ImVec2(axis_.x0 + axis_.width, bottom), true);
  draw_time_axis(dl, axis_, origin.y, bottom);
  draw_steps(dl, axis_, origin.y, bottom);
  dl->PopClipRect();
  dl->AddText(ImVec2(origin.x + 6, origin.y), ImGui::GetColorU32(ImGuiCol_TextDisabled), "time");
  dl->AddText(ImVec2(origin.x + 6, origin.y + 25), ImGui::GetColorU32(ImGuiCol_TextDisabled), "steps");

  Inspection hover;
  LaneFrame f{dl, axis_, origin.y + kAxisHeight, origin.x, origin_ns_, ImGui::GetIO().MousePos, hovered, &hover};
  lane_tops_.clear();
  for (auto& lane : lanes_) {
    lane_tops_.push_back(f.top);
    f.top += lane->draw(f);
  }
  if (hovered && f.mouse.x >= axis_.x0) {  // a time cursor across every lane
    dl->AddLine(ImVec2(f.mouse.x, origin.y + 22), ImVec2(f.mouse.x, bottom), IM_COL32(255, 255, 255, 90));
    const std::string t = relative(axis_.t_of(f.mouse.x) - static_cast<double>(origin_ns_));
    dl->AddText(ImVec2(f.mouse.x + 4, bottom - ImGui::GetTextLineHeight() - 2), ImGui::GetColorU32(ImGuiCol_Text),
                t.c_str());
  }
  ImGui::EndChild();
  if (!hover.empty()) {
    inspection_ = hover;
    ImGui::BeginTooltip();
    ImGui::TextUnformatted(hover.title.c_str());
    ImGui::Separator();
    for (const auto& [k, v] : hover.fields)
      if (k != "duration (ns)") ImGui::Text("%-9s %s", k.c_str(), v.c_str());
    ImGui::EndTooltip();
  }

  request_summary();
  draw_summary_table();
  if (inspection_.empty()) inspect_view();
}

}  // namespace mnemo::viz
