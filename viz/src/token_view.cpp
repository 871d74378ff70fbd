#include "mnemo/viz/token_view.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace mnemo::viz {
namespace {

constexpr float kPadX = 3.f;          // text inside its box
constexpr float kGap = 1.5f;          // between the boxes of one word's pieces
constexpr float kRounding = 2.f;
constexpr float kBoxSpacing = 3.f;     // between the lines' boxes
constexpr size_t kRecentQueries = 16;  // rows kept for queries pointed at before
constexpr ImU32 kShade = TokenView::kShade;
constexpr ImU32 kGenerated = IM_COL32(130, 190, 255, 255);

std::string quoted_token(const RunData* d, int64_t pos) {
  if (!d) return std::to_string(pos);
  return std::to_string(pos) + " '" + d->token_text(pos) + "'";
}

// Puts the next toolbar group, `width` pixels wide, on this line when it fits, else on the next.
void next_group(float width) {
  ImGui::SameLine(0, 18.f);
  if (ImGui::GetContentRegionAvail().x < width) ImGui::NewLine();
}

ImU32 with_alpha(ImU32 c, float a) {
  return (c & ~IM_COL32_A_MASK) | (static_cast<ImU32>(std::clamp(a, 0.f, 1.f) * 255.f + 0.5f) << IM_COL32_A_SHIFT);
}

}  // namespace

float TokenView::weight(int64_t key) const {
  if (weights_.empty() || key < 0) return NAN;
  return key < static_cast<int64_t>(weights_.size()) ? weights_[static_cast<size_t>(key)] : 0.f;
}

float TokenView::shade(int64_t key) const {
  const float w = weight(key);
  if (!(w > 0.f) || !(peak_ > 0.f)) return 0.f;
  // Square root: a key with a hundredth of the strongest weight still shows.
  const float r = w / peak_;
  return r < 1e-3f ? 0.f : std::sqrt(r);
}

ImVec2 TokenView::box_min(int64_t position, ImVec2 origin) const {
  const Box& b = boxes_[static_cast<size_t>(position)];
  return ImVec2(origin.x + b.x, origin.y + static_cast<float>(b.line) * line_h_);
}

std::optional<std::pair<ImVec2, ImVec2>> TokenView::token_rect(int64_t position) const {
  if (position < 0 || position >= static_cast<int64_t>(boxes_.size())) return std::nullopt;
  const ImVec2 p = box_min(position, origin_);
  return std::make_pair(p, ImVec2(p.x + boxes_[static_cast<size_t>(position)].w, p.y + line_h_ - kBoxSpacing));
}

std::optional<ImVec2> TokenView::token_center(int64_t position) const {
  const auto r = token_rect(position);
  if (!r) return std::nullopt;
  return ImVec2((r->first.x + r->second.x) * 0.5f, (r->first.y + r->second.y) * 0.5f);
}

// ---------------------------------------------------------------------------------------------
// Layout

void TokenView::measure(const RunData& d) {
  std::vector<bool> decode_step;
  for (const auto& s : d.steps) {
    if (s.step >= static_cast<int64_t>(decode_step.size())) decode_step.resize(static_cast<size_t>(s.step) + 1, false);
    if (s.step >= 0) decode_step[static_cast<size_t>(s.step)] = s.kind == "decode";
  }
  tokens_.assign(d.tokens.size(), Measured{});
  generated_ = 0;
  for (size_t i = 0; i < d.tokens.size(); ++i) {
    const std::string& raw = d.tokens[i].text;
    Measured& m = tokens_[i];
    size_t start = raw.find_first_not_of(' ');
    if (start == std::string::npos) {
      m.text.clear();  // only spaces: a dot per space, up to a few
      for (size_t k = 0; k < std::min<size_t>(raw.size(), 6); ++k) m.text += "\xc2\xb7";
      if (raw.empty()) m.text = "\xe2\x88\x85";  // ∅: an empty piece (part of a character elsewhere)
    } else {
      m.space_before = start > 0;
      for (size_t k = start; k < raw.size(); ++k) {
        const unsigned char c = static_cast<unsigned char>(raw[k]);
        if (c == '\n') m.text += "\xe2\x86\xb5", ++m.breaks_after;  // ↵
        else if (c == '\t') m.text += "\xe2\x87\xa5";                // ⇥
        else if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          m.text += buf;
        } else m.text += static_cast<char>(c);
      }
    }
    const int64_t step = d.tokens[i].step;
    m.generated = step >= 0 && step < static_cast<int64_t>(decode_step.size()) && decode_step[static_cast<size_t>(step)];
    m.width = ImGui::CalcTextSize(m.text.c_str()).x;
    generated_ += m.generated;
  }
  laid_out_width_ = -1;
}

