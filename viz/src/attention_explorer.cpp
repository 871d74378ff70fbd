#include "mnemo/viz/attention_explorer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "mnemo/profiler/session/attention_math.h"
#include "mnemo/viz/map_levels.h"

namespace mnemo::viz {
namespace {

// Room for the axes' labels and the colour bar, cut down when the canvas is narrow (Compare's halves).
struct Margins {
  float left, top, bar;
  bool color_bar = true;
};
Margins margins_for(ImVec2 avail) {
  // A canvas a few hundred pixels wide (one side of a compare view of many runs) gives the map
  // the room: positions only, no colour bar (the toolbar's scale says what the colours mean).
  if (avail.x < 320.f) return Margins{30.f, 22.f, 4.f, false};
  const bool narrow = avail.x < 760.f;
  return narrow ? Margins{64.f, 44.f, 70.f} : Margins{124.f, 84.f, 78.f};
}
constexpr double kMaxZoom = 96.0;     // pixels per cell
constexpr int64_t kTile = profiler::kTileSize;

// A "nice" tick step (1, 2, 5 × 10^k) of at least `min_step`.
int64_t nice_step(double min_step) {
  int64_t step = 1;
  while (true) {
    for (int m : {1, 2, 5})
      if (static_cast<double>(step * m) >= min_step) return step * m;
    step *= 10;
  }
}

std::string quoted_token(const RunData* d, int64_t pos) {
  if (!d) return std::to_string(pos);
  return std::to_string(pos) + " '" + d->token_text(pos) + "'";
}

}  // namespace

void AttentionExplorer::fit() { fitted_ = false, moved_by_user_ = false; }

ImVec2 AttentionExplorer::to_screen(double col, double row) const {
  return ImVec2(static_cast<float>(map_origin_.x + map_size_.x * 0.5 + (col - view_.cx) * view_.zoom),
                static_cast<float>(map_origin_.y + map_size_.y * 0.5 + (row - view_.cy) * view_.zoom));
}

std::optional<std::pair<int64_t, int64_t>> AttentionExplorer::cell_at(ImVec2 p) const {
  if (shape_.rows == 0 || view_.zoom <= 0) return std::nullopt;
  const double col = view_.cx + (p.x - map_origin_.x - map_size_.x * 0.5) / view_.zoom;
  const double row = view_.cy + (p.y - map_origin_.y - map_size_.y * 0.5) / view_.zoom;
  if (col < 0 || row < 0 || col >= static_cast<double>(shape_.cols) || row >= static_cast<double>(shape_.rows))
    return std::nullopt;
  return std::make_pair(static_cast<int64_t>(row), static_cast<int64_t>(col));
}

void AttentionExplorer::update_shape() {
  Shape want;
  want.run = vs_.run, want.step = vs_.shown_step(), want.layer = vs_.layer, want.head = vs_.head;
  if (want.step < 0) return;
  if (!(want.run == shape_asked_.run && want.step == shape_asked_.step && want.layer == shape_asked_.layer &&
        want.head == shape_asked_.head)) {
    shape_asked_ = want;
    const int64_t run = want.run, step = want.step;
    const int32_t layer = want.layer, head = want.head;
    shape_pending_ = vs_.doc->worker().compute<profiler::MapShape>(
        Priority::Now, [=](profiler::SessionReader& r) { return r.map_shape(run, step, layer, head); });
  }
  if (shape_pending_ && shape_pending_->ready()) {
    if (const auto* s = shape_pending_->value()) {
      Shape next = shape_asked_;
      next.rows = s->rows, next.cols = s->cols, next.channels = s->channels_per_head;
      next.fit_level = fit_level_of(s->rows, s->cols);
      // A new head or run starts fitted; a new step of the same head keeps the view.
      if (next.run != shape_.run || next.layer != shape_.layer || next.head != shape_.head) fit();
      // Another layer may have another mixer (a hybrid): its tiles bring its own label.
      if (next.run != shape_.run || next.layer != shape_.layer) label_.clear();
      shape_ = next;
    } else {
      shape_ = Shape{};
      shape_.run = shape_asked_.run;
      error_ = shape_pending_->error();
    }
    shape_pending_.reset();
  }
}

TileKey AttentionExplorer::tile_key(int level, int64_t ty, int64_t tx) const {
  return {shape_.run, shape_.step, shape_.layer, shape_.head, level, ty, tx, shown_channel()};
}

void AttentionExplorer::draw_channel_selector() {
  // Only where the layer's map kind has channels; the label the toolbar draws next says which map
  // is drawn.
  channel_selector_shown_ = shape_.channels > 0;
  if (!channel_selector_shown_) return;
  int c = static_cast<int>(shown_channel());
  ImGui::SetNextItemWidth(150);
  if (ImGui::SliderInt("channel", &c, -1, static_cast<int>(shape_.channels - 1), c < 0 ? "mean over channels" : "channel %d",
                       ImGuiSliderFlags_AlwaysClamp))
    channel_ = c;
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("The head's map (mean over its %lld channels), or one channel's own map (Ctrl+click to type)",
                      static_cast<long long>(shape_.channels));
}

void AttentionExplorer::draw_toolbar() {
  draw_selection_bar(vs_);
  const char* kinds[] = {"linear", "log", "rank"};
  int kind = static_cast<int>(vs_.scale.kind());
  ImGui::SetNextItemWidth(90);
  if (ImGui::Combo("scale", &kind, kinds, 3)) vs_.scale.set_kind(static_cast<profiler::ScaleKind>(kind));
  ImGui::SameLine();
  ImGui::SetNextItemWidth(90);
  const auto names = profiler::colormap_names();
  if (ImGui::BeginCombo("colours", std::string(vs_.scale.colormap().name()).c_str())) {
    for (auto n : names)
      if (ImGui::Selectable(std::string(n).c_str(), n == vs_.scale.colormap().name()))
        vs_.scale.set_colormap(profiler::colormap(n));
    ImGui::EndCombo();
  }
  ImGui::SameLine();
  int pool = vs_.pool == Pool::Max ? 0 : 1;
  const char* pools[] = {"max", "mean"};
  ImGui::SetNextItemWidth(70);
  if (ImGui::Combo("pooling", &pool, pools, 2)) vs_.pool = pool == 0 ? Pool::Max : Pool::Mean;
  ImGui::SameLine();
  if (ImGui::Checkbox("auto range", &vs_.auto_range)) range_for_ = 0;
  ImGui::SameLine();
  if (ImGui::Button("Fit")) fit();
  if (shape_.rows > 0) {
    ImGui::SameLine();
    ImGui::TextDisabled("%lld × %lld  ·  level %d  ·  %.3g px/cell", static_cast<long long>(shape_.rows),
                        static_cast<long long>(shape_.cols), level_, view_.zoom);
  }
  draw_channel_selector();
  if (shape_.rows > 0) {
    // What the map is (softmax probabilities, a recurrent layer's implicit attention), in plain
    // text: the colours alone would not say which. On a line of its own, drawn before the first
    // tile brings the label too, so that the map below never moves when it arrives.
    const std::string what = label_.empty()                ? std::string("…")
                             : vs_.scale.is_signed() ? label_ + "  ·  signed: blue < 0 < red"
                                                     : label_;
    ImGui::TextUnformatted(what.c_str());
  }
}

void AttentionExplorer::update_auto_range() {
  if (!vs_.auto_range || shape_.rows == 0) return;
  const TileKey overview = tile_key(shape_.fit_level, 0, 0);
  const uint64_t id = TileKeyHash{}(overview) ^ static_cast<uint64_t>(vs_.pool);
  if (id == range_for_) return;
  const Tile* t = vs_.doc->tiles().get(overview, Priority::Visible, vs_.scale, vs_.pool);
  if (!t) return;
  const auto& v = (vs_.pool == Pool::Max || t->data.level == 0) ? t->data.max : t->data.mean;
  vs_.scale.set_sample(v);
  float lo = 0.f, hi = 0.f;
  for (float x : v)
    if (std::isfinite(x)) lo = std::min(lo, x), hi = std::max(hi, x);
  // A pooled overview's maxima hide negative cells next to positive ones; its means show them.
  for (float x : t->data.mean)
    if (std::isfinite(x)) lo = std::min(lo, x);
  // A map with negative weights (implicit attention) is drawn on a diverging scale about 0: on a
  // sequential one from 0 its negative half would look like no attention at all.
  vs_.scale.set_signed(lo < 0.f);
  const float top = std::max(hi, -lo);
  if (top > 0.f) {
    if (vs_.scale.kind() == profiler::ScaleKind::Log) vs_.scale.set_range(vs_.scale.log_floor(), top);
    else vs_.scale.set_range(lo < 0.f ? -top : 0.f, top);
  }
  range_for_ = id;
}

void AttentionExplorer::handle_input(ImVec2 origin, ImVec2 size) {
  ImGuiIO& io = ImGui::GetIO();
  const double fit_zoom = std::min(size.x / std::max<double>(1, shape_.cols), size.y / std::max<double>(1, shape_.rows));
  const bool resized = size.x != fitted_size_.x || size.y != fitted_size_.y;
  if (!fitted_ || (resized && !moved_by_user_)) {
    // Centred across, at the top of the canvas: the key axis's labels stay next to the map when
    // the canvas is taller than the map (a narrow compare side).
    target_.zoom = fit_zoom;
    target_.cx = shape_.cols * 0.5, target_.cy = std::max(shape_.rows * 0.5, size.y * 0.5 / fit_zoom);
    view_ = target_;
    fitted_ = true;
    fitted_size_ = size;
  }
  const bool hovered = ImGui::IsItemHovered();
  if (hovered && io.MouseWheel != 0.f) {
    moved_by_user_ = true;
    // Zoom about the cell under the pointer: it stays under the pointer as the zoom animates.
    const double factor = std::pow(1.25, io.MouseWheel);
    const double mx = io.MousePos.x - origin.x - size.x * 0.5, my = io.MousePos.y - origin.y - size.y * 0.5;
    const double ax = target_.cx + mx / target_.zoom, ay = target_.cy + my / target_.zoom;
    target_.zoom = std::clamp(target_.zoom * factor, fit_zoom * 0.25, kMaxZoom);
    target_.cx = ax - mx / target_.zoom, target_.cy = ay - my / target_.zoom;
  }
  if (ImGui::IsItemActive() && ImGui::IsMouseDragging(ImGuiMouseButton_Left, 0.f) &&
      (io.MouseDelta.x != 0.f || io.MouseDelta.y != 0.f)) {
    moved_by_user_ = true;
    target_.cx -= io.MouseDelta.x / view_.zoom, target_.cy -= io.MouseDelta.y / view_.zoom;
    view_.cx -= io.MouseDelta.x / view_.zoom, view_.cy -= io.MouseDelta.y / view_.zoom;
  }
  if (hovered && ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) fit();
  if (ImGui::IsWindowFocused()) {
    if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Home))) fit();
  }
  // Ease towards the target in log-zoom: smooth, and exact once close.
  const double k = 1.0 - std::exp(-std::max(io.DeltaTime, 1e-3f) * 18.0);
  const double lz = std::log(view_.zoom) + (std::log(target_.zoom) - std::log(view_.zoom)) * k;
  const double ratio_done = std::abs(std::log(target_.zoom) - lz) < 1e-3;
  if (ratio_done) {
    view_ = target_;
    animating_ = false;
  } else {
    // Keep the target's anchor consistent: interpolate the centre with the same progress.
    view_.cx += (target_.cx - view_.cx) * k, view_.cy += (target_.cy - view_.cy) * k;
    view_.zoom = std::exp(lz);
    animating_ = true;
  }
}

