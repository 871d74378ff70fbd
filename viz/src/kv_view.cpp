#include "mnemo/viz/kv_view.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace mnemo::viz {
namespace {

constexpr float kAxisLeft = 70.f;    // y tick labels
constexpr float kAxisBottom = 34.f;  // x tick labels and the axis name
constexpr float kTitle = 22.f;       // a plot's title line
constexpr float kLegendWidth = 150.f;
constexpr int kMaxRasterW = 4096, kMaxRasterH = 2048;  // beyond this the raster pools cells
constexpr int kChartPointBudget = 5000;                // per chart: keeps a frame's draw list under 16-bit indices
constexpr int kQualitativeLayers = 10;                 // up to this many layers get distinct colours and legend rows

// Tableau 10: distinct at a glance, readable on a dark background.
constexpr uint32_t kLayerPalette[kQualitativeLayers] = {
    pack_rgba(78, 121, 167), pack_rgba(242, 142, 43), pack_rgba(225, 87, 89),   pack_rgba(118, 183, 178),
    pack_rgba(89, 161, 79),  pack_rgba(237, 201, 72), pack_rgba(176, 122, 161), pack_rgba(255, 157, 167),
    pack_rgba(156, 117, 95), pack_rgba(186, 176, 172)};

// 1, 2 or 5 × 10^k, at least `min_step`.
double nice_step(double min_step) {
  if (!(min_step > 0)) return 1;
  const double p = std::pow(10.0, std::floor(std::log10(min_step)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (p * m >= min_step * (1 - 1e-9)) return p * m;
  return 10 * p;
}

std::string count_label(double v) {
  char buf[32];
  if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.3gM", v / 1e6);
  else if (v >= 1e4) std::snprintf(buf, sizeof buf, "%.3gk", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

std::string ranges_text(const std::vector<std::pair<int64_t, int64_t>>& ranges) {
  std::string s;
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (i == 4) return s + ", … (" + std::to_string(ranges.size()) + " ranges)";
    if (i) s += ", ";
    s += "[" + std::to_string(ranges[i].first) + ", " + std::to_string(ranges[i].second) + ")";
  }
  return s.empty() ? "none" : s;
}

std::shared_ptr<const KvView::Series> load_series(profiler::SessionReader& r, int64_t run) {
  auto s = std::make_shared<KvView::Series>();
  std::vector<profiler::KvRecord> all = r.kv(run);
  if (all.empty()) return s;
  for (const auto& k : all) {
    if (s->steps.empty() || s->steps.back() != k.step) s->steps.push_back(k.step);  // kv() orders by step
    s->layers = std::max(s->layers, k.layer + 1);
  }
  const size_t n = s->steps.size(), L = static_cast<size_t>(s->layers);
  s->records.resize(n * L);
  s->present.assign(n * L, 0);
  s->written.assign(n, 0);
  // Positions written by a step: the step's own end when steps were recorded, and never less
  // than any resident range (a policy cannot keep what was not written).
  std::map<int64_t, int64_t> step_end;
  for (const auto& st : r.steps(run)) step_end[st.step] = st.pos0 + st.n_tokens;
  size_t i = 0;
  for (auto& k : all) {
    while (s->steps[i] != k.step) ++i;
    for (const auto& [b, e] : k.ranges) s->written[i] = std::max(s->written[i], e);
    s->max_resident = std::max(s->max_resident, k.n_resident);
    s->max_bytes = std::max(s->max_bytes, k.bytes_used);
    const size_t at = i * L + static_cast<size_t>(std::max(k.layer, 0));
    s->records[at] = std::move(k);
    s->present[at] = 1;
  }
  for (size_t j = 0; j < n; ++j) {
    if (auto it = step_end.find(s->steps[j]); it != step_end.end()) s->written[j] = std::max(s->written[j], it->second);
    if (j) s->written[j] = std::max(s->written[j], s->written[j - 1]);
  }
  s->positions = s->written.back();
  return s;
}

KvView::Raster build_raster(const KvView::Series& s, int32_t layer) {
  KvView::Raster out;
  out.layer = layer;
  const int64_t P = std::max<int64_t>(1, s.positions), S = static_cast<int64_t>(s.steps.size());
  out.positions_per_px = (P + kMaxRasterW - 1) / kMaxRasterW;
  out.steps_per_px = (S + kMaxRasterH - 1) / kMaxRasterH;
  out.w = static_cast<int>((P + out.positions_per_px - 1) / out.positions_per_px);
  out.h = static_cast<int>((S + out.steps_per_px - 1) / out.steps_per_px);
  out.rgba.resize(static_cast<size_t>(out.w) * static_cast<size_t>(out.h));
  // Per pixel: how many cells of each state it covers.
  std::vector<int32_t> counts(static_cast<size_t>(out.w) * 3);
  std::vector<uint8_t> row(static_cast<size_t>(P));
  for (int y = 0; y < out.h; ++y) {
    std::fill(counts.begin(), counts.end(), 0);
    for (int64_t si = y * out.steps_per_px; si < std::min(S, (y + 1) * out.steps_per_px); ++si) {
      const size_t i = static_cast<size_t>(si);
      const int64_t written = s.written[i];
      std::fill(row.begin(), row.begin() + std::min(written, P), static_cast<uint8_t>(KvView::Residency::Evicted));
      std::fill(row.begin() + std::min(written, P), row.end(), static_cast<uint8_t>(KvView::Residency::NotWritten));
      if (const profiler::KvRecord* k = s.at(i, layer))
        for (const auto& [b, e] : k->ranges)
          std::fill(row.begin() + std::clamp<int64_t>(b, 0, P), row.begin() + std::clamp<int64_t>(e, 0, P),
                    static_cast<uint8_t>(KvView::Residency::Resident));
      else  // no record for this layer at this step: say nothing rather than "evicted"
        std::fill(row.begin(), row.end(), static_cast<uint8_t>(KvView::Residency::NotWritten));
      for (int64_t p = 0; p < P; ++p)
        ++counts[static_cast<size_t>(p / out.positions_per_px) * 3 + row[static_cast<size_t>(p)]];
    }
    for (int x = 0; x < out.w; ++x) {
      const int32_t* c = &counts[static_cast<size_t>(x) * 3];
      using R = KvView::Residency;
      const int nw = c[static_cast<int>(R::NotWritten)], res = c[static_cast<int>(R::Resident)],
                ev = c[static_cast<int>(R::Evicted)];
      const R state = (ev > 0 && ev >= res && ev >= nw) ? R::Evicted : (res >= nw ? R::Resident : R::NotWritten);
      out.rgba[static_cast<size_t>(y) * static_cast<size_t>(out.w) + static_cast<size_t>(x)] =
          KvView::residency_color(state);
    }
  }
  return out;
}

}  // namespace

const profiler::KvRecord* KvView::Series::at(size_t step_index, int32_t layer) const {
  if (layer < 0 || layer >= layers || step_index >= steps.size()) return nullptr;
  const size_t i = step_index * static_cast<size_t>(layers) + static_cast<size_t>(layer);
  return present[i] ? &records[i] : nullptr;
}

std::optional<size_t> KvView::Series::step_index(int64_t step) const {
  auto it = std::lower_bound(steps.begin(), steps.end(), step);
  if (it == steps.end() || *it != step) return std::nullopt;
  return static_cast<size_t>(it - steps.begin());
}

uint32_t KvView::residency_color(Residency r) {
  // Blue and orange stay apart for every common colour-vision deficiency; "not yet written" is a
  // dark neutral that reads as empty space.
  switch (r) {
    case Residency::Resident:
      return pack_rgba(66, 146, 232);
    case Residency::Evicted:
      return pack_rgba(243, 133, 38);
    case Residency::NotWritten:
      break;
  }
  return pack_rgba(44, 46, 54);
}

const char* KvView::residency_name(Residency r) {
  switch (r) {
    case Residency::Resident:
      return "resident";
    case Residency::Evicted:
      return "evicted";
    case Residency::NotWritten:
      break;
  }
  return "not yet written";
}

KvView::Residency KvView::residency(const Series& s, size_t step_index, int32_t layer, int64_t position) {
  const profiler::KvRecord* k = s.at(step_index, layer);
  if (!k || position < 0 || position >= s.written[step_index]) return Residency::NotWritten;
  for (const auto& [b, e] : k->ranges)
    if (position >= b && position < e) return Residency::Resident;
  return Residency::Evicted;
}

KvView::KvView(ViewState& vs, TextureStore& textures) : vs_(vs), textures_(textures) {}

KvView::~KvView() { clear_textures(); }

void KvView::clear_textures() {
  for (auto& [layer, slot] : rasters_)
    if (slot.texture) textures_.destroy(slot.texture);
  rasters_.clear();
  raster_asked_ = -1;
  raster_pending_.reset();
}

bool KvView::wants_redraw() const { return series_pending_ != nullptr || raster_pending_ != nullptr; }

ImTextureID KvView::raster_texture() const {
  auto it = rasters_.find(vs_.layer);
  return it == rasters_.end() ? nullptr : it->second.texture;
}

const KvView::Raster* KvView::raster() const {
  auto it = rasters_.find(vs_.layer);
  return it == rasters_.end() ? nullptr : &it->second.raster;
}

std::optional<ImVec2> KvView::raster_point(int64_t step, int64_t position) const {
  if (!series_ || !raster_axis_.valid() || series_->positions <= 0) return std::nullopt;
  const auto i = series_->step_index(step);
  if (!i) return std::nullopt;
  const float fx = (static_cast<float>(position) + 0.5f) / static_cast<float>(series_->positions);
  const float fy = (static_cast<float>(*i) + 0.5f) / static_cast<float>(series_->steps.size());
  return ImVec2(raster_axis_.origin.x + fx * raster_axis_.size.x, raster_axis_.origin.y + fy * raster_axis_.size.y);
}

std::optional<ImVec2> KvView::chart_point(int64_t step) const {
  if (!series_ || !tokens_chart_.valid() || series_->steps.empty()) return std::nullopt;
  const double s0 = static_cast<double>(series_->steps.front()), s1 = static_cast<double>(series_->steps.back());
  const float f = s1 > s0 ? static_cast<float>((static_cast<double>(step) - s0) / (s1 - s0)) : 0.5f;
  return ImVec2(tokens_chart_.origin.x + f * tokens_chart_.size.x,
                tokens_chart_.origin.y + tokens_chart_.size.y * 0.5f);
}

// Distinct colours mark the shown layer by thickness; on a ramp its neighbours look alike, so
// it is drawn in the text colour.
ImU32 KvView::shown_layer_color() const {
  return series_ && series_->layers > kQualitativeLayers ? ImGui::GetColorU32(ImGuiCol_Text) : layer_color(vs_.layer);
}

ImU32 KvView::layer_color(int32_t layer, float alpha) const {
  const int32_t L = series_ ? series_->layers : 1;
  uint32_t c;
  if (L <= kQualitativeLayers) {
    c = kLayerPalette[static_cast<size_t>(std::clamp(layer, 0, kQualitativeLayers - 1))];
  } else {  // many layers: an ordered ramp (plasma without its dark end, which the background swallows)
    const float t = 0.38f + 0.6f * static_cast<float>(layer) / static_cast<float>(std::max(1, L - 1));
    const profiler::Rgb8 m = profiler::colormap("plasma").map(t);
    c = pack_rgba(m.r, m.g, m.b);
  }
  return (c & 0x00FFFFFFu) | (static_cast<uint32_t>(std::clamp(alpha, 0.f, 1.f) * 255.f) << 24);
}

void KvView::request_series() {
  const RunData* d = vs_.run_data();  // its steps say how far each step wrote: wait for them
  if (!d || (series_asked_ && series_run_ == vs_.run && series_generation_ == d->generation)) return;
  const uint64_t generation = d->generation;
  if (series_run_ != vs_.run) {  // another run: nothing of the old one applies
    series_.reset();
    clear_textures();
  }
  series_asked_ = true, series_run_ = vs_.run, series_generation_ = generation;
  const int64_t run = vs_.run;
  series_pending_ = vs_.doc->worker().compute<std::shared_ptr<const Series>>(
      Priority::Visible, [run](profiler::SessionReader& r) { return load_series(r, run); });
}

void KvView::request_raster() {
  if (!series_ || series_->steps.empty()) return;
  if (raster_pending_ && raster_pending_->ready()) {
    if (Raster* r = raster_pending_->mutable_value()) {
      RasterSlot& slot = rasters_[r->layer];
      if (slot.texture) textures_.destroy(slot.texture);
      slot.texture = textures_.create(r->w, r->h, r->rgba);
      slot.raster = std::move(*r);
    } else {
      error_ = raster_pending_->error();
    }
    raster_pending_.reset();
  }
  if (raster_pending_ || rasters_.count(vs_.layer) || raster_asked_ == vs_.layer) return;
  raster_asked_ = vs_.layer;
  const int32_t layer = vs_.layer;
  raster_pending_ = vs_.doc->worker().compute<Raster>(
      Priority::Visible, [series = series_, layer](profiler::SessionReader&) { return build_raster(*series, layer); });
}

void KvView::draw_toolbar() {
  draw_selection_bar(vs_, false, true);
  const profiler::RunSummary* summary = vs_.doc->run_summary(vs_.run);
  const int32_t layers = series_ ? series_->layers : summary ? static_cast<int32_t>(summary->info.n_layers) : 1;
  ImGui::SetNextItemWidth(120);
  int layer = vs_.layer;
  if (ImGui::InputInt("layer", &layer)) vs_.layer = std::clamp(layer, 0, std::max(0, layers - 1));
  if (series_ && !series_->steps.empty()) {
    ImGui::SameLine();
    ImGui::TextDisabled("%d layers · %zu steps · %lld positions", series_->layers, series_->steps.size(),
                        static_cast<long long>(series_->positions));
  }
}

void KvView::draw_chart(ImDrawList* dl, const Axis& a, bool bytes) {
  const Series& s = *series_;
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text), dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
  const ImU32 grid = ImGui::GetColorU32(ImGuiCol_Border, 0.45f);
  const float line = ImGui::GetTextLineHeight();
  const ImVec2 end(a.origin.x + a.size.x, a.origin.y + a.size.y);
  dl->AddRectFilled(a.origin, end, ImGui::GetColorU32(ImGuiCol_FrameBg));

  // Title: what is plotted and, when it fits, the shown layer's capacity at the shown step.
  const auto shown = s.step_index(vs_.shown_step()).value_or(s.steps.size() - 1);
  const profiler::KvRecord* cur = s.at(shown, vs_.layer);
  const char* title = bytes ? "KV bytes used" : "Resident tokens";
  const ImVec2 title_at(a.origin.x - kAxisLeft + 4, a.origin.y - kTitle);
  dl->AddText(title_at, text, title);
  if (cur) {
    const std::string note = bytes ? "  of " + format_bytes(static_cast<double>(cur->bytes_reserved)) + " reserved"
                                   : "  of capacity " + std::to_string(cur->capacity);
    const float w = ImGui::CalcTextSize(title).x;
    if (w + ImGui::CalcTextSize(note.c_str()).x < a.size.x + kAxisLeft - 8)
      dl->AddText(ImVec2(title_at.x + w, title_at.y), dim, note.c_str());
  }

  // Y: 0 .. a nice ceiling of the largest value.
  const double vmax = std::max<double>(1, static_cast<double>(bytes ? s.max_bytes : s.max_resident));
  const double ystep = nice_step(vmax / 4.0);
  const double ytop = std::ceil(vmax / ystep - 1e-9) * ystep;
  auto y_of = [&](double v) { return a.origin.y + a.size.y * static_cast<float>(1.0 - v / ytop); };
  for (double v = 0; v <= ytop + ystep * 0.5; v += ystep) {
    const float y = y_of(v);
    dl->AddLine(ImVec2(a.origin.x, y), ImVec2(end.x, y), grid);
    const std::string l = bytes ? format_bytes(v) : count_label(v);
    dl->AddText(ImVec2(a.origin.x - 6 - ImGui::CalcTextSize(l.c_str()).x, y - line * 0.5f), dim, l.c_str());
  }
  // X: steps.
  const double s0 = static_cast<double>(s.steps.front()), s1 = static_cast<double>(s.steps.back());
  auto x_of = [&](double step) {
    return a.origin.x + (s1 > s0 ? static_cast<float>((step - s0) / (s1 - s0)) : 0.5f) * a.size.x;
  };
  const double xstep = std::max(1.0, nice_step((s1 - s0) * 70.0 / std::max(1.f, a.size.x)));
  for (double st = std::ceil(s0 / xstep) * xstep; st <= s1 + 1e-9; st += xstep) {
    const float x = x_of(st);
    dl->AddLine(ImVec2(x, a.origin.y), ImVec2(x, end.y), grid);
    const std::string l = std::to_string(static_cast<int64_t>(st));
    dl->AddText(ImVec2(x - ImGui::CalcTextSize(l.c_str()).x * 0.5f, end.y + 3), dim, l.c_str());
  }
  dl->AddText(ImVec2(end.x - ImGui::CalcTextSize("step").x, end.y + 3 + line), dim, "step");

  // The shown step.
  dl->AddLine(ImVec2(x_of(static_cast<double>(s.steps[shown])), a.origin.y),
              ImVec2(x_of(static_cast<double>(s.steps[shown])), end.y), ImGui::GetColorU32(ImGuiCol_Text, 0.35f), 1.f);

  // One line per layer, the shown layer last and thickest. Long runs are max-pooled to a point
  // budget: a peak stays a peak.
  const size_t n = s.steps.size();
  const size_t per_line =
      std::max<size_t>(2, std::min<size_t>(static_cast<size_t>(a.size.x / 2),
                                           static_cast<size_t>(kChartPointBudget / std::max(1, s.layers))));
  const size_t block = (n + per_line - 1) / per_line;
  std::vector<ImVec2> pts;
  auto draw_layer = [&](int32_t l, ImU32 color, float thickness) {
    pts.clear();
    auto flush = [&] {
      if (pts.size() == 1) dl->AddCircleFilled(pts[0], thickness + 0.5f, color);
      else if (pts.size() > 1) dl->AddPolyline(pts.data(), static_cast<int>(pts.size()), color, 0, thickness);
      pts.clear();
    };
    for (size_t b = 0; b < n; b += block) {
      double v = -1;
      size_t at = b;
      for (size_t i = b; i < std::min(n, b + block); ++i)
        if (const profiler::KvRecord* k = s.at(i, l)) {
          const double x = static_cast<double>(bytes ? k->bytes_used : k->n_resident);
          if (x > v) v = x, at = i;
        }
      if (v < 0) {  // a gap in the records breaks the line
        flush();
        continue;
      }
      pts.push_back(ImVec2(x_of(static_cast<double>(s.steps[at])), y_of(v)));
    }
    flush();
  };
  dl->PushClipRect(ImVec2(a.origin.x - 4, a.origin.y - 4), ImVec2(end.x + 4, end.y + 4), true);
  for (int32_t l = 0; l < s.layers; ++l)
    if (l != vs_.layer) draw_layer(l, layer_color(l, 0.8f), 1.3f);
  draw_layer(vs_.layer, shown_layer_color(), 3.f);
  dl->PopClipRect();
  dl->AddRect(a.origin, end, ImGui::GetColorU32(ImGuiCol_Border));
}

void KvView::draw_layer_legend(ImDrawList* dl, ImVec2 at, float height) {
  const Series& s = *series_;
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text), dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
  const float line = ImGui::GetTextLineHeight() + 3;
  dl->AddText(at, text, "Layers");
  at.y += line + 2;
  if (s.layers <= kQualitativeLayers) {
    for (int32_t l = 0; l < s.layers && (l + 1) * line < height; ++l) {
      const float y = at.y + static_cast<float>(l) * line;
      const bool shown = l == vs_.layer;
      dl->AddLine(ImVec2(at.x, y + line * 0.45f), ImVec2(at.x + 22, y + line * 0.45f), layer_color(l),
                  shown ? 3.f : 1.5f);
      const std::string name = "layer " + std::to_string(l) + (shown ? "  (shown)" : "");
      dl->AddText(ImVec2(at.x + 28, y), shown ? text : dim, name.c_str());
    }
    return;
  }
  // Many layers: the colour ramp, with the shown layer marked on it.
  const float bar_h = std::min(height - line * 3, 150.f);
  for (int i = 0; i < 64; ++i) {
    const float y0 = at.y + bar_h * static_cast<float>(i) / 64.f, y1 = at.y + bar_h * static_cast<float>(i + 1) / 64.f;
    dl->AddRectFilled(ImVec2(at.x, y0), ImVec2(at.x + 14, y1 + 1),
                      layer_color(static_cast<int32_t>(std::lround(static_cast<double>(i) / 63.0 * (s.layers - 1)))));
  }
  dl->AddText(ImVec2(at.x + 20, at.y - 2), dim, "layer 0");
  const std::string last = "layer " + std::to_string(s.layers - 1);
  dl->AddText(ImVec2(at.x + 20, at.y + bar_h - line + 2), dim, last.c_str());
  const float y = at.y + bar_h * (static_cast<float>(vs_.layer) + 0.5f) / static_cast<float>(s.layers);
  dl->AddTriangleFilled(ImVec2(at.x + 16, y), ImVec2(at.x + 24, y - 5), ImVec2(at.x + 24, y + 5), text);
  const std::string name = "layer " + std::to_string(vs_.layer) + " (shown)";
  dl->AddText(ImVec2(at.x + 28, y - line * 0.5f), text, name.c_str());
  const float key_y = at.y + bar_h + line;
  dl->AddLine(ImVec2(at.x, key_y + line * 0.5f), ImVec2(at.x + 22, key_y + line * 0.5f), shown_layer_color(), 3.f);
  dl->AddText(ImVec2(at.x + 28, key_y), dim, "shown layer");
}

void KvView::draw_raster(ImDrawList* dl, const Axis& a) {
  const Series& s = *series_;
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text), dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
  const float line = ImGui::GetTextLineHeight();
  const ImVec2 end(a.origin.x + a.size.x, a.origin.y + a.size.y);
  const std::string title =
      "Residency of layer " + std::to_string(vs_.layer) + ": which positions the cache holds at each step";
  dl->AddText(ImVec2(a.origin.x - kAxisLeft + 4, a.origin.y - kTitle), text, title.c_str());
  dl->AddRectFilled(a.origin, end, residency_color(Residency::NotWritten));
  if (ImTextureID t = raster_texture()) dl->AddImage(t, a.origin, end);  // else it is on its way from the worker
  dl->AddRect(a.origin, end, ImGui::GetColorU32(ImGuiCol_Border));