void TokenView::lay_out(float width) {
  laid_out_width_ = width;
  line_h_ = ImGui::GetTextLineHeight() + 7.f;
  const float word_gap = ImGui::CalcTextSize(" ").x + 4.f;
  boxes_.assign(tokens_.size(), Box{});
  line_first_.assign(1, 0);
  float x = 0;
  int64_t line = 0;
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const Measured& m = tokens_[i];
    const float w = m.width + 2 * kPadX;
    float lead = x > 0 ? (m.space_before ? word_gap : kGap) : 0.f;
    if (x > 0 && x + lead + w > width) {
      line_first_.push_back(static_cast<int64_t>(i));
      ++line, x = 0, lead = 0;
    }
    boxes_[i] = Box{x + lead, w, line};
    x += lead + w;
    for (int b = 0; b < m.breaks_after; ++b) {  // "\n\n" leaves an empty line
      line_first_.push_back(static_cast<int64_t>(i) + 1);
      ++line, x = 0;
    }
  }
  line_first_.push_back(static_cast<int64_t>(tokens_.size()));
}

int64_t TokenView::token_at(ImVec2 local) const {
  if (line_h_ <= 0 || local.y < 0 || local.x < 0) return -1;
  const int64_t line = static_cast<int64_t>(local.y / line_h_);
  if (line >= static_cast<int64_t>(lines())) return -1;
  const auto first = boxes_.begin() + line_first_[static_cast<size_t>(line)];
  const auto last = boxes_.begin() + line_first_[static_cast<size_t>(line) + 1];
  // The last box of the line starting at or before x.
  auto it = std::upper_bound(first, last, local.x, [](float x, const Box& b) { return x < b.x; });
  if (it == first) return -1;
  --it;
  return local.x < it->x + it->w ? static_cast<int64_t>(it - boxes_.begin()) : -1;
}

// ---------------------------------------------------------------------------------------------
// Weights

void TokenView::request_rows() {
  if (pending_ && pending_->ready()) {
    if (Rows* rows = pending_->mutable_value()) {
      recent_.emplace_front(pending_for_, std::move(*rows));
      if (recent_.size() > kRecentQueries) recent_.pop_back();
      error_.clear();
    } else if (pending_->error() != "stale") {
      error_ = pending_->error();
    }
    pending_.reset();
  }
  if (!query_) return;
  const RowsKey want{vs_.run, vs_.layer, all_heads_ ? -1 : vs_.head, *query_};
  if (want == asked_) return;  // asked for (or shown) already: nothing new to queue this frame
  asked_ = want;
  error_.clear();
  const uint64_t ticket = wanted_->fetch_add(1) + 1;
  for (auto it = recent_.begin(); it != recent_.end(); ++it)
    if (it->first == want) {
      std::rotate(recent_.begin(), it, it + 1);
      return;
    }
  const profiler::RunSummary* s = vs_.doc->run_summary(vs_.run);
  const int32_t first_head = all_heads_ ? 0 : vs_.head;
  const RunData* d = vs_.run_data();
  const int32_t last_head = all_heads_ ? (d ? d->heads : static_cast<int32_t>(s ? s->info.n_heads : 1)) - 1 : vs_.head;
  const int64_t run = want.run, query = want.query;
  const int32_t layer = want.layer;
  const bool all = all_heads_;
  pending_for_ = want;
  pending_ = vs_.doc->worker().compute<Rows>(Priority::Now, [=, wanted = wanted_](profiler::SessionReader& r) {
    // The pointer moved on while this waited: the newer query's job is behind it.
    if (wanted->load() != ticket) throw std::runtime_error("stale");
    // All heads of the layer: as many as the layer has (a hybrid's layers differ).
    int32_t last = last_head;
    if (all) {
      try {
        last = std::min(last, r.layer(run, layer).n_heads - 1);
      } catch (const std::exception&) {
        // A layer the run does not describe: the run's count; the rows say what is missing.
      }
    }
    Rows rows;
    for (int32_t h = first_head; h <= last; ++h) rows.push_back(r.row(run, layer, h, query));
    return rows;
  });
}