void AttentionExplorer::draw_map(ImDrawList* dl, ImVec2 origin, ImVec2 size) {
  TileCache& tiles = vs_.doc->tiles();
  const int fit = shape_.fit_level;
  const double cells_per_px = 1.0 / view_.zoom;
  level_ = std::clamp(static_cast<int>(std::ceil(std::log2(std::max(cells_per_px, 1e-9)) - 1e-6)), 0, fit);
  const int L = level_;
  loading_ = false;

  dl->PushClipRect(origin, ImVec2(origin.x + size.x, origin.y + size.y), true);
  const ImVec2 m0 = to_screen(0, 0), m1 = to_screen(static_cast<double>(shape_.cols), static_cast<double>(shape_.rows));
  dl->PushClipRect(ImVec2(std::max(m0.x, origin.x), std::max(m0.y, origin.y)),
                   ImVec2(std::min(m1.x, origin.x + size.x), std::min(m1.y, origin.y + size.y)), true);

  auto draw_tile = [&](const Tile& t, double x0, double y0, double x1, double y1) {
    // Map cells [x0, x1) × [y0, y1) drawn from the part of tile t that covers them.
    const double s = static_cast<double>(int64_t{1} << t.data.level);
    const double tx0 = t.data.col0 * s, ty0 = t.data.row0 * s;
    const double tw = t.data.cols * s, th = t.data.rows * s;
    const ImVec2 uv0(static_cast<float>((x0 - tx0) / tw), static_cast<float>((y0 - ty0) / th));
    const ImVec2 uv1(static_cast<float>((x1 - tx0) / tw), static_cast<float>((y1 - ty0) / th));
    dl->AddImage(t.texture, to_screen(x0, y0), to_screen(x1, y1), uv0, uv1);
  };

  // The whole map at the overview level: the stand-in for everything still loading (asked for
  // first, so that it takes the frame's upload budget before finer tiles).
  const TileKey overview = tile_key(fit, 0, 0);
  const Tile* overview_tile = tiles.get(overview, Priority::Visible, vs_.scale, vs_.pool);
  tile_error_.clear();
  label_.clear();  // what this frame draws says what it is (another channel's tiles may still be loading)
  if (overview_tile) label_ = overview_tile->data.label;
  // Map cells [x0, x1) × [y0, y1) from tile t, or the background without one.
  const ImU32 background = vs_.scale.color(0.f);
  auto fill = [&](const Tile* t, double x0, double y0, double x1, double y1) {
    if (t) draw_tile(*t, x0, y0, x1, y1);
    else dl->AddRectFilled(to_screen(x0, y0), to_screen(x1, y1), background);
  };

  // The tiles of level L in view. Each slot is filled once, by its tile, or while that loads by
  // the nearest coarser level that has it, the overview, or the background: a software
  // rasteriser pays for every layer drawn.
  bool overview_wanted = true;  // no slot of level L in view, or one is still loading
  int64_t tx0 = 0, tx1 = -1, ty0 = 0, ty1 = -1;
  if (L < fit) {
    const double span = static_cast<double>(kTile << L);
    const double half_w = size.x * 0.5 / view_.zoom, half_h = size.y * 0.5 / view_.zoom;
    const double c0 = std::max(0.0, view_.cx - half_w), c1 = std::min<double>(shape_.cols, view_.cx + half_w);
    const double r0 = std::max(0.0, view_.cy - half_h), r1 = std::min<double>(shape_.rows, view_.cy + half_h);
    if (c1 > c0 && r1 > r0) {
      overview_wanted = false;
      tx0 = static_cast<int64_t>(c0 / span), tx1 = static_cast<int64_t>((c1 - 1e-9) / span);
      ty0 = static_cast<int64_t>(r0 / span), ty1 = static_cast<int64_t>((r1 - 1e-9) / span);
      for (int64_t ty = ty0; ty <= ty1; ++ty)
        for (int64_t tx = tx0; tx <= tx1; ++tx) {
          const TileKey key = tile_key(L, ty, tx);
          const Tile* t = tiles.get(key, Priority::Visible, vs_.scale, vs_.pool);
          if (t) label_ = t->data.label;
          if (!t) {
            if (const std::string* why = tiles.error(key)) tile_error_ = *why;
            else loading_ = true;
            for (int a = L + 1; a < fit && !t; ++a)
              t = tiles.peek(tile_key(a, ty >> (a - L), tx >> (a - L)), vs_.scale, vs_.pool);
            if (!t) t = overview_tile, overview_wanted = true;
          }
          const double x0 = tx * span, y0 = ty * span;
          fill(t, x0, y0, std::min<double>(x0 + span, shape_.cols), std::min<double>(y0 + span, shape_.rows));
        }
    }
  }
  if (tx1 < tx0) fill(overview_tile, 0, 0, static_cast<double>(shape_.cols), static_cast<double>(shape_.rows));
  if (overview_wanted && !overview_tile) {
    if (const std::string* why = tiles.error(overview))
      tile_error_ = *why;
    else
      loading_ = true;
  }
  // A tile that could not be read is said so over the map, never drawn as if empty.
  if (!tile_error_.empty())
    dl->AddText(ImVec2(origin.x + 8, origin.y + 8), ImGui::GetColorU32(ImGuiCol_Text), tile_error_.c_str());

  if (tx1 >= tx0) {
    // Prefetch: the ring around the view at this level, and the next finer level's centre.
    const int64_t max_tx = (((shape_.cols + (int64_t{1} << L) - 1) >> L) - 1) / kTile;
    const int64_t max_ty = (((shape_.rows + (int64_t{1} << L) - 1) >> L) - 1) / kTile;
    for (int64_t ty = ty0 - 1; ty <= ty1 + 1; ++ty)
      for (int64_t tx = tx0 - 1; tx <= tx1 + 1; ++tx) {
        if (ty < 0 || tx < 0 || ty > max_ty || tx > max_tx) continue;
        if (ty >= ty0 && ty <= ty1 && tx >= tx0 && tx <= tx1) continue;
        tiles.prefetch(tile_key(L, ty, tx));
      }
    if (L > 0) {
      const double fine_span = static_cast<double>(kTile << (L - 1));
      tiles.prefetch(
          tile_key(L - 1, static_cast<int64_t>(view_.cy / fine_span), static_cast<int64_t>(view_.cx / fine_span)));
    }
  }
  // Cell grid when cells are large enough to tell apart.
  if (view_.zoom >= 12) {
    const double half_w = size.x * 0.5 / view_.zoom, half_h = size.y * 0.5 / view_.zoom;
    const int64_t c0 = std::max<int64_t>(0, static_cast<int64_t>(view_.cx - half_w));
    const int64_t c1 = std::min<int64_t>(shape_.cols, static_cast<int64_t>(view_.cx + half_w) + 1);
    const int64_t r0 = std::max<int64_t>(0, static_cast<int64_t>(view_.cy - half_h));
    const int64_t r1 = std::min<int64_t>(shape_.rows, static_cast<int64_t>(view_.cy + half_h) + 1);
    const ImU32 grid = IM_COL32(0, 0, 0, 60);
    for (int64_t c = c0; c <= c1; ++c) dl->AddLine(to_screen(c, r0), to_screen(c, r1), grid);
    for (int64_t r = r0; r <= r1; ++r) dl->AddLine(to_screen(c0, r), to_screen(c1, r), grid);
  }
  dl->PopClipRect();
  dl->PopClipRect();
}