  // X: positions; Y: steps (top = first).
  const double P = static_cast<double>(std::max<int64_t>(1, s.positions));
  const double xstep = std::max(1.0, nice_step(P * 70.0 / std::max(1.f, a.size.x)));
  for (double p = 0; p <= P; p += xstep) {
    const float x = a.origin.x + static_cast<float>(p / P) * a.size.x;
    dl->AddLine(ImVec2(x, end.y), ImVec2(x, end.y + 4), dim);
    const std::string l = std::to_string(static_cast<int64_t>(p));
    dl->AddText(ImVec2(x - ImGui::CalcTextSize(l.c_str()).x * 0.5f, end.y + 5), dim, l.c_str());
  }
  dl->AddText(ImVec2(end.x - ImGui::CalcTextSize("position →").x, end.y + 5 + line), dim, "position →");
  const double S = static_cast<double>(s.steps.size());
  const double ystep = std::max(1.0, nice_step(S * (line * 2.0) / std::max(1.f, a.size.y)));
  for (double i = 0; i < S; i += ystep) {
    const float y = a.origin.y + static_cast<float>((i + 0.5) / S) * a.size.y;
    const std::string l = std::to_string(s.steps[static_cast<size_t>(i)]);
    dl->AddLine(ImVec2(a.origin.x - 4, y), ImVec2(a.origin.x, y), dim);
    dl->AddText(ImVec2(a.origin.x - 8 - ImGui::CalcTextSize(l.c_str()).x, y - line * 0.5f), dim, l.c_str());
  }
  dl->AddText(ImVec2(a.origin.x - kAxisLeft + 4, end.y + 5), dim, "step ↓");
  // The shown step: a bracket on both sides of its row.
  if (auto i = s.step_index(vs_.shown_step())) {
    const float y0 = a.origin.y + static_cast<float>(static_cast<double>(*i) / S) * a.size.y;
    const float y1 = a.origin.y + static_cast<float>(static_cast<double>(*i + 1) / S) * a.size.y;
    const float ym = (y0 + y1) * 0.5f;
    dl->AddTriangleFilled(ImVec2(end.x + 2, ym), ImVec2(end.x + 10, ym - 5), ImVec2(end.x + 10, ym + 5), text);
    if (y1 - y0 >= 3) dl->AddRect(ImVec2(a.origin.x, y0), ImVec2(end.x, y1), ImGui::GetColorU32(ImGuiCol_Text, 0.5f));
  }
}

