#include "mnemo/viz/canvas.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace mnemo::viz {

int64_t ViewState::shown_step() const {
  if (step >= 0) return step;
  const RunData* d = run_data();
  return d ? d->last_step() : -1;
}

void draw_notice(const char* message, const char* detail) {
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const ImVec2 size = ImGui::CalcTextSize(message);
  const ImVec2 at = ImGui::GetCursorPos();
  ImGui::SetCursorPos(ImVec2(at.x + std::max(0.f, (avail.x - size.x) * 0.5f), at.y + std::max(0.f, avail.y * 0.4f)));
  ImGui::TextUnformatted(message);
  if (detail) {
    const ImVec2 d = ImGui::CalcTextSize(detail);
    ImGui::SetCursorPosX(at.x + std::max(0.f, (avail.x - d.x) * 0.5f));
    ImGui::TextDisabled("%s", detail);
  }
}

NoRunNotice no_run_notice(const ViewState& vs) {
  if (vs.doc)
    if (auto why = vs.doc->error()) return {"Cannot show this session", *why};
  return {"No session open", "Open a .mnemo file (File › Open) or record one (Record panel)."};
}

bool draw_selection_bar(ViewState& vs, bool with_layer_head, bool with_step) {
  bool changed = false;
  if (!vs.has_run()) return false;
  const auto& runs = vs.doc->runs();
  ImGui::SetNextItemWidth(220);
  const profiler::RunSummary* current = vs.doc->run_summary(vs.run);
  char label[160];
  std::snprintf(label, sizeof label, "run %lld: %s", static_cast<long long>(vs.run),
                current ? (current->info.label.empty() ? current->info.architecture.c_str() : current->info.label.c_str()) : "?");
  if (ImGui::BeginCombo("##run", label)) {
    for (const auto& r : runs) {
      char item[160];
      std::snprintf(item, sizeof item, "run %lld: %s (%s)", static_cast<long long>(r.id),
                    r.info.label.empty() ? r.info.architecture.c_str() : r.info.label.c_str(), r.status.c_str());
      if (ImGui::Selectable(item, r.id == vs.run)) {
        vs.run = r.id;
        vs.step = -1;
        changed = true;
      }
    }
    ImGui::EndCombo();
  }
  const RunData* d = vs.run_data();
  if (with_layer_head && current) {
    ImGui::SameLine();
    ImGui::SetNextItemWidth(110);
    int layer = vs.layer;
    if (ImGui::InputInt("layer", &layer)) {
      vs.layer = std::clamp<int>(layer, 0, std::max<int>(0, static_cast<int>(current->info.n_layers) - 1));
      changed = true;
    }
    ImGui::SameLine();
    ImGui::SetNextItemWidth(110);
    int head = vs.head;
    if (ImGui::InputInt("head", &head)) {
      const int heads = d ? d->heads : static_cast<int>(current->info.n_heads);
      vs.head = std::clamp<int>(head, 0, std::max<int>(0, heads - 1));
      changed = true;
    }
  }
  if (with_step && d && d->last_step() >= 0) {
    ImGui::SameLine();
    int step = static_cast<int>(vs.shown_step());
    ImGui::SetNextItemWidth(std::max(120.f, ImGui::GetContentRegionAvail().x - 90));
    if (ImGui::SliderInt("##step", &step, 0, static_cast<int>(d->last_step()), "step %d")) {
      vs.step = step;
      changed = true;
    }
    ImGui::SameLine();
    bool follow = vs.step < 0;
    if (ImGui::Checkbox("latest", &follow)) {
      vs.step = follow ? -1 : vs.shown_step();
      changed = true;
    }
  }
  return changed;
}

void rotate_vertices(ImDrawList* dl, int first_vertex, float radians, ImVec2 center) {
  const float c = std::cos(radians), s = std::sin(radians);
  for (int i = first_vertex; i < dl->VtxBuffer.Size; ++i) {
    ImVec2& p = dl->VtxBuffer[i].pos;
    const float x = p.x - center.x, y = p.y - center.y;
    p = ImVec2(center.x + x * c - y * s, center.y + x * s + y * c);
  }
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000 && u < 4) bytes /= 1000, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

std::string format_duration_ns(double ns) {
  char buf[32];
  if (ns < 1e3) std::snprintf(buf, sizeof buf, "%.0f ns", ns);
  else if (ns < 1e6) std::snprintf(buf, sizeof buf, "%.1f µs", ns / 1e3);
  else if (ns < 1e9) std::snprintf(buf, sizeof buf, "%.2f ms", ns / 1e6);
  else std::snprintf(buf, sizeof buf, "%.2f s", ns / 1e9);
  return buf;
}

}  // namespace mnemo::viz
