#include "mnemo/viz/compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "mnemo/viz/attention_explorer.h"
#include "mnemo/viz/map_levels.h"

namespace mnemo::viz {
namespace {

// Positions run up to and including a step (the rows of its attention map).
int64_t rows_at(const RunData& d, int64_t step) {
  for (const auto& s : d.steps)
    if (s.step == step) return s.pos0 + s.n_tokens;
  return 0;
}

const char* kMetricNames[4] = {"entropy", "mean distance", "sink mass", "sparsity"};

double metric_of(const profiler::HeadMetrics& m, int i) {
  switch (i) {
    case 0: return m.entropy;
    case 1: return m.mean_distance;
    case 2: return m.sink_mass;
    default: return m.sparsity;
  }
}

std::string side_label(const ViewState& vs) {
  if (!vs.has_run()) return "(nothing)";
  const profiler::RunSummary* s = vs.doc->run_summary(vs.run);
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s · run %lld%s%s", vs.doc->display_name().c_str(), static_cast<long long>(vs.run),
                s && !s->info.label.empty() ? " · " : "", s ? s->info.label.c_str() : "");
  return buf;
}

void draw_diverging_bar(ImDrawList* dl, ImVec2 at, float height, float max_abs, const char* what) {
  const float w = 14.f;
  for (int i = 0; i < 64; ++i) {
    const float t0 = static_cast<float>(i) / 64, t1 = static_cast<float>(i + 1) / 64;
    dl->AddRectFilled(ImVec2(at.x, at.y + height * (1 - t1)), ImVec2(at.x + w, at.y + height * (1 - t0) + 1),
                      diverging_color((t0 + t1) - 1.f));
  }
  dl->AddRect(at, ImVec2(at.x + w, at.y + height), ImGui::GetColorU32(ImGuiCol_Border));
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text);
  for (float t : {0.f, 0.5f, 1.f}) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%+.3g", (2 * t - 1) * max_abs);
    const float y = at.y + height * (1 - t);
    dl->AddText(ImVec2(at.x + w + 6, y - ImGui::GetTextLineHeight() * 0.5f), text, buf);
  }
  dl->AddText(ImVec2(at.x, at.y + height + 4), ImGui::GetColorU32(ImGuiCol_TextDisabled), what);
}

}  // namespace

struct CompareCanvas::Diff {
  TileKey left, right;
  bool computed = false;
  int64_t rows = 0, cols = 0;
  int level = 0;
  std::vector<float> lv, rv;  // the two sides' cells
  std::string left_label, right_label;  // what each side's map is
  float max_abs = 0.f;
  ImTextureID texture = nullptr;
  int tex_w = 0, tex_h = 0;
  Pool pool = Pool::Max;
  double zoom = 1.0, cx = 0.5, cy = 0.5;  // zoom over the fitted map, centre in map fractions
};

struct CompareCanvas::Deltas {
  struct Side {
    int64_t run = -1, step = -2;
    SessionDoc* doc = nullptr;
    PendingPtr<std::vector<profiler::HeadMetricRecord>> pending;
    std::vector<profiler::HeadMetricRecord> values;
    bool ready = false;
  } side[2];
  int metric = 0;
};

CompareCanvas::CompareCanvas(ViewState& left, ViewState& right, Factory make, std::vector<std::string> views,
                             TextureStore& textures)
    : left_(left), right_(right), make_(std::move(make)), views_(std::move(views)), textures_(textures),
      diff_(std::make_unique<Diff>()), deltas_(std::make_unique<Deltas>()) {
  if (!views_.empty()) mode_ = views_.front();
}

CompareCanvas::~CompareCanvas() {
  if (diff_->texture) textures_.destroy(diff_->texture);
}

std::vector<ViewState*> CompareCanvas::sides() {
  std::vector<ViewState*> out{&left_, &right_};
  for (auto& e : extra_) out.push_back(e.get());
  return out;
}