void KvView::draw_raster_legend(ImDrawList* dl, ImVec2 at) {
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text), dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
  const float line = ImGui::GetTextLineHeight() + 4;
  dl->AddText(at, text, "Cache state");
  for (int i = 0; i < 3; ++i) {
    const Residency r = i == 0 ? Residency::Resident : i == 1 ? Residency::Evicted : Residency::NotWritten;
    const float y = at.y + line * static_cast<float>(i + 1) + 2;
    dl->AddRectFilled(ImVec2(at.x, y + 1), ImVec2(at.x + 16, y + line - 4), residency_color(r));
    dl->AddRect(ImVec2(at.x, y + 1), ImVec2(at.x + 16, y + line - 4), ImGui::GetColorU32(ImGuiCol_Border));
    dl->AddText(ImVec2(at.x + 22, y), text, residency_name(r));
  }
  if (const Raster* r = raster(); r && (r->positions_per_px > 1 || r->steps_per_px > 1)) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "1 px = %lld pos × %lld steps\n(majority state)",
                  static_cast<long long>(r->positions_per_px), static_cast<long long>(r->steps_per_px));
    dl->AddText(ImVec2(at.x, at.y + line * 4 + 6), dim, buf);
  }
}

void KvView::inspect_step(size_t i, int32_t layer, std::optional<int64_t> position) {
  const Series& s = *series_;
  const profiler::KvRecord* k = s.at(i, layer);
  inspection_.clear();
  inspection_.title = position ? "KV cache position" : "KV cache";
  inspection_.add("step", std::to_string(s.steps[i]));
  inspection_.add("layer", std::to_string(layer));
  if (position) {
    const RunData* d = vs_.run_data();
    const std::string tok = d ? d->token_text(*position) : std::string();
    inspection_.add("position", std::to_string(*position) + (tok.empty() ? "" : " '" + tok + "'"));
    inspection_.add("state", residency_name(residency(s, i, layer, *position)));
  }
  if (!k) {
    inspection_.add("record", "none for this layer at this step");
    return;
  }
  inspection_.add("tokens resident", std::to_string(k->n_resident));
  inspection_.add("capacity", std::to_string(k->capacity));
  inspection_.add("positions written", std::to_string(s.written[i]));
  inspection_.add("evicted", std::to_string(std::max<int64_t>(0, s.written[i] - k->n_resident)));
  inspection_.add("bytes used", format_bytes(static_cast<double>(k->bytes_used)));
  inspection_.add("bytes reserved", format_bytes(static_cast<double>(k->bytes_reserved)));
  int64_t all = 0, all_bytes = 0;
  for (int32_t l = 0; l < s.layers; ++l)
    if (const profiler::KvRecord* o = s.at(i, l)) all += o->n_resident, all_bytes += o->bytes_used;
  inspection_.add("all layers", std::to_string(all) + " tokens, " + format_bytes(static_cast<double>(all_bytes)));
  inspection_.add("resident ranges", ranges_text(k->ranges));
}