void AttentionExplorer::draw_axes(ImDrawList* dl, ImVec2 origin, ImVec2 size) {
  const RunData* d = vs_.run_data();
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text), dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
  const float line = ImGui::GetTextLineHeight();
  const double half_w = size.x * 0.5 / view_.zoom, half_h = size.y * 0.5 / view_.zoom;
  const int64_t c0 = std::max<int64_t>(0, static_cast<int64_t>(view_.cx - half_w));
  const int64_t c1 = std::min<int64_t>(shape_.cols - 1, static_cast<int64_t>(view_.cx + half_w));
  const int64_t r0 = std::max<int64_t>(0, static_cast<int64_t>(view_.cy - half_h));
  const int64_t r1 = std::min<int64_t>(shape_.rows - 1, static_cast<int64_t>(view_.cy + half_h));
  const bool labels = d && view_.zoom >= line;  // one text line per cell: tokens fit
  const int64_t step = labels ? 1 : nice_step(line * 4.0 / view_.zoom);

  // Half a line above the map too: the first row's label is centred on its row.
  dl->PushClipRect(ImVec2(origin.x - margins_.left, origin.y - line * 0.5f), ImVec2(origin.x, origin.y + size.y), true);
  for (int64_t r = r0 - r0 % step; r <= r1; r += step) {
    if (r < r0) continue;
    std::string s = labels ? quoted_token(d, r) : std::to_string(r);
    const float w = ImGui::CalcTextSize(s.c_str()).x;
    const ImVec2 at = to_screen(0, r + 0.5);
    const bool cur = vs_.cursor_query && *vs_.cursor_query == r;
    dl->AddText(ImVec2(origin.x - 6 - std::min(w, margins_.left - 8), at.y - line * 0.5f), cur ? text : dim, s.c_str());
  }
  dl->PopClipRect();

  // Into the corner on the left, so that the first position's label is whole.
  dl->PushClipRect(ImVec2(origin.x - margins_.left, origin.y - margins_.top), ImVec2(origin.x + size.x, origin.y), true);
  for (int64_t c = c0 - c0 % step; c <= c1; c += step) {
    if (c < c0) continue;
    std::string s = labels ? quoted_token(d, c) : std::to_string(c);
    const ImVec2 at = to_screen(c + 0.5, 0);
    const int first = dl->VtxBuffer.Size;
    const bool cur = vs_.cursor_key && *vs_.cursor_key == c;
    const float w = std::min(ImGui::CalcTextSize(s.c_str()).x, margins_.top * 1.1f);
    if (!labels) {  // positions read level
      dl->AddText(ImVec2(at.x - w * 0.5f, origin.y - line - 4), cur ? text : dim, s.c_str());
      continue;
    }
    // Tokens are written left to right ending at the axis, then turned up by 60°.
    const ImVec2 end(at.x, origin.y - 6);
    dl->AddText(ImVec2(end.x - w, end.y - line * 0.5f), cur ? text : dim, s.c_str());
    rotate_vertices(dl, first, -1.0472f, end);
  }
  dl->PopClipRect();
  if (margins_.left >= 60.f) dl->AddText(ImVec2(origin.x - margins_.left + 2, origin.y - line - 2), dim, "query ↓ key →");
}

