#include "mnemo/viz/memory_view.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <map>

#include "mnemo/profiler/session/attention_math.h"
#include "mnemo/profiler/session/memory_lineage.h"

namespace mnemo::viz {
namespace {

constexpr float kSlotLabels = 64.f;         // left of the heatmap
constexpr float kNormsWidth = 150.f;        // the norm bars beside the heatmap
constexpr float kBottomAxis = 40.f;         // dimension ticks and the colour bar
constexpr size_t kMaxSlotSimilarity = 512;  // slots; beyond, the slot matrix is not computed
constexpr size_t kMaxSegmentSimilarity = 1024;
constexpr int kMaxTextureSide = 8192;  // columns beyond this pool (largest |value| wins)
// The lineage's rollouts cost about segments × layers × rows³ / 6 multiply-adds (rows = 2M + S per
// segment): the view computes it up to a few seconds' worth on its worker.
constexpr double kMaxLineageWork = 4e9;
constexpr float kLineageGap = 230.f;          // between the similarity plot and the lineage

// Moreland's cool–warm table (matplotlib "coolwarm") at every eighth of the range.
constexpr std::array<std::array<int, 3>, 9> kCoolWarm = {{{59, 76, 192},
                                                          {98, 130, 234},
                                                          {141, 176, 254},
                                                          {184, 208, 249},
                                                          {221, 221, 221},
                                                          {245, 196, 173},
                                                          {244, 154, 123},
                                                          {222, 96, 77},
                                                          {180, 4, 38}}};

// 257 entries: an odd count puts 0 exactly on the grey centre entry.
constexpr int kDivergingSize = 257;
const std::array<uint32_t, kDivergingSize>& diverging_table() {
  static const std::array<uint32_t, kDivergingSize> table = [] {
    std::array<uint32_t, kDivergingSize> t{};
    for (int i = 0; i < kDivergingSize; ++i) {
      const double x = static_cast<double>(i) / (kDivergingSize - 1) * 8.0;
      const int k = std::min(7, static_cast<int>(x));
      const double f = x - k;
      uint8_t c[3];
      for (int j = 0; j < 3; ++j)
        c[j] = static_cast<uint8_t>(std::lround(kCoolWarm[static_cast<size_t>(k)][static_cast<size_t>(j)] * (1 - f) +
                                                kCoolWarm[static_cast<size_t>(k + 1)][static_cast<size_t>(j)] * f));
      t[static_cast<size_t>(i)] = pack_rgba(c[0], c[1], c[2]);
    }
    return t;
  }();
  return table;
}

double cosine(const float* a, const float* b, size_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < n; ++i) ab += double{a[i]} * b[i], aa += double{a[i]} * a[i], bb += double{b[i]} * b[i];
  return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : std::nan("");
}

// Each head's reads and writes at every segment of the run, from the reader's segment_attention.
void load_reads_and_writes(profiler::SessionReader& r, int64_t run, int32_t layer, MemoryView::LayerMemory& m) {
  const profiler::MixerLayer& desc = r.layer(run, layer);
  int64_t last = -1;
  for (const auto& st : r.steps(run)) last = std::max(last, st.pos0 / desc.window);
  const int64_t n_seg = last + 1, M = m.segments.front().rows;
  std::vector<float> reads(static_cast<size_t>(desc.n_heads * n_seg * M), std::nanf(""));
  std::vector<float> writes(reads.size(), std::nanf(""));
  for (int32_t h = 0; h < desc.n_heads; ++h)
    for (int64_t s = 0; s < n_seg; ++s) {
      const profiler::SegmentAttention a = r.segment_attention(run, layer, h, s);
      if (a.memory_slots != M) return;  // a memory of another shape: nothing to line up
      const size_t at = static_cast<size_t>((h * n_seg + s) * M);
      for (int64_t j = 0; j < M; ++j) {
        double sum = 0;
        for (int64_t t = 0; t < a.n_tokens; ++t) sum += a.token_reads[static_cast<size_t>(t * M + j)];
        reads[at + static_cast<size_t>(j)] = a.n_tokens > 0 ? static_cast<float>(sum / static_cast<double>(a.n_tokens)) : std::nanf("");
        if (a.write_reads.empty()) continue;
        const int64_t width = 2 * M + a.n_tokens;
        double to_tokens = 0;
        for (int64_t t = 0; t < a.n_tokens; ++t) to_tokens += a.write_reads[static_cast<size_t>(j * width + M + t)];
        writes[at + static_cast<size_t>(j)] = static_cast<float>(to_tokens);
      }
    }
  m.heads = desc.n_heads, m.attention_segments = n_seg;
  m.reads = std::move(reads), m.writes = std::move(writes);
}

std::shared_ptr<const MemoryView::LayerMemory> load_memory(profiler::SessionReader& r, int64_t run, int32_t layer,
                                                           std::string kind) {
  auto m = std::make_shared<MemoryView::LayerMemory>();
  m->layer = layer;
  const auto snapshots = r.memory_snapshots(run, layer);
  for (const auto& s : snapshots)
    if (std::find(m->kinds.begin(), m->kinds.end(), s.kind) == m->kinds.end()) m->kinds.push_back(s.kind);
  if (m->kinds.empty()) return m;
  if (std::find(m->kinds.begin(), m->kinds.end(), kind) == m->kinds.end()) kind = m->kinds.front();
  m->kind = kind;
  // One snapshot per segment: the newest (snapshots come in step order).
  std::map<int64_t, const profiler::MemorySnapshotRecord*> newest;
  for (const auto& s : snapshots)
    if (s.kind == kind) newest[s.segment] = &s;
  for (const auto& [segment, s] : newest) {
    MemoryView::Segment seg;
    seg.segment = segment, seg.step = s->step, seg.kind = s->kind, seg.rows = s->rows, seg.cols = s->cols;
    seg.values.resize(s->data.size());
    profiler::fp16_to_f32(s->data, seg.values.data());
    seg.norms = s->norms;
    for (float v : seg.values)
      if (std::isfinite(v)) m->abs_max = std::max(m->abs_max, std::abs(v));
    const size_t rows = static_cast<size_t>(seg.rows), cols = static_cast<size_t>(seg.cols);
    if (rows <= kMaxSlotSimilarity) {
      seg.slot_similarity.resize(rows * rows);
      for (size_t a = 0; a < rows; ++a)
        for (size_t b = a; b < rows; ++b)
          seg.slot_similarity[a * rows + b] = seg.slot_similarity[b * rows + a] =
              static_cast<float>(cosine(&seg.values[a * cols], &seg.values[b * cols], cols));
    }
    m->segments.push_back(std::move(seg));
  }
  // A recurrent memory transformer's memory: its lineage over the tokens before each segment.
  if (kind == "memory_tokens" && !m->segments.empty() && r.layer(run, layer).mask == "segments") {
    const int64_t last = m->segments.back().segment;
    const profiler::MixerLayer& desc = r.layer(run, layer);  // window: the segment length
    const double rows = 2.0 * static_cast<double>(m->segments.back().rows) + static_cast<double>(desc.window);
    const double work = static_cast<double>(last) * r.run(run).info.n_layers * rows * rows * rows / 6;
    if (work > kMaxLineageWork) {
      m->lineage_note = "Lineage not computed: " + std::to_string(last) + " segments of " +
                        std::to_string(static_cast<int64_t>(rows)) +
                        " rows are too many for the view (profiler::memory_lineage computes it).";
    } else {
      try {
        const auto lineages = profiler::memory_lineages(r, run, last);
        for (auto& seg : m->segments) {
          const profiler::MemoryLineage& l = lineages[static_cast<size_t>(seg.segment)];
          if (l.memory_slots != seg.rows) continue;
          seg.lineage_positions = l.n_positions, seg.lineage = l.tokens, seg.learned = l.learned;
        }
        m->has_lineage = true;
        load_reads_and_writes(r, run, layer, *m);
        for (const auto& t : r.tokens(run)) {
          if (t.position >= static_cast<int64_t>(m->token_text.size())) m->token_text.resize(static_cast<size_t>(t.position) + 1);
          m->token_text[static_cast<size_t>(t.position)] = t.text;
        }
      } catch (const std::exception& e) {
        m->lineage_note = std::string("Lineage not available: ") + e.what();
      }
    }
  }
  const size_t n = m->segments.size();
  if (n <= kMaxSegmentSimilarity) {
    m->segment_similarity.assign(n * n, std::nanf(""));
    for (size_t a = 0; a < n; ++a)
      for (size_t b = a; b < n; ++b) {
        const auto& x = m->segments[a];
        const auto& y = m->segments[b];
        if (x.rows != y.rows || x.cols != y.cols) continue;  // different shapes do not compare
        m->segment_similarity[a * n + b] = m->segment_similarity[b * n + a] =
            static_cast<float>(cosine(x.values.data(), y.values.data(), x.values.size()));
      }
  }
  return m;
}

std::shared_ptr<const MemoryView::StateSeries> load_states(profiler::SessionReader& r, int64_t run, int32_t layer) {
  auto out = std::make_shared<MemoryView::StateSeries>();
  out->run = run, out->layer = layer;
  // Every layer's rows: a layer without state (a hybrid's softmax layer) is told apart from a run
  // without any.
  std::vector<profiler::StateStatRecord> stats = r.state_stats(run);
  for (const auto& s : stats) out->layers_with_state.push_back(s.layer);
  std::sort(out->layers_with_state.begin(), out->layers_with_state.end());
  out->layers_with_state.erase(std::unique(out->layers_with_state.begin(), out->layers_with_state.end()),
                               out->layers_with_state.end());
  std::erase_if(stats, [&](const profiler::StateStatRecord& s) { return s.layer != layer; });
  for (const auto& s : stats) {
    out->heads = std::max(out->heads, s.head + 1);
    out->steps.push_back(s.step);
  }
  std::sort(out->steps.begin(), out->steps.end());
  out->steps.erase(std::unique(out->steps.begin(), out->steps.end()), out->steps.end());
  const size_t n = out->steps.size();
  out->norm.assign(static_cast<size_t>(out->heads) * n, std::nan(""));
  out->rank = out->norm;
  for (const auto& s : stats) {
    const size_t at = static_cast<size_t>(s.head) * n +
                      static_cast<size_t>(std::lower_bound(out->steps.begin(), out->steps.end(), s.step) - out->steps.begin());
    out->norm[at] = s.norm, out->rank[at] = s.effective_rank;
  }
  return out;
}

double nice_step(double min_step) {
  if (!(min_step > 0)) return 1;
  const double p = std::pow(10.0, std::floor(std::log10(min_step)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (p * m >= min_step * (1 - 1e-9)) return p * m;
  return 10 * p;
}

std::string fmt(const char* f, double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Labels along one side of a grid of `n` cells spanning `length` pixels: every cell when a text
// line fits, else a nice step.
template <class Fn>
void ticks(int64_t n, float length, float min_gap, Fn&& at) {
  const double step = std::max(1.0, nice_step(static_cast<double>(n) * min_gap / std::max(1.f, length)));
  for (double i = 0; i < static_cast<double>(n); i += step) at(static_cast<int64_t>(i));
}

}  // namespace

uint32_t MemoryView::diverging_color(float v, float abs_max) {
  if (!std::isfinite(v) || !(abs_max > 0)) return pack_rgba(60, 60, 60);
  const float t = std::clamp(0.5f + 0.5f * v / abs_max, 0.f, 1.f);
  return diverging_table()[static_cast<size_t>(std::lround(t * (kDivergingSize - 1)))];
}

MemoryView::MemoryView(ViewState& vs, TextureStore& textures) : vs_(vs), textures_(textures) {}

MemoryView::~MemoryView() {
  if (heat_.texture) textures_.destroy(heat_.texture);
  if (sim_.texture) textures_.destroy(sim_.texture);
}

size_t MemoryView::shown_index() const {
  if (!memory_ || memory_->segments.empty()) return 0;
  const auto& s = memory_->segments;
  if (segment_ < 0) return s.size() - 1;
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i].segment >= segment_) return i;
  return s.size() - 1;
}

const MemoryView::Segment* MemoryView::shown_segment() const {
  return memory_ && !memory_->segments.empty() ? &memory_->segments[shown_index()] : nullptr;
}

void MemoryView::notice(const std::string& message, const char* detail) {
  notice_ = message;
  // A long message breaks before its parenthesis rather than running off a narrow canvas.
  std::string shown = message;
  if (const size_t at = shown.rfind(" (");
      at != std::string::npos && ImGui::CalcTextSize(shown.c_str()).x > ImGui::GetContentRegionAvail().x - 16)
    shown[at] = '\n';
  draw_notice(shown.c_str(), detail);
}

void MemoryView::request() {
  const RunData* d = vs_.run_data();  // its generation says when a live run has grown
  if (!d) return;
  const uint64_t generation = d->generation;
  if (pending_ ||
      (asked_run_ == vs_.run && asked_layer_ == vs_.layer && asked_generation_ == generation && asked_kind_ == kind_))
    return;
  if (asked_run_ != vs_.run) memory_.reset(), segment_ = -1, kind_.clear(), mode_chosen_ = false;
  asked_run_ = vs_.run, asked_layer_ = vs_.layer, asked_generation_ = generation, asked_kind_ = kind_;
  const int64_t run = vs_.run;
  const int32_t layer = vs_.layer;
  pending_ = vs_.doc->worker().compute<std::shared_ptr<const LayerMemory>>(
      Priority::Visible,
      [run, layer, kind = kind_](profiler::SessionReader& r) { return load_memory(r, run, layer, kind); });
}

void MemoryView::request_states() {
  const RunData* d = vs_.run_data();
  if (!d || states_pending_ ||
      (states_run_ == vs_.run && states_layer_ == vs_.layer && states_generation_ == d->generation))
    return;
  states_run_ = vs_.run, states_layer_ = vs_.layer, states_generation_ = d->generation;
  const int64_t run = vs_.run;
  const int32_t layer = vs_.layer;
  states_pending_ = vs_.doc->worker().compute<std::shared_ptr<const StateSeries>>(
      Priority::Visible, [run, layer](profiler::SessionReader& r) { return load_states(r, run, layer); });
}

// Norm and effective rank of each head's state over the steps: two charts, one line per head.
void MemoryView::draw_states() {
  const StateSeries& s = *states_;
  draw_layer_picker();
  ImGui::TextWrapped("Recurrent state of layer %d after each step, one line per head (%d heads, %zu steps).", s.layer,
                     s.heads, s.steps.size());
  inspection_.add("layer", std::to_string(s.layer));
  inspection_.add("values", "state norm (Frobenius) and effective rank (participation ratio)");
  auto head_color = [&](int32_t h) { return ImColor::HSV(static_cast<float>(h) / static_cast<float>(std::max(1, s.heads)), 0.65f, 0.95f); };
  // Which line is which head, in the lines' colours.
  ImGui::TextDisabled("heads:");
  for (int32_t h = 0; h < s.heads && h < 64; ++h) {
    ImGui::SameLine();
    ImGui::TextColored(head_color(h), "H%d", h);
  }
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 avail = ImGui::GetContentRegionAvail(), at = ImGui::GetCursorScreenPos();
  const float line = ImGui::GetTextLineHeight(), chart_h = std::max(40.f, avail.y * 0.5f - 3 * line - 8);
  const ImU32 dim = ImGui::GetColorU32(ImGuiCol_TextDisabled), border = ImGui::GetColorU32(ImGuiCol_Border);
  const size_t n = s.steps.size();
  auto chart = [&](const std::vector<double>& v, float y0, const char* title) {
    double hi = 0;
    for (double x : v)
      if (std::isfinite(x)) hi = std::max(hi, x);
    if (hi <= 0) hi = 1;
    const ImVec2 o(at.x + 8, y0 + line + 2), size(std::max(40.f, avail.x - 16), chart_h);
    dl->AddText(ImVec2(o.x, y0), dim, (std::string(title) + " (max " + fmt("%.3g", hi) + ")").c_str());
    dl->AddRect(o, ImVec2(o.x + size.x, o.y + size.y), border);
    for (int32_t h = 0; h < s.heads; ++h) {
      const ImU32 color = head_color(h);
      std::vector<ImVec2> points;
      for (size_t i = 0; i < n; ++i) {
        const double x = v[static_cast<size_t>(h) * n + i];
        if (!std::isfinite(x)) continue;
        const float fx = n > 1 ? static_cast<float>(i) / static_cast<float>(n - 1) : 0.5f;
        points.emplace_back(o.x + fx * size.x, o.y + size.y - static_cast<float>(x / hi) * size.y);
      }
      if (points.size() > 1) dl->AddPolyline(points.data(), static_cast<int>(points.size()), color, 0, 1.5f);
      for (const ImVec2& p : points) dl->AddCircleFilled(p, 2.f, color);
    }
    // The steps along the bottom: the first and the last.
    if (n > 0) {
      const std::string first = "step " + std::to_string(s.steps.front()), last = "step " + std::to_string(s.steps.back());
      dl->AddText(ImVec2(o.x, o.y + size.y + 1), dim, first.c_str());
      if (n > 1) dl->AddText(ImVec2(o.x + size.x - ImGui::CalcTextSize(last.c_str()).x, o.y + size.y + 1), dim, last.c_str());
    }
    return o.y + size.y + line;
  };
  const float mid = chart(s.norm, at.y, "state norm (Frobenius)");
  chart(s.rank, mid + line, "effective rank (participation ratio)");
  ImGui::Dummy(avail);
}

// A run without snapshots: say why in words that name the architecture.
bool MemoryView::explain_missing_memory() {
  const profiler::RunSummary* s = vs_.doc->run_summary(vs_.run);
  if (!s || s->counts.memory_snapshots > 0) return false;
  const std::string& caps = s->info.captures;
  const bool captured = caps.find("memory") != std::string::npos || caps.find("all") != std::string::npos;
  const std::string arch = s->info.architecture.empty() ? "unknown architecture" : s->info.architecture;
  notice("This run has no memory tokens or recurrent state (" + arch +
             (captured ? ": attention over a KV cache only)" : ": memory was not captured)"),
         captured ? "The memory capture was on; the model reported none.\nWhat it keeps is in the KV cache view."
                  : "Record with --capture memory (or all) to see memory,\nfor architectures that have it.");
  return true;
}

// The run and step bar, and the layer shown.
void MemoryView::draw_layer_picker() {
  draw_selection_bar(vs_, false, false);
  ImGui::SameLine();
  const profiler::RunSummary* s = vs_.doc->run_summary(vs_.run);
  const int layers = s ? static_cast<int>(s->info.n_layers) : 1;
  int layer = vs_.layer;
  ImGui::SetNextItemWidth(110);
  if (ImGui::InputInt("layer", &layer)) vs_.layer = std::clamp(layer, 0, std::max(0, layers - 1));
}

void MemoryView::draw_toolbar() {
  draw_layer_picker();
  if (memory_ && memory_->kinds.size() > 1) {
    ImGui::SameLine();
    ImGui::SetNextItemWidth(150);
    if (ImGui::BeginCombo("kind", memory_->kind.c_str())) {
      for (const auto& k : memory_->kinds)
        if (ImGui::Selectable(k.c_str(), k == memory_->kind)) kind_ = k;
      ImGui::EndCombo();
    }
  }
  // Second row: what is shown of the layer.
  if (memory_ && memory_->segments.size() > 1) {
    int i = static_cast<int>(shown_index());
    ImGui::SetNextItemWidth(std::max(140.f, ImGui::GetContentRegionAvail().x - 415));
    const Segment& seg = memory_->segments[static_cast<size_t>(i)];
    char label[64];
    std::snprintf(label, sizeof label, "segment %lld (step %lld)", static_cast<long long>(seg.segment),
                  static_cast<long long>(seg.step));
    if (ImGui::SliderInt("##segment", &i, 0, static_cast<int>(memory_->segments.size()) - 1, label))
      segment_ = memory_->segments[static_cast<size_t>(i)].segment;
    ImGui::SameLine();
  }
  int mode = static_cast<int>(mode_);
  const char* modes[] = {"similarity: segment × segment", "similarity: slot × slot", "reads over segments",
                         "writes over segments"};
  const bool has_reads = memory_ && memory_->heads > 0;
  ImGui::SetNextItemWidth(235);
  if (ImGui::Combo("##panel", &mode, modes, has_reads ? 4 : 2)) set_similarity_mode(static_cast<Similarity>(mode));
  if (has_reads && (mode_ == Similarity::Reads || mode_ == Similarity::Writes)) {
    ImGui::SameLine();
    ImGui::SetNextItemWidth(110);
    const std::string shown = reads_head_ < 0 ? "mean of heads" : "head " + std::to_string(reads_head_);
    if (ImGui::BeginCombo("##reads_head", shown.c_str())) {
      if (ImGui::Selectable("mean of heads", reads_head_ < 0)) reads_head_ = -1;
      for (int32_t h = 0; h < memory_->heads; ++h)
        if (ImGui::Selectable(("head " + std::to_string(h)).c_str(), h == reads_head_)) reads_head_ = h;
      ImGui::EndCombo();
    }
  }
  ImGui::SameLine();
  ImGui::Checkbox("colours per segment", &per_segment_range_);
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("Scale colours to this segment's largest |value| instead of the layer's");
}

void MemoryView::upload(Texture& t, int w, int h, const std::vector<uint32_t>& rgba, uint64_t key) {
  if (t.texture && t.w == w && t.h == h) textures_.update(t.texture, w, h, rgba);
  else {
    if (t.texture) textures_.destroy(t.texture);
    t.texture = textures_.create(w, h, rgba);
  }
  t.w = w, t.h = h, t.key = key;
}

void MemoryView::update_textures(const Segment& seg) {
  const size_t index = shown_index();
  const uint64_t base = reinterpret_cast<uintptr_t>(memory_.get()) * 1315423911u + index * 4;
  float range = memory_->abs_max;
  if (per_segment_range_) {
    range = 0;
    for (float v : seg.values)
      if (std::isfinite(v)) range = std::max(range, std::abs(v));
  }
  const uint64_t heat_key = base + (per_segment_range_ ? 1 : 0) + 1;
  if (heat_.key != heat_key) {
    // Wide memories pool columns; the largest |value| of a block keeps its sign and strength.
    const int64_t per_px = (seg.cols + kMaxTextureSide - 1) / kMaxTextureSide;
    const int w = static_cast<int>((seg.cols + per_px - 1) / per_px), h = static_cast<int>(seg.rows);
    std::vector<uint32_t> rgba(static_cast<size_t>(w) * static_cast<size_t>(h));
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        float v = 0;
        for (int64_t c = x * per_px; c < std::min<int64_t>(seg.cols, (x + 1) * per_px); ++c) {
          const float u = seg.values[static_cast<size_t>(y * seg.cols + c)];
          if (std::abs(u) > std::abs(v) || !std::isfinite(u)) v = u;
        }
        rgba[static_cast<size_t>(y * w + x)] = diverging_color(v, range);
      }
    upload(heat_, w, h, rgba, heat_key);
  }
  // The lineage: a row per slot over the tokens before the segment, each slot's largest share full
  // red (shares spread over hundreds of tokens would otherwise all look grey).
  const uint64_t lin_key = base * 7 + 5;
  if (lin_.key != lin_key) {
    const int64_t n = seg.lineage_positions;
    if (n == 0) {
      if (lin_.texture) textures_.destroy(lin_.texture);
      lin_ = Texture{nullptr, 0, 0, lin_key};
    } else {
      const int64_t per_px = (n + kMaxTextureSide - 1) / kMaxTextureSide;
      const int w = static_cast<int>((n + per_px - 1) / per_px), h = static_cast<int>(seg.rows);
      std::vector<uint32_t> rgba(static_cast<size_t>(w) * static_cast<size_t>(h));
      for (int y = 0; y < h; ++y) {
        const float* row = seg.lineage.data() + y * n;
        const float top = std::max(*std::max_element(row, row + n), 1e-30f);
        for (int x = 0; x < w; ++x) {
          float v = 0;
          for (int64_t c = x * per_px; c < std::min<int64_t>(n, (x + 1) * per_px); ++c) v = std::max(v, row[c]);
          rgba[static_cast<size_t>(y * w + x)] = diverging_color(v / top, 1.f);
        }
      }
      upload(lin_, w, h, rgba, lin_key);
    }
  }
  if (mode_ == Similarity::Reads || mode_ == Similarity::Writes) {
    const uint64_t key = (base * 3 + (mode_ == Similarity::Reads ? 3 : 4)) * 131 + static_cast<uint64_t>(reads_head_ + 1);
    if (sim_.key == key) return;
    const std::vector<float> m = reads_matrix();
    const int w = static_cast<int>(memory_->attention_segments), h = static_cast<int>(seg.rows);
    if (m.empty() || w == 0) {
      if (sim_.texture) textures_.destroy(sim_.texture);
      sim_ = Texture{nullptr, 0, 0, key};
      return;
    }
    float top = 1e-30f;
    for (float v : m)
      if (std::isfinite(v)) top = std::max(top, v);
    std::vector<uint32_t> rgba(m.size());
    for (size_t i = 0; i < m.size(); ++i) rgba[i] = diverging_color(m[i] / top, 1.f);
    upload(sim_, w, h, rgba, key);
    return;
  }
  const bool slots = mode_ == Similarity::Slots;
  const uint64_t sim_key = base * 3 + (slots ? 2 : 1);
  if (sim_.key != sim_key) {
    const std::vector<float>& m = slots ? seg.slot_similarity : memory_->segment_similarity;
    const int n = static_cast<int>(std::lround(std::sqrt(static_cast<double>(m.size()))));
    if (n == 0) {
      if (sim_.texture) textures_.destroy(sim_.texture);
      sim_ = Texture{nullptr, 0, 0, sim_key};
    } else {
      std::vector<uint32_t> rgba(m.size());
      for (size_t i = 0; i < m.size(); ++i) rgba[i] = diverging_color(m[i], 1.f);
      upload(sim_, n, n, rgba, sim_key);
    }
  }
}