void KvView::hover_chart(const Axis& a, bool bytes) {
  if (!ImGui::IsItemHovered()) return;
  const Series& s = *series_;
  const ImVec2 m = ImGui::GetIO().MousePos;
  const double s0 = static_cast<double>(s.steps.front()), s1 = static_cast<double>(s.steps.back());
  const double want = s0 + (s1 - s0) * std::clamp((m.x - a.origin.x) / a.size.x, 0.f, 1.f);
  auto it = std::lower_bound(s.steps.begin(), s.steps.end(), static_cast<int64_t>(std::llround(want)));
  if (it == s.steps.end()) --it;
  if (it != s.steps.begin() &&
      std::abs(static_cast<double>(*(it - 1)) - want) < std::abs(static_cast<double>(*it) - want))
    --it;
  const size_t i = static_cast<size_t>(it - s.steps.begin());
  // The layer whose line is nearest the pointer (within a few pixels), else the shown one.
  const double vmax = std::max<double>(1, static_cast<double>(bytes ? s.max_bytes : s.max_resident));
  const double ytop = std::ceil(vmax / nice_step(vmax / 4.0) - 1e-9) * nice_step(vmax / 4.0);
  int32_t layer = vs_.layer;
  float best = 8.f;
  for (int32_t l = 0; l < s.layers; ++l)
    if (const profiler::KvRecord* k = s.at(i, l)) {
      const double v = static_cast<double>(bytes ? k->bytes_used : k->n_resident);
      const float d = std::abs(a.origin.y + a.size.y * static_cast<float>(1.0 - v / ytop) - m.y);
      if (d < best || (d == best && l == vs_.layer)) best = d, layer = l;
    }
  const float x =
      a.origin.x + (s1 > s0 ? static_cast<float>((static_cast<double>(s.steps[i]) - s0) / (s1 - s0)) : 0.5f) * a.size.x;
  ImGui::GetWindowDrawList()->AddLine(ImVec2(x, a.origin.y), ImVec2(x, a.origin.y + a.size.y),
                                      ImGui::GetColorU32(ImGuiCol_Text, 0.8f));
  inspect_step(i, layer, std::nullopt);
  if (ImGui::IsItemClicked()) vs_.layer = layer, vs_.step = s.steps[i];
  ImGui::BeginTooltip();
  ImGui::Text("step %lld, layer %d", static_cast<long long>(s.steps[i]), layer);
  if (const profiler::KvRecord* k = s.at(i, layer)) {
    ImGui::Text("%lld tokens resident of %lld", static_cast<long long>(k->n_resident),
                static_cast<long long>(k->capacity));
    ImGui::Text("%s used of %s reserved", format_bytes(static_cast<double>(k->bytes_used)).c_str(),
                format_bytes(static_cast<double>(k->bytes_reserved)).c_str());
  }
  ImGui::TextDisabled("click: show this layer and step");
  ImGui::EndTooltip();
}