void AttentionExplorer::draw_color_bar(ImDrawList* dl, ImVec2 at, float height) {
  const float w = 14.f;
  const int n = 64;
  const bool is_signed = vs_.scale.is_signed();
  for (int i = 0; i < n; ++i) {
    const float t0 = static_cast<float>(i) / n, t1 = static_cast<float>(i + 1) / n;
    const profiler::Rgb8 c = vs_.scale.colormap().map((t0 + t1) * 0.5f);
    dl->AddRectFilled(ImVec2(at.x, at.y + height * (1 - t1)), ImVec2(at.x + w, at.y + height * (1 - t0) + 1),
                      is_signed ? diverging_color(t0 + t1 - 1.f) : IM_COL32(c.r, c.g, c.b, 255));
  }
  dl->AddRect(at, ImVec2(at.x + w, at.y + height), ImGui::GetColorU32(ImGuiCol_Border));
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text);
  for (float t : {0.f, 0.25f, 0.5f, 0.75f, 1.f}) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", vs_.scale.value_at(t));
    const float y = at.y + height * (1 - t);
    dl->AddLine(ImVec2(at.x + w, y), ImVec2(at.x + w + 4, y), text);
    dl->AddText(ImVec2(at.x + w + 6, y - ImGui::GetTextLineHeight() * 0.5f), text, buf);
  }
  dl->AddText(ImVec2(at.x, at.y + height + 4), ImGui::GetColorU32(ImGuiCol_TextDisabled),
              ColorScale::kind_name(vs_.scale.kind()));
  if (is_signed)  // blue below 0, red above
    dl->AddText(ImVec2(at.x, at.y + height + 4 + ImGui::GetTextLineHeight()), ImGui::GetColorU32(ImGuiCol_TextDisabled), "signed");
}