void TokenView::request_label() {
  const std::pair<int64_t, int32_t> want{vs_.run, vs_.layer};
  if (want != label_for_) {
    label_for_ = want, label_.clear();
    const int64_t run = want.first;
    const int32_t layer = want.second;
    label_pending_ = vs_.doc->worker().compute<std::string>(
        Priority::Visible, [=](profiler::SessionReader& r) { return r.map_label(run, layer); });
  }
  if (label_pending_ && label_pending_->ready()) {
    // A layer the reader cannot show says why when a token is pointed at (its rows fail the same way).
    if (const std::string* l = label_pending_->value()) label_ = *l;
    label_pending_.reset();
  }
}

void TokenView::combine_rows() {
  const Rows* rows = nullptr;
  if (query_ && !recent_.empty() && recent_.front().first == asked_) rows = &recent_.front().second;
  if (!rows) {
    // The new query's weights are not in yet: show nothing rather than the previous query's.
    weights_.clear(), top_.clear(), peak_ = 0, shown_ = RowsKey{};
    return;
  }
  if (shown_ == asked_ && shown_combine_ == combine_ && shown_top_k_ == top_k_) return;
  shown_ = asked_, shown_combine_ = combine_, shown_top_k_ = top_k_;
  size_t n = 0;
  for (const auto& r : *rows) n = std::max(n, r.size());
  weights_.assign(n, 0.f);
  for (const auto& r : *rows)
    for (size_t k = 0; k < r.size(); ++k) {
      const float w = std::isfinite(r[k]) ? r[k] : 0.f;
      weights_[k] = combine_ == Combine::Max ? std::max(weights_[k], w) : weights_[k] + w / static_cast<float>(rows->size());
    }
  peak_ = weights_.empty() ? 0.f : *std::max_element(weights_.begin(), weights_.end());
  std::vector<int64_t> order(n);
  for (size_t k = 0; k < n; ++k) order[k] = static_cast<int64_t>(k);
  const size_t k = std::min(n, static_cast<size_t>(std::max(1, top_k_)));
  std::partial_sort(order.begin(), order.begin() + static_cast<long>(k), order.end(), [&](int64_t a, int64_t b) {
    return weights_[static_cast<size_t>(a)] > weights_[static_cast<size_t>(b)];
  });
  top_.clear();
  for (size_t i = 0; i < k; ++i) top_.emplace_back(order[i], weights_[static_cast<size_t>(order[i])]);
}

// ---------------------------------------------------------------------------------------------
// Drawing