std::vector<float> MemoryView::reads_matrix() const {
  const std::vector<float>& all = mode_ == Similarity::Reads ? memory_->reads : memory_->writes;
  const int64_t n = memory_->attention_segments, H = memory_->heads;
  if (all.empty() || H == 0) return {};
  const int64_t M = static_cast<int64_t>(all.size()) / (H * n);
  std::vector<float> out(static_cast<size_t>(M * n), 0.f);  // [slots][segments]
  for (int64_t j = 0; j < M; ++j)
    for (int64_t s = 0; s < n; ++s) {
      double sum = 0;
      for (int64_t h = reads_head_ < 0 ? 0 : reads_head_; h < (reads_head_ < 0 ? H : reads_head_ + 1); ++h)
        sum += all[static_cast<size_t>((h * n + s) * M + j)];
      out[static_cast<size_t>(j * n + s)] = static_cast<float>(reads_head_ < 0 ? sum / static_cast<double>(H) : sum);
    }
  return out;
}

std::optional<ImVec2> MemoryView::reads_point(int64_t slot, int64_t segment) const {
  if ((mode_ != Similarity::Reads && mode_ != Similarity::Writes) || !sim_.texture || sim_.w == 0) return std::nullopt;
  return ImVec2(sim_plot_.origin.x + (static_cast<float>(segment) + 0.5f) / static_cast<float>(sim_.w) * sim_plot_.size.x,
                sim_plot_.origin.y + (static_cast<float>(slot) + 0.5f) / static_cast<float>(sim_.h) * sim_plot_.size.y);
}