void AttentionExplorer::hover(ImVec2 origin, ImVec2 size) {
  const ImVec2 mouse = ImGui::GetIO().MousePos;
  const bool inside = ImGui::IsItemHovered();
  const auto cell = inside ? cell_at(mouse) : std::nullopt;
  if (!cell) {
    // The other side of a comparison (or its answers table) points here: mark its cell, or its
    // whole query row when it names no key; keep its cursor.
    if (vs_.cursor_linked && vs_.cursor_query) {
      ImDrawList* dl = ImGui::GetWindowDrawList();
      dl->PushClipRect(origin, ImVec2(origin.x + size.x, origin.y + size.y), true);
      const double q = static_cast<double>(*vs_.cursor_query);
      const double k0 = vs_.cursor_key ? static_cast<double>(*vs_.cursor_key) : 0.0;
      const double k1 = vs_.cursor_key ? k0 + 1 : static_cast<double>(map_cols());
      dl->AddRect(to_screen(k0, q), to_screen(k1, q + 1), IM_COL32(255, 200, 60, 230), 0, 0, 2.f);
      dl->PopClipRect();
      return;
    }
    vs_.cursor_query.reset(), vs_.cursor_key.reset();
    return;
  }
  const auto [q, k] = *cell;
  vs_.cursor_query = q, vs_.cursor_key = k;
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->PushClipRect(origin, ImVec2(origin.x + size.x, origin.y + size.y), true);
  dl->AddRect(to_screen(k, q), to_screen(k + 1, q + 1), IM_COL32(255, 255, 255, 220), 0, 0, 1.5f);
  dl->PopClipRect();

  // The exact score: one query row, recomputed on the worker (any level, any zoom).
  const RowKey want{shape_.run, shape_.layer, shape_.head, shown_channel(), q};
  if (!(want == row_key_)) {
    row_key_ = want;
    const int64_t run = want.run, channel = want.channel;
    const int32_t layer = want.layer, head = want.head;
    row_ = vs_.doc->worker().compute<std::vector<float>>(
        Priority::Now, [=](profiler::SessionReader& r) { return r.row(run, layer, head, q, channel); });
  }
  const RunData* d = vs_.run_data();
  inspection_.clear();
  inspection_.title = "Attention score";
  inspection_.add("run", std::to_string(shape_.run));
  inspection_.add("step", std::to_string(shape_.step));
  inspection_.add("layer / head", std::to_string(shape_.layer) + " / " + std::to_string(shape_.head));
  inspection_.add("query", quoted_token(d, q));
  inspection_.add("key", quoted_token(d, k));
  std::string score = "…";
  waiting_ = waiting_ || !row_->ready();
  if (row_->ready()) {
    if (const auto* p = row_->value()) {
      char buf[64];
      if (k < static_cast<int64_t>(p->size())) std::snprintf(buf, sizeof buf, "%.6g", (*p)[static_cast<size_t>(k)]);
      else std::snprintf(buf, sizeof buf, "0 (key not visible)");
      score = buf;
    } else {
      score = row_->error();
    }
  }
  inspection_.add("score", score);
  if (!label_.empty()) inspection_.add("values", label_);
  if (level_ > 0) {
    inspection_.add("cell", "level " + std::to_string(level_) + ": " + std::to_string(1 << level_) + " × " +
                                std::to_string(1 << level_) + " scores, " + (vs_.pool == Pool::Max ? "max" : "mean"));
  }
  ImGui::BeginTooltip();
  ImGui::Text("query %s", quoted_token(d, q).c_str());
  ImGui::Text("key   %s", quoted_token(d, k).c_str());
  ImGui::Text("score %s", score.c_str());
  if (!label_.empty()) ImGui::TextDisabled("%s", label_.c_str());
  ImGui::EndTooltip();
}