std::vector<std::unique_ptr<Canvas>>& CompareCanvas::canvases(const std::string& view) {
  auto& v = canvases_[view];
  while (v.size() < side_count()) v.push_back(make_(view, side_state(v.size())));
  return v;
}

Canvas* CompareCanvas::side(int i) const {
  auto it = canvases_.find(mode_);
  if (it == canvases_.end() || i < 0 || static_cast<size_t>(i) >= it->second.size()) return nullptr;
  return it->second[static_cast<size_t>(i)].get();
}

size_t CompareCanvas::add_side(SessionDoc* doc, int64_t run) {
  auto vs = std::make_unique<ViewState>();
  vs->doc = doc, vs->run = run;
  vs->layer = left_.layer, vs->head = left_.head, vs->step = left_.step;
  vs->scale = left_.scale, vs->pool = left_.pool;
  extra_.push_back(std::move(vs));
  return side_count() - 1;
}

void CompareCanvas::remove_side(size_t i) {
  if (i < 2 || i >= side_count()) return;
  for (auto& [view, list] : canvases_)
    if (i < list.size()) list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));  // before the state it draws
  extra_.erase(extra_.begin() + static_cast<std::ptrdiff_t>(i - 2));
  if (i < last_.size()) last_.erase(last_.begin() + static_cast<std::ptrdiff_t>(i));
}

bool CompareCanvas::wants_redraw() const {
  if (waiting_) return true;
  for (size_t i = 0; i < side_count(); ++i)
    if (const Canvas* c = side(static_cast<int>(i)); c && c->wants_redraw()) return true;
  return false;
}

void CompareCanvas::link_selection() {
  // Whichever side changed layer, head or step since last frame leads; the others follow.
  auto picked = [](const ViewState& v) { return Picked{v.step, v.layer, v.head}; };
  auto same = [](const Picked& a, const Picked& b) { return a.step == b.step && a.layer == b.layer && a.head == b.head; };
  const std::vector<ViewState*> all = sides();
  last_.resize(all.size());
  auto copy = [](const ViewState& from, ViewState& to) {
    const profiler::RunSummary* s = to.has_run() ? to.doc->run_summary(to.run) : nullptr;
    to.layer = s ? std::min<int32_t>(from.layer, static_cast<int32_t>(std::max<int64_t>(1, s->info.n_layers) - 1)) : from.layer;
    const RunData* d = to.run_data();
    const int64_t heads = d ? d->heads : s ? s->info.n_heads : 0;
    to.head = s ? std::min<int32_t>(from.head, static_cast<int32_t>(std::max<int64_t>(1, heads) - 1)) : from.head;
    to.step = from.step;
  };
  for (size_t i = 0; i < all.size(); ++i) {
    if (same(picked(*all[i]), last_[i])) continue;
    for (size_t j = 0; j < all.size(); ++j)
      if (j != i) copy(*all[i], *all[j]);
    break;
  }
  for (size_t i = 0; i < all.size(); ++i) last_[i] = picked(*all[i]);
}

void CompareCanvas::draw_toolbar() {
  std::vector<std::string> modes = views_;
  modes.push_back("difference");
  modes.push_back("deltas");
  auto label = [](const std::string& m) {
    if (m == "difference") return std::string("Difference map");
    if (m == "deltas") return std::string("Metric deltas");
    return "Side by side: " + m;
  };
  ImGui::SetNextItemWidth(230);
  if (ImGui::BeginCombo("##mode", label(mode_).c_str())) {
    for (const auto& m : modes)
      if (ImGui::Selectable(label(m).c_str(), m == mode_)) mode_ = m;
    ImGui::EndCombo();
  }
  ImGui::SameLine();
  if (ImGui::Button("Swap sides")) {
    std::swap(left_.doc, right_.doc);
    std::swap(left_.run, right_.run);
  }
  ImGui::SameLine();
  // More sides: any run of the sessions shown on either side.
  ImGui::SetNextItemWidth(120);
  if (ImGui::BeginCombo("##add", "+ add a run", ImGuiComboFlags_HeightLarge)) {
    std::vector<SessionDoc*> docs;
    for (SessionDoc* d : {left_.doc, right_.doc})
      if (d && std::find(docs.begin(), docs.end(), d) == docs.end()) docs.push_back(d);
    for (SessionDoc* d : docs)
      for (const profiler::RunSummary& r : d->runs()) {
        ViewState probe;
        probe.doc = d, probe.run = r.id;
        char id[32];
        std::snprintf(id, sizeof id, "##add%p%lld", static_cast<void*>(d), static_cast<long long>(r.id));
        if (ImGui::Selectable((side_label(probe) + id).c_str())) add_side(d, r.id);
      }
    ImGui::EndCombo();
  }
  ImGui::SameLine();
  ImGui::TextColored(ImVec4(0.55f, 0.8f, 1.f, 1.f), "left: %s", side_label(left_).c_str());
  ImGui::SameLine();
  ImGui::TextColored(ImVec4(1.f, 0.7f, 0.5f, 1.f), "  right: %s", side_label(right_).c_str());
}