std::optional<ImVec2> MemoryView::heatmap_point(int64_t slot, int64_t dim) const {
  const Segment* s = shown_segment();
  if (!s || heat_plot_.size.x <= 0) return std::nullopt;
  return ImVec2(
      heat_plot_.origin.x + (static_cast<float>(dim) + 0.5f) / static_cast<float>(s->cols) * heat_plot_.size.x,
      heat_plot_.origin.y + (static_cast<float>(slot) + 0.5f) / static_cast<float>(s->rows) * heat_plot_.size.y);
}

std::optional<ImVec2> MemoryView::norm_bar_point(int64_t slot) const {
  const Segment* s = shown_segment();
  if (!s || norm_plot_.size.x <= 0) return std::nullopt;
  return ImVec2(norm_plot_.origin.x + 4, norm_plot_.origin.y + (static_cast<float>(slot) + 0.5f) /
                                                                   static_cast<float>(s->rows) * norm_plot_.size.y);
}

std::optional<ImVec2> MemoryView::lineage_point(int64_t slot, int64_t position) const {
  const Segment* seg = shown_segment();
  if (!seg || !lin_.texture || slot < 0 || slot >= seg->rows || position < 0 || position >= seg->lineage_positions)
    return std::nullopt;
  return ImVec2(lin_plot_.origin.x + (static_cast<float>(position) + 0.5f) / static_cast<float>(seg->lineage_positions) * lin_plot_.size.x,
                lin_plot_.origin.y + (static_cast<float>(slot) + 0.5f) / static_cast<float>(seg->rows) * lin_plot_.size.y);
}