void KvView::hover_raster(const Axis& a) {
  if (!ImGui::IsItemHovered()) return;
  const Series& s = *series_;
  const ImVec2 m = ImGui::GetIO().MousePos;
  const float fx = (m.x - a.origin.x) / a.size.x, fy = (m.y - a.origin.y) / a.size.y;
  if (fx < 0 || fy < 0 || fx >= 1 || fy >= 1) return;
  const int64_t position =
      std::min<int64_t>(s.positions - 1, static_cast<int64_t>(fx * static_cast<float>(s.positions)));
  const size_t i = std::min(s.steps.size() - 1, static_cast<size_t>(fy * static_cast<float>(s.steps.size())));
  vs_.cursor_key = position, cursor_set_ = true;
  const Residency state = residency(s, i, vs_.layer, position);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const float cx = a.origin.x + (static_cast<float>(position) + 0.5f) / static_cast<float>(s.positions) * a.size.x;
  const float y0 = a.origin.y + static_cast<float>(i) / static_cast<float>(s.steps.size()) * a.size.y;
  const float y1 = a.origin.y + static_cast<float>(i + 1) / static_cast<float>(s.steps.size()) * a.size.y;
  dl->AddLine(ImVec2(cx, a.origin.y), ImVec2(cx, a.origin.y + a.size.y), IM_COL32(255, 255, 255, 70));
  dl->AddRect(ImVec2(a.origin.x, y0), ImVec2(a.origin.x + a.size.x, std::max(y1, y0 + 1)),
              IM_COL32(255, 255, 255, 110));
  inspect_step(i, vs_.layer, position);
  if (ImGui::IsItemClicked()) vs_.step = s.steps[i];
  const profiler::KvRecord* k = s.at(i, vs_.layer);
  const RunData* d = vs_.run_data();
  const std::string tok = d ? d->token_text(position) : std::string();
  ImGui::BeginTooltip();
  ImGui::Text("step %lld · layer %d · position %lld%s", static_cast<long long>(s.steps[i]), vs_.layer,
              static_cast<long long>(position), tok.empty() ? "" : (" '" + tok + "'").c_str());
  ImGui::ColorButton("##state", ImGui::ColorConvertU32ToFloat4(residency_color(state)), ImGuiColorEditFlags_NoTooltip,
                     ImVec2(10, 10));
  ImGui::SameLine();
  ImGui::TextUnformatted(residency_name(state));
  if (k)
    ImGui::Text("%lld tokens resident · %s", static_cast<long long>(k->n_resident),
                format_bytes(static_cast<double>(k->bytes_used)).c_str());
  ImGui::EndTooltip();
}