void CompareCanvas::draw() {
  inspection_.clear();
  waiting_ = false;
  if (!left_.has_run() || !right_.has_run()) {
    draw_notice("Compare needs two runs",
                "Open sessions, then right-click a run in the Sessions panel: \"Compare with the shown run\".");
    return;
  }
  link_selection();
  draw_toolbar();
  if (mode_ == "difference") draw_difference();
  else if (mode_ == "deltas") draw_deltas();
  else draw_side_by_side();
  const std::vector<ViewState*> all = sides();
  last_.resize(all.size());
  for (size_t i = 0; i < all.size(); ++i) last_[i] = Picked{all[i]->step, all[i]->layer, all[i]->head};
}

void CompareCanvas::draw_answers() {
  answer_rows_.clear();
  const std::vector<ViewState*> all = sides();
  std::vector<const RunData*> runs;
  for (ViewState* vs : all) runs.push_back(vs->run_data());
  // The answers of any side, by position (the same prompt gives the same positions).
  std::vector<int64_t> positions;
  for (const RunData* d : runs)
    if (d)
      for (const auto& a : d->answers) positions.push_back(a.position);
  if (positions.empty()) return;
  std::sort(positions.begin(), positions.end());
  positions.erase(std::unique(positions.begin(), positions.end()), positions.end());
  auto find = [](const RunData* d, int64_t position) -> const profiler::AnswerRecord* {
    if (!d) return nullptr;
    auto it = std::lower_bound(d->answers.begin(), d->answers.end(), position,
                               [](const profiler::AnswerRecord& a, int64_t p) { return a.position < p; });
    return it != d->answers.end() && it->position == position ? &*it : nullptr;
  };
  // Each side's column is titled by its score and its run's label (or number): the score first,
  // where a narrow column still shows it.
  std::vector<std::string> titles;
  for (size_t i = 0; i < all.size(); ++i) {
    const profiler::RunSummary* s = all[i]->has_run() ? all[i]->doc->run_summary(all[i]->run) : nullptr;
    std::string title = s && !s->info.label.empty() ? s->info.label : "run " + std::to_string(all[i]->run);
    if (runs[i] && !runs[i]->answers.empty())
      title = std::to_string(profiler::answers_right(runs[i]->answers)) + "/" + std::to_string(runs[i]->answers.size()) +
              " · " + title;
    titles.push_back(title);
  }
  char header[96];
  std::snprintf(header, sizeof header, "Task answers (%zu): each side's prediction, its confidence · p of the answer",
                positions.size());
  if (!ImGui::CollapsingHeader(header, ImGuiTreeNodeFlags_DefaultOpen)) return;
  const float rows_shown = std::min<float>(static_cast<float>(positions.size()) + 1.f, 7.f);
  const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_ScrollY |
                                ImGuiTableFlags_SizingStretchProp;
  const int columns = 2 + static_cast<int>(all.size());
  if (!ImGui::BeginTable("##answers", columns, flags, ImVec2(0, rows_shown * ImGui::GetTextLineHeightWithSpacing() + 4)))
    return;
  ImGui::TableSetupScrollFreeze(0, 1);
  ImGui::TableSetupColumn("position", ImGuiTableColumnFlags_None, 0.5f);
  ImGui::TableSetupColumn("answer", ImGuiTableColumnFlags_None, 0.6f);
  for (const std::string& t : titles) ImGui::TableSetupColumn(t.c_str());
  ImGui::TableHeadersRow();
  const ImVec4 good(0.45f, 0.85f, 0.45f, 1.f), bad(1.f, 0.45f, 0.4f, 1.f);
  for (int64_t position : positions) {
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    char id[48];
    std::snprintf(id, sizeof id, "%lld##answer", static_cast<long long>(position));
    ImGui::Selectable(id, false, ImGuiSelectableFlags_SpanAllColumns);
    AnswerRow row;
    row.position = position;
    row.right.assign(all.size(), -1);
    row.center_x = (ImGui::GetItemRectMin().x + ImGui::GetItemRectMax().x) * 0.5f;
    row.center_y = (ImGui::GetItemRectMin().y + ImGui::GetItemRectMax().y) * 0.5f;
    if (ImGui::IsItemHovered()) {
      // The answer is predicted from the row before it: that query row, on every side.
      for (ViewState* vs : all) vs->cursor_query = position - 1, vs->cursor_key.reset(), vs->cursor_linked = true;
      answer_hovered_ = true;
    }
    ImGui::TableNextColumn();
    const RunData* with_tokens = nullptr;
    for (const RunData* d : runs) with_tokens = with_tokens ? with_tokens : d;
    ImGui::TextUnformatted(with_tokens ? with_tokens->token_text(position).c_str() : "");
    for (size_t i = 0; i < all.size(); ++i) {
      ImGui::TableNextColumn();
      const profiler::AnswerRecord* a = find(runs[i], position);
      if (!a) {
        ImGui::TextDisabled("-");
        continue;
      }
      const bool right = a->predicted_token == a->expected_token;
      row.right[i] = right ? 1 : 0;
      ImGui::TextColored(right ? good : bad, "%s %s", right ? "right" : "wrong", printable_token(a->predicted_text).c_str());
      ImGui::SameLine();
      ImGui::TextDisabled("%.3f · %.3f", a->predicted_p, a->expected_p);
    }
    answer_rows_.push_back(row);
  }
  ImGui::EndTable();
}

