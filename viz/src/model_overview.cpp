#include "mnemo/viz/model_overview.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "mnemo/viz/map_levels.h"

namespace mnemo::viz {
namespace {

constexpr int kAtlasColumns = 32;  // thumbnails per atlas row: 2048 px wide at most
constexpr float kMinThumb = 48.f, kMaxThumb = 168.f;
constexpr float kGap = 10.f;
constexpr float kRankedCell = 104.f;  // ranked: thumbnail and gap, about
constexpr float kLegendWidth = 112.f;  // "0", the colour bar, the spaces around it
constexpr ImU32 kSelected = IM_COL32(255, 170, 40, 255);

const char* const kMetricHelp[kHeadMetrics] = {
    "mean over the step's query rows of −Σ p log p (nats): low = focused, high = spread out",
    "mean over the step's query rows of Σ p·(query − key position), in tokens: how far back the head reads",
    "mean over the step's query rows of the probability on position 0 (the attention sink)",
    "mean over the step's query rows of 1 − k_eff / n (k_eff = 1 / Σ p²): 0 uniform, near 1 on one key",
};

// Puts the next toolbar group, `width` pixels wide, on this line when it fits, else on the next.
void next_group(float width) {
  ImGui::SameLine(0, 18.f);
  if (ImGui::GetContentRegionAvail().x < width) ImGui::NewLine();
}

float labelled(float item_width, const char* label) {
  return item_width + ImGui::GetStyle().ItemInnerSpacing.x + ImGui::CalcTextSize(label).x;
}

std::string format_value(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// One head's overview tile (the first level that fits one tile), max-pooled to at most
// kThumbMax pixels a side with the same factor on both axes (the map keeps its shape).
ModelOverview::Thumbnail make_thumbnail(profiler::SessionReader& r, int64_t run, int64_t step, int32_t layer, int32_t head) {
  const profiler::MapShape shape = r.map_shape(run, step, layer, head);
  const int level = fit_level_of(shape.rows, shape.cols);
  const profiler::AttentionTile tile = r.tile(run, step, layer, head, level, 0, 0);
  ModelOverview::Thumbnail t;
  t.level = level, t.map_rows = shape.rows, t.map_cols = shape.cols, t.label = tile.label;
  const int64_t side = std::max<int64_t>({tile.rows, tile.cols, 1});
  t.pool = static_cast<int>((side + ModelOverview::kThumbMax - 1) / ModelOverview::kThumbMax);
  t.w = static_cast<int>((tile.cols + t.pool - 1) / t.pool);
  t.h = static_cast<int>((tile.rows + t.pool - 1) / t.pool);
  t.values.assign(static_cast<size_t>(t.w) * static_cast<size_t>(t.h), 0.f);
  for (int64_t y = 0; y < tile.rows; ++y)
    for (int64_t x = 0; x < tile.cols; ++x) {
      const float v = tile.max[static_cast<size_t>(y * tile.cols + x)];
      float& cell = t.values[static_cast<size_t>((y / t.pool) * t.w + x / t.pool)];
      if (std::isfinite(v)) cell = std::max(cell, v);
    }
  for (float v : t.values) t.peak = std::max(t.peak, v);
  t.full_scale = head_full_scale(t.values);
  if (t.full_scale > 0.f)
    for (float& v : t.values) v = std::min(1.f, v / t.full_scale);
  return t;
}

// "L0–2, L5": layers as runs of consecutive indices.
std::string layer_ranges(const std::vector<int32_t>& layers) {
  std::string out;
  for (size_t i = 0; i < layers.size();) {
    size_t j = i;
    while (j + 1 < layers.size() && layers[j + 1] == layers[j] + 1) ++j;
    if (!out.empty()) out += ", ";
    out += "L" + std::to_string(layers[i]);
    if (j > i) out += "–" + std::to_string(layers[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace

float head_full_scale(std::span<const float> pooled) {
  std::vector<float> positive;
  for (float v : pooled)
    if (v > 0.f && std::isfinite(v)) positive.push_back(v);
  if (positive.empty()) return 0.f;
  const size_t at = static_cast<size_t>(ModelOverview::kFullScaleQuantile * static_cast<double>(positive.size() - 1));
  std::nth_element(positive.begin(), positive.begin() + static_cast<long>(at), positive.end());
  return positive[at];
}

const char* head_metric_name(HeadMetric m) {
  switch (m) {
    case HeadMetric::Entropy: return "entropy";
    case HeadMetric::MeanDistance: return "mean distance";
    case HeadMetric::SinkMass: return "sink mass";
    case HeadMetric::Sparsity: return "sparsity";
  }
  return "?";
}

double head_metric_value(const profiler::HeadMetrics& m, HeadMetric which) {
  switch (which) {
    case HeadMetric::Entropy: return m.entropy;
    case HeadMetric::MeanDistance: return m.mean_distance;
    case HeadMetric::SinkMass: return m.sink_mass;
    case HeadMetric::Sparsity: return m.sparsity;
  }
  return NAN;
}

ModelOverview::ModelOverview(ViewState& vs, TextureStore& textures) : vs_(vs), textures_(textures) {}

ModelOverview::~ModelOverview() {
  epoch_->fetch_add(1);  // queued thumbnails are no longer wanted
  if (atlas_) textures_.destroy(atlas_);
}

const ModelOverview::Thumbnail* ModelOverview::thumbnail(int32_t layer, int32_t head) const {
  if (layer < 0 || head < 0 || layer >= layers_ || head >= heads_) return nullptr;
  const Slot& s = slots_[slot_of(layer, head)];
  return s.thumb && !s.stale_pixels ? &*s.thumb : nullptr;
}

std::optional<profiler::HeadMetrics> ModelOverview::metrics(int32_t layer, int32_t head) const {
  if (layer < 0 || head < 0 || layer >= layers_ || head >= heads_ || metrics_.empty()) return std::nullopt;
  return metrics_[slot_of(layer, head)];
}

std::optional<double> ModelOverview::value(int32_t layer, int32_t head) const {
  const auto m = metrics(layer, head);
  if (!m) return std::nullopt;
  return head_metric_value(*m, metric_);
}

bool ModelOverview::in_range(int32_t layer, int32_t head) const {
  // In float, as the range is kept: the heads at its ends stay inside.
  const auto v = value(layer, head);
  return v && static_cast<float>(*v) >= range_lo_ && static_cast<float>(*v) <= range_hi_;
}

bool ModelOverview::drawn_thumbnails_loaded() const {
  if (cells_.empty()) return false;
  return std::all_of(cells_.begin(), cells_.end(), [&](const CellRect& c) {
    const Slot& s = slots_[slot_of(c.layer, c.head)];
    return (s.thumb && !s.stale_pixels) || !s.error.empty();
  });
}

std::optional<ImVec2> ModelOverview::thumbnail_center(int32_t layer, int32_t head) const {
  for (const CellRect& c : cells_)
    if (c.layer == layer && c.head == head) return ImVec2((c.min.x + c.max.x) * 0.5f, (c.min.y + c.max.y) * 0.5f);
  return std::nullopt;
}

std::pair<int, int> ModelOverview::atlas_origin(int32_t layer, int32_t head) const {
  const size_t i = slot_of(layer, head);
  return {static_cast<int>(i % kAtlasColumns) * kThumbMax, static_cast<int>(i / kAtlasColumns) * kThumbMax};
}

// ---------------------------------------------------------------------------------------------
// Loading

void ModelOverview::restart(const Key& key) {
  // Another step of the same run keeps the old thumbnails on screen until the new ones arrive.
  const bool same_heads = key.run == key_.run && key.layers == key_.layers && key.heads == key_.heads;
  key_ = key;
  const uint64_t epoch = epoch_->fetch_add(1) + 1;
  layers_ = key.layers, heads_ = key.heads;
  const size_t n = static_cast<size_t>(std::max(0, layers_)) * static_cast<size_t>(std::max(0, heads_));
  if (same_heads) {
    for (Slot& s : slots_) {
      s.pending.reset(), s.error.clear();
      s.stale_pixels = s.thumb.has_value();
    }
  } else {
    slots_.assign(n, Slot{});
    if (atlas_) textures_.destroy(atlas_);
    atlas_ = nullptr, atlas_w_ = atlas_h_ = 0;
    atlas_pixels_.clear();
    to_color_.clear();
    range_user_ = false;
  }
  loaded_ = 0;
  metrics_.assign(n, std::nullopt);
  metrics_done_ = false, metrics_error_.clear();
  metrics_pending_.reset();
  if (key.step < 0 || n == 0) return;

  const int64_t run = key.run, step = key.step;
  metrics_pending_ = vs_.doc->worker().compute<std::vector<profiler::HeadMetricRecord>>(
      Priority::Visible, [=](profiler::SessionReader& r) { return r.head_metrics(run, step); });
  // One background job per head, layer by layer: the grid fills from the top as they arrive.
  for (int32_t layer = 0; layer < layers_; ++layer)
    for (int32_t head = 0; head < heads_; ++head) {
      slots_[slot_of(layer, head)].pending = vs_.doc->worker().compute<Thumbnail>(
          Priority::Background, [=, now = epoch_](profiler::SessionReader& r) {
            if (now->load() != epoch) throw std::runtime_error("stale");
            return make_thumbnail(r, run, step, layer, head);
          });
    }
}

void ModelOverview::sync() {
  const profiler::RunSummary* s = vs_.doc->run_summary(vs_.run);
  Key want;
  want.run = vs_.run, want.step = vs_.shown_step();
  want.layers = s ? static_cast<int32_t>(s->info.n_layers) : 0;
  const RunData* d = vs_.run_data();
  want.heads = d ? d->heads : s ? static_cast<int32_t>(s->info.n_heads) : 0;
  if (!(want == key_)) restart(want);

  loading_ = false;
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    if (!slot.pending) continue;
    if (!slot.pending->ready()) {
      loading_ = true;
      continue;
    }
    if (Thumbnail* t = slot.pending->mutable_value()) {
      slot.thumb = std::move(*t);
      slot.stale_pixels = false;
      to_color_.push_back(i);
      ++loaded_;
    } else {
      slot.error = slot.pending->error();
      slot.thumb.reset();
      slot.stale_pixels = false;
      to_color_.push_back(i);  // clears the old step's pixels
    }
    slot.pending.reset();
  }
  if (metrics_pending_) {
    if (!metrics_pending_->ready()) {
      loading_ = true;
    } else {
      if (const auto* records = metrics_pending_->value()) {
        for (const auto& m : *records)
          if (m.layer >= 0 && m.head >= 0 && m.layer < layers_ && m.head < heads_) metrics_[slot_of(m.layer, m.head)] = m.m;
        if (records->empty()) metrics_error_ = "no head metrics recorded at step " + std::to_string(key_.step);
      } else {
        metrics_error_ = metrics_pending_->error();
      }
      metrics_done_ = true;
      metrics_pending_.reset();
    }
  }
  update_atlas();
  update_values_label();
}

void ModelOverview::update_values_label() {
  // Each layer's label from its first thumbnail in; labels in the order of their first layer.
  std::vector<std::pair<std::string, std::vector<int32_t>>> groups;
  for (int32_t l = 0; l < layers_; ++l)
    for (int32_t h = 0; h < heads_; ++h) {
      const Slot& s = slots_[slot_of(l, h)];
      if (!s.thumb || s.thumb->label.empty()) continue;
      auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == s.thumb->label; });
      if (it == groups.end()) groups.emplace_back(s.thumb->label, std::vector<int32_t>{l});
      else it->second.push_back(l);
      break;
    }
  values_label_.clear();
  if (groups.empty()) return;
  values_label_ = "values: ";
  if (groups.size() == 1) {
    values_label_ += groups.front().first;
    return;
  }
  for (size_t i = 0; i < groups.size(); ++i)
    values_label_ += (i ? "; " : "") + groups[i].first + " (" + layer_ranges(groups[i].second) + ")";
}

// ---------------------------------------------------------------------------------------------
// The atlas

void ModelOverview::color_thumbnail(size_t i) {
  const int ox = static_cast<int>(i % kAtlasColumns) * kThumbMax, oy = static_cast<int>(i / kAtlasColumns) * kThumbMax;
  for (int y = 0; y < kThumbMax; ++y)
    std::fill_n(atlas_pixels_.begin() + static_cast<long>((oy + y) * atlas_w_ + ox), kThumbMax, 0u);
  const Slot& slot = slots_[i];
  if (!slot.thumb) return;
  const Thumbnail& t = *slot.thumb;
  // Rank is each head's own distribution; linear and log run from 0 (or the floor) to 1.
  if (thumb_scale_.kind() == profiler::ScaleKind::Rank) thumb_scale_.set_sample(t.values);
  std::vector<uint32_t> row(static_cast<size_t>(t.w));
  for (int y = 0; y < t.h; ++y) {
    thumb_scale_.colorize(std::span<const float>(t.values.data() + static_cast<size_t>(y) * t.w, static_cast<size_t>(t.w)), row);
    std::copy(row.begin(), row.end(), atlas_pixels_.begin() + static_cast<long>((oy + y) * atlas_w_ + ox));
  }
}

void ModelOverview::update_atlas() {
  const ScaleLook look{&vs_.scale.colormap(), vs_.scale.kind(), vs_.scale.log_floor()};
  if (!(look == look_)) {
    // The thumbnails follow the canvas' colormap and scale kind, not its range (each has its own).
    look_ = look;
    thumb_scale_.set_colormap(*look.map);
    thumb_scale_.set_kind(look.kind);
    thumb_scale_.set_log_floor(look.log_floor);
    thumb_scale_.set_range(look.kind == profiler::ScaleKind::Log ? std::min(look.log_floor, 0.5f) : 0.f, 1.f);
    to_color_.clear();
    for (size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].thumb) to_color_.push_back(i);
  }
  if (to_color_.empty() || slots_.empty()) return;
  const int columns = static_cast<int>(std::min<size_t>(slots_.size(), kAtlasColumns));
  const int rows = static_cast<int>((slots_.size() + kAtlasColumns - 1) / kAtlasColumns);
  if (atlas_w_ != columns * kThumbMax || atlas_h_ != rows * kThumbMax) {
    atlas_w_ = columns * kThumbMax, atlas_h_ = rows * kThumbMax;
    atlas_pixels_.assign(static_cast<size_t>(atlas_w_) * static_cast<size_t>(atlas_h_), 0u);
    if (atlas_) textures_.destroy(atlas_);
    atlas_ = nullptr;
  }
  for (size_t i : to_color_) color_thumbnail(i);
  to_color_.clear();
  // One upload a frame at most, however many thumbnails arrived.
  if (atlas_) textures_.update(atlas_, atlas_w_, atlas_h_, atlas_pixels_);
  else atlas_ = textures_.create(atlas_w_, atlas_h_, atlas_pixels_);
}

// ---------------------------------------------------------------------------------------------
// Toolbar, ordering

void ModelOverview::draw_toolbar() {
  draw_selection_bar(vs_, false, true);
  int metric = static_cast<int>(metric_);
  const char* names[kHeadMetrics];
  for (int i = 0; i < kHeadMetrics; ++i) names[i] = head_metric_name(static_cast<HeadMetric>(i));
  ImGui::SetNextItemWidth(130);
  if (ImGui::Combo("metric", &metric, names, kHeadMetrics)) set_metric(static_cast<HeadMetric>(metric));
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", kMetricHelp[static_cast<int>(metric_)]);

  const float radio = ImGui::GetFrameHeight() + ImGui::GetStyle().ItemInnerSpacing.x;
  next_group(2 * radio + ImGui::CalcTextSize("layer × head gridranked by metric").x + ImGui::GetStyle().ItemSpacing.x);
  int arrange = static_cast<int>(arrange_);
  ImGui::RadioButton("layer × head grid", &arrange, static_cast<int>(Arrange::Grid));
  ImGui::SameLine();
  ImGui::RadioButton("ranked by metric", &arrange, static_cast<int>(Arrange::Ranked));
  arrange_ = static_cast<Arrange>(arrange);
  next_group(radio + ImGui::CalcTextSize("highest first").x);
  ImGui::BeginDisabled(arrange_ != Arrange::Ranked);
  ImGui::Checkbox("highest first", &descending_);
  ImGui::EndDisabled();

  next_group(labelled(190, "range") + (range_user_ ? 40.f : 0.f));
  ImGui::BeginDisabled(data_hi_ <= data_lo_);
  ImGui::SetNextItemWidth(190);
  const float speed = std::max(1e-4f, (data_hi_ - data_lo_) / 300.f);
  if (ImGui::DragFloatRange2("range", &range_lo_, &range_hi_, speed, data_lo_, data_hi_, "%.3g", "%.3g",
                             ImGuiSliderFlags_AlwaysClamp))
    range_user_ = true;
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("Heads whose %s is outside the range are dimmed (grid) or left out (ranked)", head_metric_name(metric_));
  ImGui::EndDisabled();
  if (range_user_) {
    ImGui::SameLine();
    if (ImGui::SmallButton("all")) range_user_ = false;
  }
  next_group(kLegendWidth + ImGui::CalcTextSize("each head's own full scale (linear)").x);
  draw_legend();
  if (!values_label_.empty()) {
    // What the maps are: softmax probabilities, a recurrent layer's implicit attention, or both.
    next_group(ImGui::CalcTextSize(values_label_.c_str()).x);
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted(values_label_.c_str());
  }
  const size_t n = slots_.size();
  if (loaded_ < n && loading_) {
    char status[64];
    std::snprintf(status, sizeof status, "loading %zu / %zu heads…", loaded_, n);
    next_group(ImGui::CalcTextSize(status).x);
    ImGui::TextDisabled("%s", status);
  }
  if (metrics_done_ && !metrics_error_.empty()) {
    next_group(ImGui::CalcTextSize(metrics_error_.c_str()).x);
    ImGui::TextColored(ImVec4(0.95f, 0.7f, 0.3f, 1.f), "%s", metrics_error_.c_str());
  }
}

void ModelOverview::draw_legend() {
  // Every thumbnail is its own head over its own full scale: the bar runs from 0 to that.
  const ImVec2 at = ImGui::GetCursorScreenPos();
  const float line = ImGui::GetTextLineHeight();
  const float w = kLegendWidth - 22.f, h = line * 0.7f, y = at.y + (ImGui::GetFrameHeight() - h) * 0.5f;
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const float zero_w = ImGui::CalcTextSize("0").x;
  dl->AddText(ImVec2(at.x, at.y + ImGui::GetStyle().FramePadding.y), ImGui::GetColorU32(ImGuiCol_TextDisabled), "0");
  const float x0 = at.x + zero_w + 4;
  const int n = 32;
  for (int i = 0; i < n; ++i) {
    const profiler::Rgb8 c = vs_.scale.colormap().map((i + 0.5f) / n);
    dl->AddRectFilled(ImVec2(x0 + w * i / n, y), ImVec2(x0 + w * (i + 1) / n + 0.5f, y + h), IM_COL32(c.r, c.g, c.b, 255));
  }
  ImGui::Dummy(ImVec2(zero_w + 4 + w + 4, ImGui::GetFrameHeight()));
  ImGui::SameLine(0, 0);
  ImGui::AlignTextToFramePadding();
  ImGui::TextDisabled("each head's own full scale (%s)", ColorScale::kind_name(vs_.scale.kind()));
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("Each thumbnail is divided by its head's own full scale: the 99.5th percentile of its\n"
                      "max-pooled scores (the first queries see a key or two, so every causal map peaks at 1)");
}

void ModelOverview::arrange_heads() {
  bool any = false;
  data_lo_ = data_hi_ = 0.f;
  for (int32_t l = 0; l < layers_; ++l)
    for (int32_t h = 0; h < heads_; ++h)
      if (const auto v = value(l, h)) {
        const float f = static_cast<float>(*v);
        data_lo_ = any ? std::min(data_lo_, f) : f, data_hi_ = any ? std::max(data_hi_, f) : f;
        any = true;
      }
  if (!range_user_) range_lo_ = data_lo_, range_hi_ = data_hi_;

  order_.clear();
  for (int32_t l = 0; l < layers_; ++l)
    for (int32_t h = 0; h < heads_; ++h) order_.emplace_back(l, h);
  if (arrange_ != Arrange::Ranked || !any) return;
  // Ranked: the heads inside the range, by the metric; ties keep layer order.
  std::erase_if(order_, [&](const auto& lh) { return !in_range(lh.first, lh.second); });
  std::stable_sort(order_.begin(), order_.end(), [&](const auto& a, const auto& b) {
    const double va = *value(a.first, a.second), vb = *value(b.first, b.second);
    return descending_ ? va > vb : va < vb;
  });
}

// ---------------------------------------------------------------------------------------------
// Drawing

void ModelOverview::draw_cell(ImDrawList* dl, const CellRect& c, int rank, bool in_range) {
  const float s = c.max.x - c.min.x;
  const float line = ImGui::GetTextLineHeight();
  const ImU32 dim = ImGui::GetColorU32(ImGuiCol_TextDisabled), text = ImGui::GetColorU32(ImGuiCol_Text);
  dl->AddRectFilled(c.min, c.max, IM_COL32(18, 18, 22, 255));
  const Slot& slot = slots_[slot_of(c.layer, c.head)];
  if (slot.thumb && atlas_) {
    const Thumbnail& t = *slot.thumb;
    // The map keeps its shape inside the square: a window of keys is narrower than its queries.
    const float k = s / static_cast<float>(std::max(t.w, t.h));
    const ImVec2 size(t.w * k, t.h * k);
    const ImVec2 p0(c.min.x + (s - size.x) * 0.5f, c.min.y + (s - size.y) * 0.5f);
    const auto [ox, oy] = atlas_origin(c.layer, c.head);
    const ImVec2 uv0(static_cast<float>(ox) / atlas_w_, static_cast<float>(oy) / atlas_h_);
    const ImVec2 uv1(static_cast<float>(ox + t.w) / atlas_w_, static_cast<float>(oy + t.h) / atlas_h_);
    dl->AddImage(atlas_, p0, ImVec2(p0.x + size.x, p0.y + size.y), uv0, uv1);
  } else {
    const char* what = slot.error.empty() ? "…" : "no attention";
    const ImVec2 ts = ImGui::CalcTextSize(what);
    if (ts.x < s - 4) dl->AddText(ImVec2(c.min.x + (s - ts.x) * 0.5f, c.min.y + (s - ts.y) * 0.5f), dim, what);
  }
  dl->AddRect(c.min, c.max, IM_COL32(255, 255, 255, 28));

  // Ranked, a title line names the head; the grid's row and column labels do it there.
  float y = c.max.y + 2;
  if (rank > 0) {
    char rank_text[16], head_text[32];
    std::snprintf(rank_text, sizeof rank_text, "#%d", rank);
    std::snprintf(head_text, sizeof head_text, "L%d H%d", c.layer, c.head);
    dl->PushClipRect(ImVec2(c.min.x, y), ImVec2(c.max.x, y + line + 2), true);
    dl->AddText(ImVec2(c.min.x + 1, y + 1), dim, rank_text);
    dl->AddText(ImVec2(c.max.x - ImGui::CalcTextSize(head_text).x - 1, y + 1), text, head_text);
    dl->PopClipRect();
    y += line + 2;
  }
  // The value strip: a bar for where the head's value sits in the range over all heads.
  const ImVec2 l0(c.min.x, y), l1(c.max.x, y + line + 2);
  const auto v = value(c.layer, c.head);
  if (v && data_hi_ > data_lo_) {
    const float f = std::clamp(static_cast<float>((*v - data_lo_) / (data_hi_ - data_lo_)), 0.f, 1.f);
    dl->AddRectFilled(l0, ImVec2(l0.x + std::max(1.f, s * f), l1.y), IM_COL32(70, 120, 190, 90));
  }
  dl->PushClipRect(l0, l1, true);
  const std::string value_text = v ? format_value(*v) : std::string("—");
  const float vw = ImGui::CalcTextSize(value_text.c_str()).x;
  dl->AddText(ImVec2(l1.x - vw - 3, l0.y + 1), v ? text : dim, value_text.c_str());
  dl->PopClipRect();
  if (!in_range) dl->AddRectFilled(c.min, l1, IM_COL32(14, 14, 16, 200));
  if (c.layer == vs_.layer && c.head == vs_.head)
    dl->AddRect(ImVec2(c.min.x - 2, c.min.y - 2), ImVec2(c.max.x + 2, c.max.y + 2), kSelected, 0, 0, 2.f);
}

void ModelOverview::draw_heads() {
  ImGui::BeginChild("##heads", ImGui::GetContentRegionAvail(), false, ImGuiWindowFlags_HorizontalScrollbar);
  const bool ranked = arrange_ == Arrange::Ranked;
  const float line = ImGui::GetTextLineHeight();
  const float inner_w = ImGui::GetContentRegionAvail().x - ImGui::GetStyle().ScrollbarSize;
  const float left = ranked ? 0.f : ImGui::CalcTextSize("L00").x + 16.f;  // layer labels
  const float top = ranked ? 0.f : line + 10.f;                            // head labels
  // The grid fits the heads across; ranked cells are about kRankedCell wide whatever the model.
  const float across = ranked ? std::max(1.f, std::floor(inner_w / kRankedCell)) : static_cast<float>(std::max(1, heads_));
  const float thumb = std::clamp(std::floor((inner_w - left) / across - kGap), kMinThumb, kMaxThumb);
  const float labels = (ranked ? 2.f : 1.f) * (line + 2) + 2;
  const float cell_w = thumb + kGap, cell_h = thumb + labels + kGap;
  const int columns = ranked ? std::max(1, static_cast<int>((inner_w + kGap) / cell_w)) : heads_;
  const int n = static_cast<int>(order_.size());
  const int rows = ranked ? (n + columns - 1) / columns : layers_;
  const ImVec2 content(left + columns * cell_w, top + rows * cell_h);

  // One item for every head (STYLE.md §8): hit-testing is ours.
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  const bool clicked = ImGui::InvisibleButton("##grid", ImVec2(std::max(1.f, content.x), std::max(1.f, content.y)));
  const bool hovered = ImGui::IsItemHovered();
  const ImVec2 mouse = ImGui::GetIO().MousePos;

  // Only the rows inside the child window are drawn.
  const float view_top = ImGui::GetWindowPos().y, view_bottom = view_top + ImGui::GetWindowHeight();
  const int row0 = std::max(0, static_cast<int>((view_top - origin.y - top) / cell_h));
  const int row1 = std::min(rows - 1, static_cast<int>((view_bottom - origin.y - top) / cell_h));
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImU32 dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
  cells_.clear();
  std::optional<CellRect> under;
  for (int row = row0; row <= row1; ++row) {
    for (int col = 0; col < columns; ++col) {
      const int i = row * columns + col;
      if (i >= n) break;
      const auto [layer, head] = order_[static_cast<size_t>(i)];
      CellRect c{layer, head, ImVec2(origin.x + left + col * cell_w, origin.y + top + row * cell_h), {}};
      c.max = ImVec2(c.min.x + thumb, c.min.y + thumb);
      draw_cell(dl, c, ranked ? i + 1 : 0, !value(layer, head) || in_range(layer, head));
      cells_.push_back(c);
      if (hovered && mouse.x >= c.min.x && mouse.x < c.max.x && mouse.y >= c.min.y && mouse.y < c.max.y + labels) under = c;
    }
    if (!ranked) {
      char label[16];
      std::snprintf(label, sizeof label, "L%d", row);
      const float y = origin.y + top + row * cell_h + (thumb - line) * 0.5f;
      dl->AddText(ImVec2(origin.x + left - kGap - ImGui::CalcTextSize(label).x - 4, y),
                  row == vs_.layer ? ImGui::GetColorU32(ImGuiCol_Text) : dim, label);
    }
  }
  if (!ranked) {
    // Head labels stay at the top while the layers scroll under them.
    const float y = std::max(origin.y, view_top);
    dl->AddRectFilled(ImVec2(origin.x, y), ImVec2(origin.x + content.x, y + top - 4), ImGui::GetColorU32(ImGuiCol_WindowBg));
    for (int h = 0; h < heads_; ++h) {
      char label[16];
      std::snprintf(label, sizeof label, "H%d", h);
      const float x = origin.x + left + h * cell_w + (thumb - ImGui::CalcTextSize(label).x) * 0.5f;
      dl->AddText(ImVec2(x, y + 2), h == vs_.head ? ImGui::GetColorU32(ImGuiCol_Text) : dim, label);
    }
  }
  if (ranked && n == 0) {
    const char* none = "No head has its metric inside the range";
    dl->AddText(ImVec2(origin.x + 8, origin.y + 8), dim, none);
  }

  if (under) {
    dl->AddRect(ImVec2(under->min.x - 1, under->min.y - 1), ImVec2(under->max.x + 1, under->max.y + 1), IM_COL32(255, 255, 255, 230), 0, 0, 1.5f);
    inspect_head(under->layer, under->head);
    ImGui::BeginTooltip();
    ImGui::Text("layer %d · head %d", under->layer, under->head);
    const auto m = metrics(under->layer, under->head);
    for (int k = 0; k < kHeadMetrics; ++k) {
      const auto which = static_cast<HeadMetric>(k);
      ImGui::TextDisabled("%-14s", head_metric_name(which));
      ImGui::SameLine(120);
      if (m) ImGui::Text("%s", format_value(head_metric_value(*m, which)).c_str());
      else ImGui::TextDisabled("not recorded");
    }
    ImGui::TextDisabled("click: open in the attention explorer");
    ImGui::EndTooltip();
    if (clicked) {
      vs_.layer = under->layer, vs_.head = under->head;
      vs_.requested_view = "attention";
    }
  }
  ImGui::EndChild();
}

void ModelOverview::inspect_head(int32_t layer, int32_t head) {
  inspection_.clear();
  inspection_.title = "Head";
  inspection_.add("layer / head", std::to_string(layer) + " / " + std::to_string(head));
  inspection_.add("run", std::to_string(key_.run));
  inspection_.add("step", std::to_string(key_.step));
  const auto m = metrics(layer, head);
  for (int k = 0; k < kHeadMetrics; ++k) {
    const auto which = static_cast<HeadMetric>(k);
    inspection_.add(head_metric_name(which), m ? format_value(head_metric_value(*m, which)) : std::string("not recorded"));
  }
  const Slot& slot = slots_[slot_of(layer, head)];
  if (slot.thumb) {
    const Thumbnail& t = *slot.thumb;
    inspection_.add("map", std::to_string(t.map_rows) + " queries × " + std::to_string(t.map_cols) + " keys");
    if (!t.label.empty()) inspection_.add("values", t.label);
    inspection_.add("thumbnail", std::to_string(t.w) + " × " + std::to_string(t.h) + " px: level " + std::to_string(t.level) +
                                     ", max of " + std::to_string(t.pool) + " × " + std::to_string(t.pool) + " cells");
    inspection_.add("peak score", format_value(t.peak));
    inspection_.add("full scale", format_value(t.full_scale) + " (99.5th percentile)");
  } else if (!slot.error.empty()) {
    inspection_.add("attention", slot.error);
  }
}

void ModelOverview::inspect_run() {
  inspection_.title = "Model overview";
  inspection_.add("run", std::to_string(key_.run));
  inspection_.add("step", std::to_string(key_.step));
  inspection_.add("heads", std::to_string(layers_ * heads_) + " (" + std::to_string(layers_) + " layers × " +
                               std::to_string(heads_) + " heads)");
  inspection_.add("thumbnails", std::to_string(loaded_) + " loaded");
  if (data_hi_ >= data_lo_ && metrics_done_ && metrics_error_.empty())
    inspection_.add(std::string(head_metric_name(metric_)) + " range", format_value(data_lo_) + " … " + format_value(data_hi_));
  if (arrange_ == Arrange::Ranked) inspection_.add("shown", std::to_string(order_.size()) + " heads in range");
}

void ModelOverview::draw() {
  inspection_.clear();
  cells_.clear();
  notice_ = nullptr;
  if (!vs_.has_run()) {
    const NoRunNotice n = no_run_notice(vs_);
    draw_notice(notice_ = n.message, n.detail.c_str());
    return;
  }
  const profiler::RunSummary* summary = vs_.doc->run_summary(vs_.run);
  if (!summary || !vs_.run_data()) {
    draw_notice(notice_ = "Loading…");
    loading_ = true;
    return;
  }
  sync();  // before the toolbar, whose status line tells what arrived
  draw_toolbar();
  // Before the captures are blamed: a run with no committed step has no attention of any kind yet.
  if (summary->n_steps == 0) {
    draw_notice(notice_ = kNoCommittedStep, kNoCommittedStepDetail);
    return;
  }
  if (summary->counts.attention_heads == 0) {
    const std::string detail = "This run was recorded without attention (captures: " +
                               (summary->info.captures.empty() ? std::string("none") : summary->info.captures) + ").";
    draw_notice(notice_ = "No attention recorded for this run", detail.c_str());
    return;
  }
  if (key_.step < 0 || slots_.empty()) {
    draw_notice(notice_ = "No steps recorded yet");
    return;
  }
  const bool all_failed = !loading_ && loaded_ == 0 &&
                          std::all_of(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.error.empty(); });
  if (all_failed) {
    draw_notice(notice_ = "No attention to show at this step", slots_.front().error.c_str());
    return;
  }
  arrange_heads();
  ImGui::Spacing();
  draw_heads();
  if (inspection_.empty()) inspect_run();
}

}  // namespace mnemo::viz