void TokenView::draw_toolbar() {
  draw_selection_bar(vs_, true, false);
  const ImGuiStyle& style = ImGui::GetStyle();
  ImGui::Checkbox("all heads of the layer", &all_heads_);
  ImGui::SameLine();
  ImGui::BeginDisabled(!all_heads_);
  int combine = combine_ == Combine::Mean ? 0 : 1;
  const char* combines[] = {"mean over heads", "max over heads"};
  ImGui::SetNextItemWidth(150);
  if (ImGui::Combo("##combine", &combine, combines, 2)) combine_ = combine == 0 ? Combine::Mean : Combine::Max;
  ImGui::EndDisabled();
  next_group(100 + style.ItemInnerSpacing.x + ImGui::CalcTextSize("lines to top keys").x);
  ImGui::SetNextItemWidth(100);
  ImGui::SliderInt("lines to top keys", &top_k_, 0, 10);

  // Legend: the shading, and which tokens the model wrote.
  const char* shading = "opacity √(weight / strongest)";
  next_group(80 + ImGui::CalcTextSize(shading).x + (label_.empty() ? 0.f : ImGui::CalcTextSize(label_.c_str()).x + 30) + 18 +
             ImGui::CalcTextSize("generated").x);
  const ImVec2 at = ImGui::GetCursorScreenPos();
  const float h = ImGui::GetTextLineHeight();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const float y = at.y + style.FramePadding.y;
  for (int i = 0; i < 24; ++i)
    dl->AddRectFilled(ImVec2(at.x + i * 3.f, y), ImVec2(at.x + i * 3.f + 3.f, y + h), with_alpha(kShade, std::sqrt((i + 0.5f) / 24.f) * 0.92f));
  ImGui::Dummy(ImVec2(76, ImGui::GetFrameHeight()));
  ImGui::SameLine(0, 4);
  ImGui::AlignTextToFramePadding();
  ImGui::TextDisabled("%s", shading);
  if (!label_.empty()) {
    // What the weights are: softmax probabilities or a recurrent layer's implicit attention.
    ImGui::SameLine(0, 4);
    ImGui::TextDisabled("of");
    ImGui::SameLine(0, 4);
    ImGui::TextUnformatted(label_.c_str());
  }
  ImGui::SameLine(0, 18);
  ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(kGenerated), "generated");

  char status[96];
  if (pinned_) std::snprintf(status, sizeof status, "query pinned at %lld: click it again or Esc to unpin", static_cast<long long>(*pinned_));
  else std::snprintf(status, sizeof status, "point at a token to see where it attends; click to pin");
  if (!error_.empty()) std::snprintf(status, sizeof status, "no weights for this query: see the Inspector");
  next_group(ImGui::CalcTextSize(status).x);
  if (!error_.empty()) ImGui::TextColored(ImVec4(0.95f, 0.7f, 0.3f, 1.f), "%s", status);
  else if (pinned_) ImGui::TextColored(ImVec4(0.47f, 0.86f, 1.f, 1.f), "%s", status);
  else ImGui::TextDisabled("%s", status);
}

void TokenView::draw_text(ImDrawList* dl, ImVec2 origin, int64_t line0, int64_t line1) {
  const int64_t n_lines = static_cast<int64_t>(lines());
  line0 = std::clamp<int64_t>(line0, 0, n_lines), line1 = std::clamp<int64_t>(line1 + 1, 0, n_lines);
  const int64_t t0 = line_first_[static_cast<size_t>(line0)], t1 = line_first_[static_cast<size_t>(line1)];
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text);
  const ImU32 base = IM_COL32(255, 255, 255, 16), base_generated = IM_COL32(130, 190, 255, 26);
  const float box_h = line_h_ - kBoxSpacing;
  for (int64_t i = t0; i < t1; ++i) {
    const Measured& m = tokens_[static_cast<size_t>(i)];
    const ImVec2 p0 = box_min(i, origin);
    const ImVec2 p1(p0.x + boxes_[static_cast<size_t>(i)].w, p0.y + box_h);
    const float s = shade(i);
    dl->AddRectFilled(p0, p1, m.generated ? base_generated : base, kRounding);
    if (s > 0.f) dl->AddRectFilled(p0, p1, with_alpha(kShade, s * 0.92f), kRounding);
    // Dark text on strongly shaded boxes: it stays readable on the orange.
    const ImU32 ink = s > 0.55f ? IM_COL32(20, 16, 10, 255) : m.generated ? kGenerated : text;
    dl->AddText(ImVec2(p0.x + kPadX, p0.y + (box_h - ImGui::GetTextLineHeight()) * 0.5f), ink, m.text.c_str());
  }
  drawn_ = t1 - t0;
}