std::optional<ImVec2> MemoryView::similarity_point(int64_t a, int64_t b) const {
  if (!sim_.texture || sim_plot_.size.x <= 0) return std::nullopt;
  const float n = static_cast<float>(sim_.w);
  return ImVec2(sim_plot_.origin.x + (static_cast<float>(b) + 0.5f) / n * sim_plot_.size.x,
                sim_plot_.origin.y + (static_cast<float>(a) + 0.5f) / n * sim_plot_.size.y);
}

void MemoryView::draw_color_bar(ImDrawList* dl, ImVec2 at, float width, float lo, float hi, const char* label) {
  const float h = 10.f;
  const int n = 64;
  for (int i = 0; i < n; ++i) {
    const float t0 = static_cast<float>(i) / n, t1 = static_cast<float>(i + 1) / n;
    dl->AddRectFilled(ImVec2(at.x + width * t0, at.y), ImVec2(at.x + width * t1 + 1, at.y + h),
                      diverging_color(lo + (hi - lo) * (t0 + t1) * 0.5f, std::max(std::abs(lo), std::abs(hi))));
  }
  dl->AddRect(at, ImVec2(at.x + width, at.y + h), ImGui::GetColorU32(ImGuiCol_Border));
  const ImU32 dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
  for (float t : {0.f, 0.5f, 1.f}) {
    const std::string s = fmt("%.3g", lo + (hi - lo) * t);
    const float w = ImGui::CalcTextSize(s.c_str()).x;
    const float x = at.x + width * t - (t == 0.f ? 0 : t == 1.f ? w : w * 0.5f);
    dl->AddText(ImVec2(x, at.y + h + 2), dim, s.c_str());
  }
  dl->AddText(ImVec2(at.x + width + 8, at.y - 3), dim, label);
}