void CompareCanvas::draw_side_by_side() {
  std::vector<std::unique_ptr<Canvas>>& list = canvases(mode_);
  if (std::any_of(list.begin(), list.end(), [](const auto& c) { return !c; })) {
    draw_notice("This view cannot be compared in this build");
    return;
  }
  answer_hovered_ = false;
  draw_answers();
  const std::vector<ViewState*> all = sides();
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float n = static_cast<float>(all.size());
  const float width = std::floor((avail.x - ImGui::GetStyle().ItemSpacing.x * (n - 1)) / n);
  int hovered_side = -1;
  for (size_t i = 0; i < all.size(); ++i) {
    if (i > 0) ImGui::SameLine();
    char id[32];
    std::snprintf(id, sizeof id, "##side%zu", i);
    ImGui::BeginChild(id, ImVec2(width, avail.y), true, ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_NoScrollWithMouse);
    // Every side's run on a line of its own, so that the sides' maps line up; an added side's
    // line starts with the way to take it out of the comparison (first: narrow sides clip the end).
    if (i >= 2) {
      if (ImGui::SmallButton("×")) {
        ImGui::EndChild();
        remove_side(i);
        return;
      }
      if (ImGui::IsItemHovered()) ImGui::SetTooltip("Remove this run from the comparison");
      ImGui::SameLine();
    }
    ImGui::TextDisabled("%s", side_label(*all[i]).c_str());
    list[i]->draw();
    if (ImGui::IsWindowHovered(ImGuiHoveredFlags_ChildWindows)) hovered_side = static_cast<int>(i);
    ImGui::EndChild();
  }
  // The hovered side's cursor shows on the other sides too.
  if (hovered_side >= 0) {
    ViewState& from = *all[static_cast<size_t>(hovered_side)];
    from.cursor_linked = false;
    for (ViewState* to : all)
      if (to != &from)
        to->cursor_query = from.cursor_query, to->cursor_key = from.cursor_key, to->cursor_linked = from.cursor_query.has_value();
    Canvas* shown = list[static_cast<size_t>(hovered_side)].get();
    inspection_ = shown->inspection();
    const char* names[2] = {"Left · ", "Right · "};
    inspection_.title = (hovered_side < 2 ? std::string(names[hovered_side]) : "Side " + std::to_string(hovered_side + 1) + " · ") +
                        inspection_.title;
    // Attention maps of the same shape pan and zoom together.
    if (auto* a = dynamic_cast<AttentionExplorer*>(shown))
      for (auto& other : list)
        if (auto* b = dynamic_cast<AttentionExplorer*>(other.get());
            b && b != a && a->map_rows() == b->map_rows() && a->map_cols() == b->map_cols())
          b->set_view(a->view(), a->moved_by_user());
  } else if (!answer_hovered_) {
    for (ViewState* vs : all) vs->cursor_linked = false;
  }
}