void TokenView::draw_links(ImDrawList* dl, ImVec2 origin) {
  if (!query_ || boxes_.empty()) return;
  const float box_h = line_h_ - kBoxSpacing;
  const int64_t q = *query_;
  const ImVec2 q0 = box_min(q, origin);
  const ImVec2 q_top(q0.x + boxes_[static_cast<size_t>(q)].w * 0.5f, q0.y);
  int rank = 0;
  for (const auto& [key, w] : top_) {
    ++rank;
    if (rank > top_k_ || key >= static_cast<int64_t>(boxes_.size())) break;
    const ImVec2 k0 = box_min(key, origin);
    const ImVec2 k1(k0.x + boxes_[static_cast<size_t>(key)].w, k0.y + box_h);
    const float strength = peak_ > 0 ? w / peak_ : 0.f;
    dl->AddRect(ImVec2(k0.x - 1, k0.y - 1), ImVec2(k1.x + 1, k1.y + 1), with_alpha(kShade, 0.6f + 0.4f * strength), kRounding, 0, 1.5f);
    char label[16];
    std::snprintf(label, sizeof label, "%d", rank);
    dl->AddText(ImGui::GetFont(), ImGui::GetFontSize() * 0.75f, ImVec2(k1.x - 6, k0.y - ImGui::GetFontSize() * 0.55f),
                IM_COL32(255, 210, 150, 255), label);
    if (key == q) continue;  // the query attending to itself: the shading says it
    // An arc above the text from the query to the key, higher for keys further away.
    const ImVec2 k_top((k0.x + k1.x) * 0.5f, k0.y);
    const float lift = std::min(line_h_ * 3.f, line_h_ * 0.7f + std::abs(k_top.x - q_top.x) * 0.12f + std::abs(k_top.y - q_top.y) * 0.1f);
    dl->AddBezierCubic(q_top, ImVec2(q_top.x, q_top.y - lift), ImVec2(k_top.x, k_top.y - lift), k_top,
                       with_alpha(kShade, 0.3f + 0.45f * strength), 1.f + 1.5f * strength);
    dl->AddCircleFilled(k_top, 2.5f, with_alpha(kShade, 0.9f));
  }
  dl->AddRect(ImVec2(q0.x - 2, q0.y - 2), ImVec2(q0.x + boxes_[static_cast<size_t>(q)].w + 2, q0.y + box_h + 2),
              pinned_ ? IM_COL32(120, 220, 255, 255) : IM_COL32(255, 255, 255, 235), kRounding, 0, 2.f);
}

void TokenView::inspect() {
  const RunData* d = vs_.run_data();
  if (!query_) {
    inspection_.title = "Tokens";
    inspection_.add("run", std::to_string(vs_.run));
    const int64_t generated = generated_;
    inspection_.add("tokens", std::to_string(tokens_.size()) + " (" + std::to_string(static_cast<int64_t>(tokens_.size()) - generated) +
                                  " prompt, " + std::to_string(generated) + " generated)");
    inspection_.add("lines", std::to_string(lines()));
    inspection_.add("heads", "layer " + std::to_string(vs_.layer) + (all_heads_ ? ", all heads" : ", head " + std::to_string(vs_.head)));
    if (!label_.empty()) inspection_.add("values", label_);
    return;
  }
  inspection_.title = "Token attention";
  inspection_.add("query", quoted_token(d, *query_) + (pinned_ ? " (pinned)" : ""));
  const profiler::RunSummary* s = vs_.doc->run_summary(vs_.run);
  inspection_.add("layer", std::to_string(vs_.layer));
  inspection_.add("heads", all_heads_ ? "all " + std::to_string(d ? d->heads : s ? s->info.n_heads : 0) + ", " +
                                            (combine_ == Combine::Mean ? "mean" : "max")
                                      : "head " + std::to_string(vs_.head));
  if (!label_.empty()) inspection_.add("values", label_);
  if (!error_.empty()) {
    inspection_.add("weights", error_);
    return;
  }
  if (top_.empty()) {
    inspection_.add("weights", "…");
    return;
  }
  for (size_t i = 0; i < top_.size(); ++i) {
    char w[32];
    std::snprintf(w, sizeof w, "%.4g", top_[i].second);
    inspection_.add("key " + std::to_string(i + 1), quoted_token(d, top_[i].first) + "  ·  " + w);
  }
}