void MemoryView::draw_heatmap(ImDrawList* dl, const Segment& seg) {
  const Plot& p = heat_plot_;
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text), dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
  const float line = ImGui::GetTextLineHeight();
  const ImVec2 end(p.origin.x + p.size.x, p.origin.y + p.size.y);
  // Title, and the shape when it fits before the norm bars' title.
  const std::string title = std::string(seg.kind == "recurrent_state" ? "Recurrent state" : "Memory tokens") +
                            " · layer " + std::to_string(memory_->layer) + " · segment " + std::to_string(seg.segment) +
                            " (step " + std::to_string(seg.step) + ")";
  const std::string shape = "   " + std::to_string(seg.rows) + " slots × " + std::to_string(seg.cols) + " dims";
  const ImVec2 title_at(p.origin.x - kSlotLabels, p.origin.y - line - 6);
  const ImVec4 clip(title_at.x, title_at.y, end.x, title_at.y + line + 2);
  dl->AddText(nullptr, 0.f, title_at, text, title.c_str(), nullptr, 0.f, &clip);
  const float title_w = ImGui::CalcTextSize(title.c_str()).x;
  if (title_w + ImGui::CalcTextSize(shape.c_str()).x < end.x - title_at.x)
    dl->AddText(ImVec2(title_at.x + title_w, title_at.y), dim, shape.c_str());
  if (heat_.texture) dl->AddImage(heat_.texture, p.origin, end);
  dl->AddRect(p.origin, end, ImGui::GetColorU32(ImGuiCol_Border));
  ticks(seg.rows, p.size.y, line * 1.2f, [&](int64_t r) {
    const std::string s = "slot " + std::to_string(r);
    const float y = p.origin.y + (static_cast<float>(r) + 0.5f) / static_cast<float>(seg.rows) * p.size.y;
    dl->AddText(ImVec2(p.origin.x - 6 - ImGui::CalcTextSize(s.c_str()).x, y - line * 0.5f), dim, s.c_str());
  });
  ticks(seg.cols, p.size.x, 48.f, [&](int64_t c) {
    const std::string s = std::to_string(c);
    const float x = p.origin.x + (static_cast<float>(c) + 0.5f) / static_cast<float>(seg.cols) * p.size.x;
    dl->AddLine(ImVec2(x, end.y), ImVec2(x, end.y + 3), dim);
    dl->AddText(ImVec2(x - ImGui::CalcTextSize(s.c_str()).x * 0.5f, end.y + 3), dim, s.c_str());
  });
  dl->AddText(ImVec2(p.origin.x - kSlotLabels, end.y + 3), dim, "dim →");
  float range = memory_->abs_max;
  if (per_segment_range_) {
    range = 0;
    for (float v : seg.values) range = std::max(range, std::abs(v));
  }
  draw_color_bar(dl, ImVec2(p.origin.x, end.y + line + 10), std::min(260.f, p.size.x * 0.5f), -range, range,
                 per_segment_range_ ? "value (this segment's range)" : "value (the layer's range, centred on 0)");
}

void MemoryView::draw_norms(ImDrawList* dl, const Segment& seg) {
  const Plot& p = norm_plot_;
  const ImU32 dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
  const float line = ImGui::GetTextLineHeight();
  float top = 0;  // one scale for every segment of the layer, so bars compare across segments
  for (const auto& s : memory_->segments)
    for (float n : s.norms) top = std::max(top, n);
  top = top > 0 ? static_cast<float>(std::ceil(top / nice_step(top / 3) - 1e-6) * nice_step(top / 3)) : 1.f;
  dl->AddText(ImVec2(p.origin.x, p.origin.y - line - 6), ImGui::GetColorU32(ImGuiCol_Text), "Slot norm");
  dl->AddRectFilled(p.origin, ImVec2(p.origin.x + p.size.x, p.origin.y + p.size.y),
                    ImGui::GetColorU32(ImGuiCol_FrameBg));
  const float row_h = p.size.y / static_cast<float>(std::max<int64_t>(1, seg.rows));
  const float gap = row_h > 6 ? std::min(3.f, row_h * 0.2f) : 0.f;
  for (int64_t r = 0; r < seg.rows && r < static_cast<int64_t>(seg.norms.size()); ++r) {
    const float y0 = p.origin.y + row_h * static_cast<float>(r) + gap, y1 = y0 + row_h - 2 * gap;
    dl->AddRectFilled(ImVec2(p.origin.x, y0),
                      ImVec2(p.origin.x + p.size.x * seg.norms[static_cast<size_t>(r)] / top, std::max(y1, y0 + 1)),
                      IM_COL32(150, 160, 178, 255));
  }
  const ImVec2 end(p.origin.x + p.size.x, p.origin.y + p.size.y);
  dl->AddRect(p.origin, end, ImGui::GetColorU32(ImGuiCol_Border));
  for (float t : {0.f, 0.5f, 1.f}) {
    const std::string s = fmt("%.3g", top * t);
    const float x = p.origin.x + p.size.x * t;
    dl->AddLine(ImVec2(x, end.y), ImVec2(x, end.y + 3), dim);
    const float w = ImGui::CalcTextSize(s.c_str()).x;
    dl->AddText(ImVec2(x - (t == 0.f ? 0 : t == 1.f ? w : w * 0.5f), end.y + 3), dim, s.c_str());
  }
}