void CompareCanvas::draw_difference() {
  diff_problem_.clear();
  diff_label_.clear();
  const RunData* ld = left_.run_data();
  const RunData* rd = right_.run_data();
  if (!ld || !rd) {
    waiting_ = true;
    draw_notice("Loading…");
    return;
  }
  const int64_t lstep = left_.shown_step(), rstep = right_.shown_step();
  const int64_t rows = rows_at(*ld, lstep);
  // Same tokens, position by position, up to the map's last row: else a difference means nothing.
  if (rows != rows_at(*rd, rstep)) {
    diff_problem_ = "the maps have " + std::to_string(rows) + " and " + std::to_string(rows_at(*rd, rstep)) +
                    " rows at the shown steps";
  } else {
    for (int64_t p = 0; p < rows && diff_problem_.empty(); ++p) {
      const auto& a = ld->tokens[static_cast<size_t>(std::min<int64_t>(p, static_cast<int64_t>(ld->tokens.size()) - 1))];
      const auto& b = rd->tokens[static_cast<size_t>(std::min<int64_t>(p, static_cast<int64_t>(rd->tokens.size()) - 1))];
      if (a.token_id != b.token_id)
        diff_problem_ = "the token sequences differ at position " + std::to_string(p) + " ('" + ld->token_text(p) +
                        "' against '" + rd->token_text(p) + "')";
    }
  }
  if (!diff_problem_.empty()) {
    draw_notice("No difference map: the runs did not see the same tokens", diff_problem_.c_str());
    return;
  }
  const int level = fit_level_of(rows, rows);
  const TileKey lk{left_.run, lstep, left_.layer, left_.head, level, 0, 0};
  const TileKey rk{right_.run, rstep, right_.layer, right_.head, level, 0, 0};
  Diff& d = *diff_;
  if (!(d.left == lk && d.right == rk && d.pool == left_.pool)) {
    d.left = lk, d.right = rk, d.pool = left_.pool, d.computed = false;
  }
  if (!d.computed) {
    const Tile* a = left_.doc->tiles().get(lk, Priority::Visible, left_.scale, left_.pool);
    const Tile* b = right_.doc->tiles().get(rk, Priority::Visible, right_.scale, right_.pool);
    const std::string* ea = left_.doc->tiles().error(lk);
    const std::string* eb = right_.doc->tiles().error(rk);
    if (ea || eb) {
      diff_problem_ = ea ? *ea : *eb;
      draw_notice("No difference map", diff_problem_.c_str());
      return;
    }
    if (!a || !b) {
      waiting_ = true;
      draw_notice("Loading both heads…");
      return;
    }
    const auto& av = (d.pool == Pool::Max || level == 0) ? a->data.max : a->data.mean;
    const auto& bv = (d.pool == Pool::Max || level == 0) ? b->data.max : b->data.mean;
    d.rows = std::min(a->data.rows, b->data.rows), d.cols = std::min(a->data.cols, b->data.cols), d.level = level;
    d.left_label = a->data.label, d.right_label = b->data.label;
    d.lv.assign(static_cast<size_t>(d.rows * d.cols), 0.f);
    d.rv = d.lv;
    d.max_abs = 0.f;
    for (int64_t r = 0; r < d.rows; ++r)
      for (int64_t c = 0; c < d.cols; ++c) {
        const size_t at = static_cast<size_t>(r * d.cols + c);
        d.lv[at] = av[static_cast<size_t>(r * a->data.cols + c)];
        d.rv[at] = bv[static_cast<size_t>(r * b->data.cols + c)];
        d.max_abs = std::max(d.max_abs, std::abs(d.lv[at] - d.rv[at]));
      }
    std::vector<uint32_t> px(d.lv.size());
    const float inv = d.max_abs > 0 ? 1.f / d.max_abs : 0.f;
    for (size_t i = 0; i < px.size(); ++i) px[i] = diverging_color((d.lv[i] - d.rv[i]) * inv);
    if (d.texture && d.tex_w == d.cols && d.tex_h == d.rows) textures_.update(d.texture, static_cast<int>(d.cols), static_cast<int>(d.rows), px);
    else {
      if (d.texture) textures_.destroy(d.texture);
      d.texture = textures_.create(static_cast<int>(d.cols), static_cast<int>(d.rows), px);
      d.tex_w = static_cast<int>(d.cols), d.tex_h = static_cast<int>(d.rows);
    }
    d.computed = true;
  }
  ImGui::TextDisabled("left − right, layer %d head %d, step %lld; %s", left_.layer, left_.head, static_cast<long long>(lstep),
                      d.level == 0 ? "exact scores" : ("cells pool " + std::to_string(1 << d.level) + " × " +
                                                         std::to_string(1 << d.level) + " scores (" +
                                                         (d.pool == Pool::Max ? "max" : "mean") + ")").c_str());
  // What is subtracted: the same quantity on both sides, or (a softmax layer against a recurrent
  // one) two different ones, which the header says rather than letting the colours imply a like
  // for like difference.
  diff_label_ = d.left_label == d.right_label
                    ? "both " + d.left_label
                    : "left: " + d.left_label + ", right: " + d.right_label + " (different quantities)";
  if (d.left_label == d.right_label) ImGui::TextUnformatted(diff_label_.c_str());
  else ImGui::TextColored(ImVec4(0.95f, 0.7f, 0.3f, 1.f), "%s", diff_label_.c_str());
  // The map fitted into the canvas; the wheel zooms about the pointer, a drag pans.
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  const ImVec2 area(std::max(32.f, avail.x - 90), std::max(32.f, avail.y - 8));
  ImGui::InvisibleButton("##diff", area);
  const float fit = std::min(area.x / static_cast<float>(d.cols), area.y / static_cast<float>(d.rows));
  ImGuiIO& io = ImGui::GetIO();
  const float scale = fit * static_cast<float>(d.zoom);
  auto to_screen = [&](double fx, double fy) {
    return ImVec2(origin.x + area.x * 0.5f + static_cast<float>((fx - d.cx) * d.cols * scale),
                  origin.y + area.y * 0.5f + static_cast<float>((fy - d.cy) * d.rows * scale));
  };
  if (ImGui::IsItemHovered() && io.MouseWheel != 0.f) {
    const double f = std::pow(1.25, io.MouseWheel);
    const double mx = (io.MousePos.x - origin.x - area.x * 0.5) / (d.cols * scale) + d.cx;
    const double my = (io.MousePos.y - origin.y - area.y * 0.5) / (d.rows * scale) + d.cy;
    d.zoom = std::clamp(d.zoom * f, 0.5, 64.0);
    const double s2 = fit * d.zoom;
    d.cx = mx - (io.MousePos.x - origin.x - area.x * 0.5) / (d.cols * s2);
    d.cy = my - (io.MousePos.y - origin.y - area.y * 0.5) / (d.rows * s2);
  }
  if (ImGui::IsItemActive() && ImGui::IsMouseDragging(ImGuiMouseButton_Left, 0.f)) {
    d.cx -= io.MouseDelta.x / (d.cols * scale), d.cy -= io.MouseDelta.y / (d.rows * scale);
  }
  if (ImGui::IsItemHovered() && ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) d.zoom = 1, d.cx = d.cy = 0.5;
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->PushClipRect(origin, ImVec2(origin.x + area.x, origin.y + area.y), true);
  dl->AddImage(d.texture, to_screen(0, 0), to_screen(1, 1));
  dl->PopClipRect();
  draw_diverging_bar(dl, ImVec2(origin.x + area.x + 10, origin.y), area.y * 0.6f, d.max_abs, "left − right");

  if (ImGui::IsItemHovered()) {
    const ImVec2 m = io.MousePos;
    const ImVec2 p0 = to_screen(0, 0);
    const int64_t c = static_cast<int64_t>((m.x - p0.x) / scale), r = static_cast<int64_t>((m.y - p0.y) / scale);
    if (r >= 0 && c >= 0 && r < d.rows && c < d.cols) {
      const size_t at = static_cast<size_t>(r * d.cols + c);
      const int64_t s = int64_t{1} << d.level;
      char a[32], b[32], diff[32];
      std::snprintf(a, sizeof a, "%.6g", d.lv[at]);
      std::snprintf(b, sizeof b, "%.6g", d.rv[at]);
      std::snprintf(diff, sizeof diff, "%+.6g", d.lv[at] - d.rv[at]);
      inspection_.title = "Difference";
      inspection_.add("query", d.level == 0 ? std::to_string(r) + " '" + ld->token_text(r) + "'"
                                            : std::to_string(r * s) + "–" + std::to_string(r * s + s - 1));
      inspection_.add("key", d.level == 0 ? std::to_string(c) + " '" + ld->token_text(c) + "'"
                                          : std::to_string(c * s) + "–" + std::to_string(c * s + s - 1));
      inspection_.add("left", a);
      inspection_.add("right", b);
      inspection_.add("left − right", diff);
      inspection_.add("values", diff_label_);
      left_.cursor_query = r * s, left_.cursor_key = c * s;
      ImGui::BeginTooltip();
      ImGui::Text("left %s  right %s  Δ %s", a, b, diff);
      ImGui::EndTooltip();
    }
  }
}