void AttentionExplorer::draw() {
  inspection_.clear();
  waiting_ = false;
  if (!vs_.has_run()) {
    const NoRunNotice n = no_run_notice(vs_);
    draw_notice(n.message, n.detail.c_str());
    return;
  }
  // The shape first: the toolbar offers what this frame's map has (a Mamba-1 layer's channel
  // selector), not the previous map's. A selection changed in the toolbar is asked for next frame.
  update_shape();
  draw_toolbar();
  waiting_ = shape_pending_ != nullptr;  // asked, not arrived when this frame was drawn
  if (shape_.rows == 0) {
    if (!error_.empty() && !shape_pending_) draw_notice("No attention to show for this head", error_.c_str());
    else draw_notice("Loading…");
    loading_ = true;
    return;
  }
  error_.clear();
  update_auto_range();

  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const ImVec2 cursor = ImGui::GetCursorScreenPos();
  const Margins m = margins_for(avail);
  margins_ = {m.left, m.top};
  const ImVec2 origin(cursor.x + m.left, cursor.y + m.top);
  const ImVec2 size(std::max(32.f, avail.x - m.left - m.bar), std::max(32.f, avail.y - m.top - 4));
  map_origin_ = origin, map_size_ = size;

  // One item for the whole map (STYLE.md §8): hit-testing is ours, not a widget per cell.
  ImGui::SetCursorScreenPos(origin);
  ImGui::InvisibleButton("##map", size, ImGuiButtonFlags_MouseButtonLeft);
  handle_input(origin, size);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  draw_map(dl, origin, size);
  draw_axes(dl, origin, size);
  if (m.color_bar) draw_color_bar(dl, ImVec2(origin.x + size.x + 10, origin.y), size.y * 0.6f);
  hover(origin, size);
  if (inspection_.empty()) {
    const RunData* d = vs_.run_data();
    inspection_.title = "Head";
    inspection_.add("run", std::to_string(shape_.run));
    inspection_.add("step", std::to_string(shape_.step));
    inspection_.add("layer / head", std::to_string(shape_.layer) + " / " + std::to_string(shape_.head));
    inspection_.add("map", std::to_string(shape_.rows) + " queries × " + std::to_string(shape_.cols) + " keys");
    if (!label_.empty()) inspection_.add("values", label_);
    if (!tile_error_.empty()) inspection_.add("error", tile_error_);
    if (d) inspection_.add("model", d->summary.info.architecture + " (" + d->summary.info.model_path + ")");
  }
}

}  // namespace mnemo::viz