void MemoryView::draw_similarity(ImDrawList* dl, const Segment& seg) {
  const Plot& p = sim_plot_;
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text), dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
  const float line = ImGui::GetTextLineHeight();
  const bool slots = mode_ == Similarity::Slots;
  const std::string title = slots ? "Cosine similarity between the slots of segment " + std::to_string(seg.segment)
                                  : "Cosine similarity of the flattened memory, segment × segment";
  dl->AddText(ImVec2(p.origin.x - kSlotLabels, p.origin.y - line - 6), text, title.c_str());
  const ImVec2 end(p.origin.x + p.size.x, p.origin.y + p.size.y);
  if (!sim_.texture) {
    dl->AddText(ImVec2(p.origin.x, p.origin.y + 4), dim,
                slots ? "Too many slots to compare (over 512)." : "Too many segments to compare.");
    return;
  }
  dl->AddImage(sim_.texture, p.origin, end);
  dl->AddRect(p.origin, end, ImGui::GetColorU32(ImGuiCol_Border));
  const int64_t n = sim_.w;
  auto name = [&](int64_t i) {
    return slots ? std::to_string(i) : std::to_string(memory_->segments[static_cast<size_t>(i)].segment);
  };
  ticks(n, p.size.y, line * 1.2f, [&](int64_t i) {
    const std::string s = name(i);
    const float at = (static_cast<float>(i) + 0.5f) / static_cast<float>(n);
    dl->AddText(ImVec2(p.origin.x - 6 - ImGui::CalcTextSize(s.c_str()).x, p.origin.y + at * p.size.y - line * 0.5f),
                dim, s.c_str());
    dl->AddText(ImVec2(p.origin.x + at * p.size.x - ImGui::CalcTextSize(s.c_str()).x * 0.5f, end.y + 3), dim,
                s.c_str());
  });
  dl->AddText(ImVec2(p.origin.x - kSlotLabels, end.y + 3), dim, slots ? "slot" : "segment");
  if (!slots) {  // the shown segment, marked on both axes
    const float at = (static_cast<float>(shown_index()) + 0.5f) / static_cast<float>(n);
    dl->AddTriangleFilled(ImVec2(end.x + 2, p.origin.y + at * p.size.y),
                          ImVec2(end.x + 10, p.origin.y + at * p.size.y - 5),
                          ImVec2(end.x + 10, p.origin.y + at * p.size.y + 5), text);
  }
  draw_color_bar(dl, ImVec2(end.x + 24, p.origin.y + 8), 160.f, -1.f, 1.f, "");
  const char* note = slots    ? "Each cell compares two slots' vectors (1 on the diagonal)."
                     : n == 1 ? "Only one segment was recorded: compare slots instead (similarity: slot × slot)."
                              : "Each cell compares two segments' whole memories, flattened (1 on the diagonal). "
                                "Click a row to show that segment.";
  // Beside the lineage, the note keeps to the gap between the two plots.
  const float wrap = lin_plot_.size.x > 0 ? kLineageGap - 36
                                          : std::max(80.f, ImGui::GetWindowPos().x + ImGui::GetWindowWidth() - end.x - 36);
  dl->AddText(nullptr, 0.f, ImVec2(end.x + 24, p.origin.y + 40), dim, note, nullptr, wrap);
}

void MemoryView::draw_reads(ImDrawList* dl, const Segment& seg) {
  const Plot& p = sim_plot_;
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text), dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
  const float line = ImGui::GetTextLineHeight();
  const bool reads = mode_ == Similarity::Reads;
  const std::string who = reads_head_ < 0 ? "mean of heads" : "head " + std::to_string(reads_head_);
  const std::string title = std::string(reads ? "Reads: slot × segment, the tokens' mean probability on each read slot"
                                              : "Writes: slot × segment, each write slot's probability on the tokens") +
                            " (" + who + ")";
  dl->AddText(ImVec2(p.origin.x - kSlotLabels, p.origin.y - line - 6), text, title.c_str());
  const ImVec2 end(p.origin.x + p.size.x, p.origin.y + p.size.y);
  if (!sim_.texture) {
    dl->AddText(ImVec2(p.origin.x, p.origin.y + 4), dim, "No reads or writes recorded for this layer.");
    return;
  }
  dl->AddImage(sim_.texture, p.origin, end);
  dl->AddRect(p.origin, end, ImGui::GetColorU32(ImGuiCol_Border));
  ticks(seg.rows, p.size.y, line * 1.2f, [&](int64_t r) {
    const std::string t = std::to_string(r);
    const float y = p.origin.y + (static_cast<float>(r) + 0.5f) / static_cast<float>(seg.rows) * p.size.y;
    dl->AddText(ImVec2(p.origin.x - 6 - ImGui::CalcTextSize(t.c_str()).x, y - line * 0.5f), dim, t.c_str());
  });
  ticks(sim_.w, p.size.x, 36.f, [&](int64_t c) {
    const std::string t = std::to_string(c);
    const float x = p.origin.x + (static_cast<float>(c) + 0.5f) / static_cast<float>(sim_.w) * p.size.x;
    dl->AddText(ImVec2(x - ImGui::CalcTextSize(t.c_str()).x * 0.5f, end.y + 3), dim, t.c_str());
  });
  dl->AddText(ImVec2(p.origin.x - kSlotLabels, end.y + 3), dim, "segment");
  const char* note = reads ? "Each cell: how much the segment's tokens drew on a slot of the memory they read, on "
                             "average (the largest cell full red). Click a cell to show the memory read."
                           : "Each cell: how much of a write slot's attention went to the segment's tokens rather "
                             "than to memory rows (the largest cell full red). Click a cell to show the memory written.";
  const float wrap = lin_plot_.size.x > 0 ? kLineageGap - 36
                                          : std::max(80.f, ImGui::GetWindowPos().x + ImGui::GetWindowWidth() - end.x - 36);
  dl->AddText(nullptr, 0.f, ImVec2(end.x + 24, p.origin.y + 8), dim, note, nullptr, wrap);
}