void TokenView::draw() {
  inspection_.clear();
  drawn_ = 0;
  if (!vs_.has_run()) {
    const NoRunNotice n = no_run_notice(vs_);
    draw_notice(n.message, n.detail.c_str());
    return;
  }
  const RunData* d = vs_.run_data();
  if (!d) {
    draw_notice("Loading…");
    loading_ = true;
    return;
  }
  if (d->tokens.empty()) {
    draw_notice("This run has no tokens", "Nothing was recorded for it yet.");
    loading_ = false;
    return;
  }
  request_label();
  draw_toolbar();
  if (measured_run_ != vs_.run || measured_generation_ != d->generation || measured_font_ != ImGui::GetFontSize()) {
    // A query row never changes once recorded: a reload of the same run keeps pins and rows.
    if (measured_run_ != vs_.run) pinned_.reset(), recent_.clear(), asked_ = RowsKey{};
    measured_run_ = vs_.run, measured_generation_ = d->generation, measured_font_ = ImGui::GetFontSize();
    measure(*d);
  }
  // Another view asked for a token (the Memory view's lineage): pin it and bring it into sight.
  if (vs_.pin_token) {
    if (*vs_.pin_token >= 0 && *vs_.pin_token < static_cast<int64_t>(d->tokens.size())) pinned_ = scroll_to_ = *vs_.pin_token;
    vs_.pin_token.reset();
  }
  ImGui::Spacing();
  ImGui::BeginChild("##tokens", ImGui::GetContentRegionAvail(), false);
  const float width = std::max(60.f, ImGui::GetContentRegionAvail().x - 4.f);
  if (std::abs(width - laid_out_width_) > 0.5f) lay_out(width);
  if (scroll_to_ && *scroll_to_ >= 0 && *scroll_to_ < static_cast<int64_t>(boxes_.size())) {
    ImGui::SetScrollY(static_cast<float>(boxes_[static_cast<size_t>(*scroll_to_)].line) * line_h_ - ImGui::GetWindowHeight() * 0.3f);
  }
  scroll_to_.reset();

  // One item for the whole text (STYLE.md §8): tokens are found by position, not by widgets.
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  origin_ = origin;
  const bool clicked = ImGui::InvisibleButton("##text", ImVec2(width, std::max(1.f, static_cast<float>(lines()) * line_h_)));
  const ImVec2 mouse = ImGui::GetIO().MousePos;
  hovered_.reset();
  if (ImGui::IsItemHovered()) {
    const int64_t t = token_at(ImVec2(mouse.x - origin.x, mouse.y - origin.y));
    if (t >= 0) hovered_ = t;
  }
  if (clicked) pinned_ = hovered_ && hovered_ != pinned_ ? hovered_ : std::nullopt;
  if (pinned_ && ImGui::IsWindowFocused(ImGuiFocusedFlags_RootAndChildWindows) &&
      ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Escape)))
    pinned_.reset();
  query_ = pinned_ ? pinned_ : hovered_;
  request_rows();
  // Before the rows are taken: a result landing between the two must still get its frame.
  loading_ = (pending_ && !pending_->ready()) || label_pending_ != nullptr;
  combine_rows();

  ImDrawList* dl = ImGui::GetWindowDrawList();
  const float top = ImGui::GetWindowPos().y, bottom = top + ImGui::GetWindowHeight();
  draw_text(dl, origin, static_cast<int64_t>(std::floor((top - origin.y) / line_h_)),
            static_cast<int64_t>(std::floor((bottom - origin.y) / line_h_)));
  draw_links(dl, origin);
  ImGui::EndChild();

  vs_.cursor_query = query_;
  if (query_ && !top_.empty()) vs_.cursor_key = top_.front().first;
  else vs_.cursor_key.reset();
  if (hovered_ && pinned_ && *hovered_ != *pinned_) {
    ImGui::BeginTooltip();
    ImGui::Text("%s → %s", quoted_token(d, *pinned_).c_str(), quoted_token(d, *hovered_).c_str());
    const float w = weight(*hovered_);
    if (std::isnan(w)) ImGui::TextDisabled("weight: loading…");
    else ImGui::Text("weight %.4g  (%.0f%% of the strongest)", w, peak_ > 0 ? 100.f * w / peak_ : 0.f);
    ImGui::EndTooltip();
  }
  inspect();
}

}  // namespace mnemo::viz