void CompareCanvas::draw_deltas() {
  Deltas& dd = *deltas_;
  bool ready = true;
  for (int i = 0; i < 2; ++i) {
    ViewState& vs = i == 0 ? left_ : right_;
    auto& s = dd.side[i];
    const int64_t step = vs.shown_step();
    if (s.run != vs.run || s.step != step || s.doc != vs.doc) {
      s.run = vs.run, s.step = step, s.doc = vs.doc, s.ready = false;
      const int64_t run = vs.run;
      s.pending = vs.doc->worker().compute<std::vector<profiler::HeadMetricRecord>>(
          Priority::Visible, [run, step](profiler::SessionReader& r) { return r.head_metrics(run, step); });
    }
    if (s.pending && s.pending->ready()) {
      if (auto* v = s.pending->mutable_value()) s.values = std::move(*v);
      else s.values.clear();
      s.ready = true;
      s.pending.reset();
    }
    ready = ready && s.ready;
  }
  ImGui::SetNextItemWidth(160);
  ImGui::Combo("metric", &dd.metric, kMetricNames, 4);
  if (!ready) {
    waiting_ = true;
    draw_notice("Loading the head metrics…");
    return;
  }
  if (dd.side[0].values.empty() || dd.side[1].values.empty()) {
    draw_notice("No metric deltas: a run has no head metrics at the shown step",
                "Record with --capture metrics (included in 'all').");
    return;
  }
  // (layer, head) → value per side.
  std::map<std::pair<int32_t, int32_t>, double> a, b;
  int32_t layers = 0, heads = 0;
  for (const auto& m : dd.side[0].values) a[{m.layer, m.head}] = metric_of(m.m, dd.metric);
  for (const auto& m : dd.side[1].values) b[{m.layer, m.head}] = metric_of(m.m, dd.metric);
  double max_abs = 0;
  for (const auto& [k, v] : a)
    if (auto it = b.find(k); it != b.end()) {
      max_abs = std::max(max_abs, std::abs(v - it->second));
      layers = std::max(layers, k.first + 1), heads = std::max(heads, k.second + 1);
    }
  if (layers == 0) {
    draw_notice("The runs share no (layer, head)");
    return;
  }
  ImGui::SameLine();
  ImGui::TextDisabled("left − right at the shown step; %d layers × %d heads in both", layers, heads);
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  const float label_w = 64.f, top = 22.f;
  const float cell = std::max(6.f, std::min((avail.x - label_w - 100) / heads, (avail.y - top - 8) / layers));
  const ImVec2 area(label_w + cell * heads, top + cell * layers);
  ImGui::InvisibleButton("##deltas", area);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text), dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
  for (int32_t h = 0; h < heads; ++h) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "h%d", h);
    dl->AddText(ImVec2(origin.x + label_w + h * cell + 2, origin.y + 2), dim, buf);
  }
  std::optional<std::pair<int32_t, int32_t>> hovered;
  const ImVec2 m = ImGui::GetIO().MousePos;
  for (int32_t l = 0; l < layers; ++l) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "layer %d", l);
    if (cell >= ImGui::GetTextLineHeight() || l % 5 == 0)
      dl->AddText(ImVec2(origin.x, origin.y + top + l * cell + (cell - ImGui::GetTextLineHeight()) * 0.5f), dim, buf);
    for (int32_t h = 0; h < heads; ++h) {
      const ImVec2 p0(origin.x + label_w + h * cell, origin.y + top + l * cell);
      const ImVec2 p1(p0.x + cell - 1, p0.y + cell - 1);
      auto ia = a.find({l, h});
      auto ib = b.find({l, h});
      const bool both = ia != a.end() && ib != b.end();
      const float t = both && max_abs > 0 ? static_cast<float>((ia->second - ib->second) / max_abs) : NAN;
      dl->AddRectFilled(p0, p1, diverging_color(t));
      if (ImGui::IsItemHovered() && m.x >= p0.x && m.x < p1.x + 1 && m.y >= p0.y && m.y < p1.y + 1) {
        hovered = std::make_pair(l, h);
        dl->AddRect(p0, p1, text, 0, 0, 2.f);
      }
    }
  }
  draw_diverging_bar(dl, ImVec2(origin.x + area.x + 12, origin.y + top), std::min(area.y - top, 300.f),
                     static_cast<float>(max_abs), kMetricNames[dd.metric]);
  if (hovered) {
    const auto [l, h] = *hovered;
    inspection_.title = std::string("Δ ") + kMetricNames[dd.metric];
    inspection_.add("layer / head", std::to_string(l) + " / " + std::to_string(h));
    char buf[64];
    auto ia = a.find({l, h});
    auto ib = b.find({l, h});
    if (ia != a.end()) std::snprintf(buf, sizeof buf, "%.6g", ia->second), inspection_.add("left", buf);
    if (ib != b.end()) std::snprintf(buf, sizeof buf, "%.6g", ib->second), inspection_.add("right", buf);
    if (ia != a.end() && ib != b.end()) std::snprintf(buf, sizeof buf, "%+.6g", ia->second - ib->second), inspection_.add("left − right", buf);
    if (ImGui::IsMouseClicked(ImGuiMouseButton_Left)) {
      left_.layer = right_.layer = l, left_.head = right_.head = h;
      mode_ = "attention";
    }
  }
}

}  // namespace mnemo::viz