void MemoryView::draw_lineage(ImDrawList* dl, const Segment& seg) {
  const Plot& p = lin_plot_;
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text), dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
  const float line = ImGui::GetTextLineHeight();
  const ImVec2 end(p.origin.x + p.size.x, p.origin.y + p.size.y);
  const std::string title = "Lineage: slots × the " + std::to_string(seg.lineage_positions) + " tokens before segment " +
                            std::to_string(seg.segment);
  const ImVec4 clip(p.origin.x, p.origin.y - line - 6, end.x, p.origin.y);
  dl->AddText(nullptr, 0.f, ImVec2(p.origin.x, p.origin.y - line - 6), text, title.c_str(), nullptr, 0.f, &clip);
  if (lin_.texture) dl->AddImage(lin_.texture, p.origin, end);
  dl->AddRect(p.origin, end, ImGui::GetColorU32(ImGuiCol_Border));
  ticks(seg.rows, p.size.y, line * 1.2f, [&](int64_t r) {
    const std::string s = std::to_string(r);
    const float y = p.origin.y + (static_cast<float>(r) + 0.5f) / static_cast<float>(seg.rows) * p.size.y;
    dl->AddText(ImVec2(p.origin.x - 6 - ImGui::CalcTextSize(s.c_str()).x, y - line * 0.5f), dim, s.c_str());
  });
  ticks(seg.lineage_positions, p.size.x, 48.f, [&](int64_t c) {
    const std::string s = std::to_string(c);
    const float x = p.origin.x + (static_cast<float>(c) + 0.5f) / static_cast<float>(seg.lineage_positions) * p.size.x;
    dl->AddLine(ImVec2(x, end.y), ImVec2(x, end.y + 3), dim);
    dl->AddText(ImVec2(x - ImGui::CalcTextSize(s.c_str()).x * 0.5f, end.y + 3), dim, s.c_str());
  });
  dl->AddText(nullptr, 0.f, ImVec2(p.origin.x, end.y + line + 6), dim,
              "Rows: slots; columns: token positions. Each slot's largest share is full red. Attention rollout through "
              "the recorded reads and writes (docs/ARCHITECTURES.md); the rest of a slot is the learned memory.",
              nullptr, std::max(80.f, p.size.x));
}

void MemoryView::inspect_default(const Segment& seg) {
  inspection_.title = "Memory";
  inspection_.add("layer", std::to_string(memory_->layer));
  inspection_.add("kind", seg.kind);
  inspection_.add("segment", std::to_string(seg.segment));
  inspection_.add("segments recorded", std::to_string(memory_->segments.size()));
  inspection_.add("step", std::to_string(seg.step));
  inspection_.add("shape", std::to_string(seg.rows) + " slots × " + std::to_string(seg.cols) + " dims");
  double sum = 0;
  for (float n : seg.norms) sum += n;
  inspection_.add("mean slot norm", fmt("%.4g", seg.norms.empty() ? 0.0 : sum / static_cast<double>(seg.norms.size())));
  inspection_.add("colour range", "±" + fmt("%.4g", memory_->abs_max));
}

void MemoryView::hover(const Segment& seg, const Plot* hovered, bool clicked) {
  if (!hovered) return;
  const ImVec2 m = ImGui::GetIO().MousePos;
  auto cell = [&](const Plot& p, int64_t cols, int64_t rows) {
    return std::make_pair(
        std::clamp<int64_t>(static_cast<int64_t>((m.x - p.origin.x) / p.size.x * static_cast<float>(cols)), 0,
                            cols - 1),
        std::clamp<int64_t>(static_cast<int64_t>((m.y - p.origin.y) / p.size.y * static_cast<float>(rows)), 0,
                            rows - 1));
  };
  if (hovered == &heat_plot_ || hovered == &norm_plot_) {
    const bool in_heat = hovered == &heat_plot_;
    const auto [dim, slot] = in_heat ? cell(heat_plot_, seg.cols, seg.rows) : cell(norm_plot_, 1, seg.rows);
    const float norm =
        slot < static_cast<int64_t>(seg.norms.size()) ? seg.norms[static_cast<size_t>(slot)] : std::nanf("");
    inspection_.clear();
    inspection_.title = in_heat ? "Memory cell" : "Memory slot";
    inspection_.add("segment", std::to_string(seg.segment));
    inspection_.add("step", std::to_string(seg.step));
    inspection_.add("slot", std::to_string(slot));
    if (in_heat) {
      inspection_.add("dimension", std::to_string(dim));
      inspection_.add("value", fmt("%.5g", seg.values[static_cast<size_t>(slot * seg.cols + dim)]));
    }
    inspection_.add("norm", fmt("%.5g", norm));
    ImGui::BeginTooltip();
    ImGui::Text("segment %lld · slot %lld", static_cast<long long>(seg.segment), static_cast<long long>(slot));
    if (in_heat)
      ImGui::Text("dim %lld = %.5g", static_cast<long long>(dim),
                  seg.values[static_cast<size_t>(slot * seg.cols + dim)]);
    ImGui::Text("slot norm %.5g", norm);
    ImGui::EndTooltip();
    return;
  }
  if (hovered == &lin_plot_ && lin_.texture) {
    const auto [position, slot] = cell(lin_plot_, seg.lineage_positions, seg.rows);
    const float share = seg.lineage[static_cast<size_t>(slot * seg.lineage_positions + position)];
    const float learned = seg.learned[static_cast<size_t>(slot)];
    const auto& texts = memory_->token_text;
    const std::string token = position < static_cast<int64_t>(texts.size()) ? texts[static_cast<size_t>(position)] : "";
    inspection_.clear();
    inspection_.title = "Memory lineage";
    inspection_.add("segment", std::to_string(seg.segment));
    inspection_.add("slot", std::to_string(slot));
    inspection_.add("token position", std::to_string(position));
    inspection_.add("token", "\"" + token + "\"");
    inspection_.add("share of the slot", fmt("%.4g", share));
    inspection_.add("learned memory's share", fmt("%.4g", learned));
    ImGui::BeginTooltip();
    ImGui::Text("slot %lld of segment %lld's memory", static_cast<long long>(slot), static_cast<long long>(seg.segment));
    ImGui::Text("token %lld \"%s\": %.4g of it", static_cast<long long>(position), token.c_str(), share);
    ImGui::TextDisabled("learned memory: %.4g", learned);
    ImGui::TextDisabled("click: pin token %lld in the tokens view", static_cast<long long>(position));
    ImGui::EndTooltip();
    if (clicked) vs_.pin_token = position, vs_.requested_view = "tokens";
    return;
  }
  if (hovered == &sim_plot_ && sim_.texture && (mode_ == Similarity::Reads || mode_ == Similarity::Writes)) {
    const auto [segment, slot] = cell(sim_plot_, sim_.w, sim_.h);
    const std::vector<float> m = reads_matrix();
    const float v = m[static_cast<size_t>(slot * sim_.w + segment)];
    const bool reads = mode_ == Similarity::Reads;
    inspection_.clear();
    inspection_.title = reads ? "Memory reads" : "Memory writes";
    inspection_.add("segment", std::to_string(segment));
    inspection_.add("slot", std::to_string(slot));
    inspection_.add("head", reads_head_ < 0 ? "mean" : std::to_string(reads_head_));
    inspection_.add(reads ? "mean read probability" : "probability on the tokens",
                    std::isfinite(v) ? fmt("%.4g", v) : "n/a (the segment wrote nothing)");
    ImGui::BeginTooltip();
    ImGui::Text("segment %lld · slot %lld: %s", static_cast<long long>(segment), static_cast<long long>(slot),
                std::isfinite(v) ? fmt("%.4g", v).c_str() : "n/a");
    ImGui::TextDisabled("click: show the memory %s", reads ? "read" : "written");
    ImGui::EndTooltip();
    if (clicked) segment_ = reads ? segment : segment + 1;
    return;
  }
  if (hovered == &sim_plot_ && sim_.texture) {
    const auto [b, a] = cell(sim_plot_, sim_.w, sim_.w);
    const bool slots = mode_ == Similarity::Slots;
    const std::vector<float>& mat = slots ? seg.slot_similarity : memory_->segment_similarity;
    const float v = mat[static_cast<size_t>(a * sim_.w + b)];
    auto name = [&](int64_t i) { return slots ? i : memory_->segments[static_cast<size_t>(i)].segment; };
    inspection_.clear();
    inspection_.title = slots ? "Slot similarity" : "Segment similarity";
    if (slots) inspection_.add("segment", std::to_string(seg.segment));
    inspection_.add(slots ? "slot a" : "segment a", std::to_string(name(a)));
    inspection_.add(slots ? "slot b" : "segment b", std::to_string(name(b)));
    inspection_.add("cosine", std::isfinite(v) ? fmt("%.4f", v) : "n/a (different shapes)");
    ImGui::BeginTooltip();
    ImGui::Text("%s %lld vs %lld: cosine %s", slots ? "slots" : "segments", static_cast<long long>(name(a)),
                static_cast<long long>(name(b)), std::isfinite(v) ? fmt("%.4f", v).c_str() : "n/a");
    if (!slots) ImGui::TextDisabled("click: show segment %lld", static_cast<long long>(name(a)));
    ImGui::EndTooltip();
    if (!slots && clicked) segment_ = name(a);
  }
}