void KvView::notice(const char* message, const char* detail) {
  notice_ = message;
  draw_notice(message, detail);
}

void KvView::draw() {
  inspection_.clear();
  notice_.clear();
  if (!vs_.has_run()) {
    notice("No session open", "Open a .mnemo file (File › Open) or record one (Record panel).");
    return;
  }
  request_series();
  if (series_pending_ && series_pending_->ready()) {
    if (auto* v = series_pending_->mutable_value()) {
      series_ = std::move(*v);
      clear_textures();  // the records changed: every layer's raster is stale
      error_.clear();
    } else {
      error_ = series_pending_->error();
    }
    series_pending_.reset();
  }
  draw_toolbar();
  if (!series_) {
    if (!error_.empty()) notice("Cannot read the KV records of this run", error_.c_str());
    else notice("Loading KV records…");
    return;
  }
  if (series_->steps.empty()) {
    if (const profiler::RunSummary* summary = vs_.doc->run_summary(vs_.run); summary && summary->n_steps == 0)
      notice(kNoCommittedStep, kNoCommittedStepDetail);
    else
      notice("KV occupancy was not recorded for this run",
             "Record with --capture kv (or all) to see what the cache keeps and evicts.");
    return;
  }
  vs_.layer = std::clamp(vs_.layer, 0, series_->layers - 1);
  request_raster();

  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const ImVec2 cursor = ImGui::GetCursorScreenPos();
  const float charts_h = std::clamp(avail.y * 0.36f, 120.f, 320.f);
  const float chart_w = std::max(80.f, (avail.x - kLegendWidth - 2 * kAxisLeft - 16) * 0.5f);
  const float plot_h = std::max(40.f, charts_h - kTitle - kAxisBottom);
  tokens_chart_ = {ImVec2(cursor.x + kAxisLeft, cursor.y + kTitle + 4), ImVec2(chart_w, plot_h)};
  bytes_chart_ = {ImVec2(tokens_chart_.origin.x + chart_w + kAxisLeft + 8, tokens_chart_.origin.y),
                  ImVec2(chart_w, plot_h)};
  const float raster_top = cursor.y + charts_h + kTitle + 12;
  raster_axis_ = {ImVec2(cursor.x + kAxisLeft, raster_top),
                  ImVec2(std::max(80.f, avail.x - kAxisLeft - kLegendWidth - 16),
                         std::max(40.f, cursor.y + avail.y - raster_top - kAxisBottom))};

  ImDrawList* dl = ImGui::GetWindowDrawList();
  // One item per plot (STYLE.md §8); hit-testing is ours.
  ImGui::SetCursorScreenPos(tokens_chart_.origin);
  ImGui::InvisibleButton("##tokens", tokens_chart_.size);
  draw_chart(dl, tokens_chart_, false);
  hover_chart(tokens_chart_, false);
  ImGui::SetCursorScreenPos(bytes_chart_.origin);
  ImGui::InvisibleButton("##bytes", bytes_chart_.size);
  draw_chart(dl, bytes_chart_, true);
  hover_chart(bytes_chart_, true);
  draw_layer_legend(dl, ImVec2(bytes_chart_.origin.x + chart_w + 16, tokens_chart_.origin.y - kTitle), charts_h);
  ImGui::SetCursorScreenPos(raster_axis_.origin);
  ImGui::InvisibleButton("##raster", raster_axis_.size);
  const bool raster_hovered = ImGui::IsItemHovered();
  draw_raster(dl, raster_axis_);
  hover_raster(raster_axis_);
  if (!raster_hovered && cursor_set_) vs_.cursor_key.reset(), cursor_set_ = false;
  draw_raster_legend(dl, ImVec2(raster_axis_.origin.x + raster_axis_.size.x + 16, raster_axis_.origin.y));

  if (inspection_.empty())
    if (auto i = series_->step_index(vs_.shown_step()).value_or(series_->steps.size() - 1); i < series_->steps.size())
      inspect_step(i, vs_.layer, std::nullopt);
}

}  // namespace mnemo::viz