void MemoryView::draw() {
  inspection_.clear();
  notice_.clear();
  if (!vs_.has_run()) {
    const NoRunNotice n = no_run_notice(vs_);
    notice(n.message, n.detail.c_str());
    return;
  }
  // Recurrent runs record their states as statistics (_state_stat), not snapshots: those draw as
  // lines over the steps.
  request_states();
  if (states_pending_ && states_pending_->ready()) {
    if (auto* v = states_pending_->mutable_value()) states_ = std::move(*v);
    states_pending_.reset();
  }
  const profiler::RunSummary* summary = vs_.doc->run_summary(vs_.run);
  if (states_ && states_->run == vs_.run && !states_->steps.empty() && summary && summary->counts.memory_snapshots == 0) {
    draw_states();
    return;
  }
  if (states_ && states_->run == vs_.run && states_->layer == vs_.layer && !states_->layers_with_state.empty() && summary &&
      summary->counts.memory_snapshots == 0) {
    // A hybrid's softmax layer: other layers of the run have state, this one keeps a KV cache.
    std::string with;
    for (int32_t l : states_->layers_with_state) with += (with.empty() ? "" : ", ") + std::to_string(l);
    draw_layer_picker();
    notice("Layer " + std::to_string(vs_.layer) + " keeps no recurrent state (layers with state: " + with + ")",
           "Its mixer attends over a KV cache: see the KV cache view. Pick a layer with state above.");
    return;
  }
  if (explain_missing_memory()) return;
  request();
  if (pending_ && pending_->ready()) {
    if (auto* v = pending_->mutable_value()) memory_ = std::move(*v), error_.clear();
    else error_ = pending_->error();
    pending_.reset();
    heat_.key = sim_.key = 0;
  }
  // Until the user picks, one segment means the slot matrix (a 1 × 1 segment matrix says nothing).
  if (memory_ && !mode_chosen_) mode_ = memory_->segments.size() > 1 ? Similarity::Segments : Similarity::Slots;
  if (memory_ && memory_->heads == 0 && (mode_ == Similarity::Reads || mode_ == Similarity::Writes))
    mode_ = Similarity::Segments;  // a layer without reads and writes to show
  draw_toolbar();
  ImGui::PushStyleColor(ImGuiCol_Text, IM_COL32(230, 190, 110, 255));
  if (memory_ && memory_->has_lineage)
    ImGui::TextWrapped(
        "Shown: the memory's contents at each segment boundary, and its lineage over the input tokens (an attribution "
        "through the recorded reads and writes, not a decomposition), and each head's reads and writes over the "
        "segments (the panel's menu).");
  else if (memory_ && !memory_->lineage_note.empty())
    ImGui::TextWrapped("Shown: the memory's contents at each segment boundary. %s", memory_->lineage_note.c_str());
  else
    ImGui::TextWrapped(
        "Shown: the memory's contents at each segment boundary. Not shown: which attention heads read from or write to "
        "memory, because this run's session does not hold them.");
  ImGui::PopStyleColor();
  if (!memory_ || memory_->layer != vs_.layer) {
    if (!error_.empty()) notice("Cannot read this layer's memory", error_.c_str());
    else notice("Loading memory snapshots…");
    return;
  }
  if (memory_->segments.empty()) {
    notice("No memory snapshots for layer " + std::to_string(vs_.layer),
           "Other layers of this run have some: pick another layer.");
    return;
  }
  const Segment& seg = memory_->segments[shown_index()];
  update_textures(seg);

  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const ImVec2 cursor = ImGui::GetCursorScreenPos();
  const float line = ImGui::GetTextLineHeight();
  const float top_h = std::max(80.f, avail.y * 0.48f);
  heat_plot_ = {ImVec2(cursor.x + kSlotLabels, cursor.y + line + 10),
                ImVec2(std::max(60.f, avail.x - kSlotLabels - kNormsWidth - 24),
                       std::max(24.f, top_h - line - 10 - kBottomAxis - line))};
  norm_plot_ = {ImVec2(heat_plot_.origin.x + heat_plot_.size.x + 16, heat_plot_.origin.y),
                ImVec2(kNormsWidth - 8, heat_plot_.size.y)};
  const float sim_top = cursor.y + top_h + line + 14;
  const float side = std::max(40.f, std::min(cursor.y + avail.y - sim_top - line - 8, avail.x * 0.5f));
  sim_plot_ = {ImVec2(cursor.x + kSlotLabels, sim_top), ImVec2(side, side)};
  lin_plot_ = {};
  if (seg.lineage_positions > 0) {
    const float x = sim_plot_.origin.x + side + kLineageGap;
    lin_plot_ = {ImVec2(x, sim_top), ImVec2(std::max(60.f, cursor.x + avail.x - x - 12),
                                            std::max(24.f, side - 3 * line - 16))};
  }

  ImDrawList* dl = ImGui::GetWindowDrawList();
  draw_heatmap(dl, seg);
  draw_norms(dl, seg);
  if (mode_ == Similarity::Reads || mode_ == Similarity::Writes) draw_reads(dl, seg);
  else draw_similarity(dl, seg);
  if (lin_plot_.size.x > 0) draw_lineage(dl, seg);
  // One item per plot (STYLE.md §8): hit-testing within each is ours.
  const Plot* hovered = nullptr;
  bool clicked = false;
  for (const auto& [plot, id] : {std::pair{&heat_plot_, "##heatmap"}, std::pair{&norm_plot_, "##norms"},
                                 std::pair{&sim_plot_, "##similarity"}, std::pair{&lin_plot_, "##lineage"}}) {
    if (plot->size.x <= 0) continue;
    ImGui::SetCursorScreenPos(plot->origin);
    ImGui::InvisibleButton(id, ImVec2(std::max(1.f, plot->size.x), std::max(1.f, plot->size.y)));
    if (ImGui::IsItemHovered()) hovered = plot, clicked = ImGui::IsItemClicked();
  }
  hover(seg, hovered, clicked);
  if (inspection_.empty()) inspect_default(seg);
}

}  // namespace mnemo::viz
