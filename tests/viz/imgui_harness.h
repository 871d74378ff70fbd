// Drives Dear ImGui without a window or GL (PLATFORM.md: build the font atlas, NewFrame/Render,
// inspect ImDrawData): canvases draw for real, their textures land in a MemoryTextureStore.
#pragma once

#include <imgui.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "mnemo/profiler/session/recorder.h"
#include "mnemo/viz/canvas.h"
#include "mnemo/viz/demo_session.h"
#include "mnemo/viz/memory_texture_store.h"

namespace mnemo::viz::test {

class ImGuiHarness {
 public:
  explicit ImGuiHarness(ImVec2 size = ImVec2(1200, 800)) : size_(size) {
    ctx_ = ImGui::CreateContext();
    ImGui::SetCurrentContext(ctx_);
    ImGuiIO& io = ImGui::GetIO();
    io.IniFilename = nullptr;
    io.DisplaySize = size;
    unsigned char* pixels = nullptr;
    int w = 0, h = 0;
    io.Fonts->GetTexDataAsRGBA32(&pixels, &w, &h);
    io.Fonts->SetTexID(reinterpret_cast<ImTextureID>(uintptr_t{0xF0F0}));
    io.MousePos = ImVec2(-FLT_MAX, -FLT_MAX);
  }
  ~ImGuiHarness() { ImGui::DestroyContext(ctx_); }

  ImGuiIO& io() { return ImGui::GetIO(); }
  void set_size(ImVec2 size) { size_ = size; }  // the window the next frames draw into

  // One frame: `draw` inside a full-size window, as the app's CanvasWindow does.
  ImDrawData* frame(const std::function<void()>& draw) {
    ImGui::SetCurrentContext(ctx_);
    ImGuiIO& io = ImGui::GetIO();
    io.DeltaTime = 1.f / 60.f;
    ImGui::NewFrame();
    ImGui::SetNextWindowPos(ImVec2(0, 0));
    ImGui::SetNextWindowSize(size_);
    ImGui::Begin("canvas", nullptr, ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoSavedSettings);
    draw();
    ImGui::End();
    ImGui::Render();
    io.MouseWheel = 0.f;
    return ImGui::GetDrawData();
  }

  // Frames until `done` (or a timeout), giving the worker thread time between them.
  bool frames_until(const std::function<void()>& draw, const std::function<bool()>& done, int max_ms = 20000) {
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(max_ms)) {
      frame(draw);
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  }

  // The draw commands that sample `texture`.
  static int commands_with(ImDrawData* dd, ImTextureID texture) {
    int n = 0;
    for (int l = 0; l < dd->CmdListsCount; ++l)
      for (const ImDrawCmd& c : dd->CmdLists[l]->CmdBuffer)
        if (c.TextureId == texture && c.ElemCount > 0) ++n;
    return n;
  }
  // Every texture the frame samples other than the font atlas.
  static std::vector<ImTextureID> textures(ImDrawData* dd) {
    std::vector<ImTextureID> out;
    for (int l = 0; l < dd->CmdListsCount; ++l)
      for (const ImDrawCmd& c : dd->CmdLists[l]->CmdBuffer)
        if (c.ElemCount > 0 && c.TextureId != reinterpret_cast<ImTextureID>(uintptr_t{0xF0F0})) out.push_back(c.TextureId);
    return out;
  }

 private:
  ImGuiContext* ctx_;
  ImVec2 size_;
};

// The value of an Inspector field, or "" when the canvas did not set it.
inline std::string field(const Inspection& in, const std::string& name) {
  for (const auto& [k, v] : in.fields)
    if (k == name) return v;
  return {};
}

// The run a synthetic session describes: a model at "(none)" of `architecture`, its shapes, and
// the captures it claims.
struct SyntheticShape {
  int64_t layers = 0, heads = 0, kv_heads = 0, head_dim = 0, d_model = 0;
};
inline profiler::RunInfo synthetic_run(const std::string& label, const std::string& architecture, const std::string& format,
                                       SyntheticShape shape, const std::string& captures) {
  profiler::RunInfo info;
  info.label = label, info.architecture = architecture, info.model_path = "(none)", info.model_format = format;
  info.n_layers = shape.layers, info.n_heads = shape.heads, info.n_kv_heads = shape.kv_heads, info.head_dim = shape.head_dim;
  info.d_model = shape.d_model;
  info.captures = captures;
  return info;
}

// Ends step `step` of a synthetic recording: its tokens (positions pos0 .. pos0+n−1, text "x"), the
// step row (prefill first, then decode) and its commit.
inline void end_synthetic_step(profiler::Recorder& rec, int64_t step, int64_t pos0, int64_t n) {
  for (int64_t i = 0; i < n; ++i) rec.submit(profiler::TokenRecord{pos0 + i, 1, "x", step});
  profiler::StepRecord s;
  s.step = step, s.kind = step ? "decode" : "prefill", s.pos0 = pos0, s.n_tokens = n;
  s.start_ns = step * 1000, s.end_ns = step * 1000 + 900;
  rec.submit(s);
  rec.end_step(step);
}

// A path for a session a test writes, in a folder of its suite named by the process id. A later
// test process may get that id again: what an earlier one left there (a session of another
// schema, written by another build) is removed, never appended to.
inline std::string fresh_session_path(const std::string& suite, const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("mnemo-viz-" + suite + "-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string p = (dir / name).string();
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(p + suffix);
  return p;
}

// A recurrent run recorded as the recorder stores any recurrent mixer (its probe's factors as they
// are, seeded uniform values): layer 0 has mixer `mixer` ("gla": q, k and a per-dimension log
// decay g; "mamba2": dt and A per head, B and C shared), and with `softmax_layer` a layer 1 of
// softmax attention (q, k and the exact log-sum-exp), as in a hybrid; layer 0's state statistics
// (norm 1 + step + head, rank 1 + head / 2) after every step. A prefill of
// RecurrentSession::kPrefill tokens, then decode steps, RecurrentSession::kSteps in all.
struct RecurrentSession {
  static constexpr int32_t kHeads = 2, kDim = 4;
  static constexpr int64_t kPrefill = 12, kSteps = 3;
  static constexpr int64_t kRows = kPrefill + kSteps - 1;  // query positions at the last step
};
inline void write_recurrent_session(const std::string& path, const std::string& mixer = "gla", bool softmax_layer = false) {
  constexpr int32_t H = RecurrentSession::kHeads, D = RecurrentSession::kDim;
  for (const char* s : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(path + s);
  profiler::RunInfo info = synthetic_run(mixer + (softmax_layer ? " + softmax" : ""), mixer, "safetensors",
                                         {softmax_layer ? 2 : 1, H, H, D, H * D}, "attention,memory");
  // mamba2: key_dim and state_cols are d_state (N = D), one group of B and C.
  info.layers.push_back({0, mixer, "recurrent_state", H, H, D, D, D, D, "none", 0, 0.5});
  if (softmax_layer) info.layers.push_back({1, "softmax", "kv_cache", H, H, D, D, 0, 0, "causal", 0, 0.5});
  profiler::Recorder rec(path, info);
  uint32_t seed = 7;
  auto uniform = [&] { return static_cast<float>((seed = seed * 1664525u + 1013904223u) >> 8) / 16777216.f; };
  auto values = [&](size_t n, float lo, float hi) {
    std::vector<float> v(n);
    for (float& x : v) x = lo + (hi - lo) * uniform();
    return v;
  };
  std::vector<float> softmax_k;  // [position][head][D], every key so far
  for (int64_t step = 0; step < RecurrentSession::kSteps; ++step) {
    const int64_t pos0 = step ? RecurrentSession::kPrefill + step - 1 : 0, n = step ? 1 : RecurrentSession::kPrefill;
    const auto per_token = [&](const char* name, int32_t heads, int32_t width, float lo, float hi) {
      rec.submit(profiler::MixerFactorRecord{0, step, name, heads, n, width, pos0, {}, pos0 + n,
                                             values(static_cast<size_t>(heads * n * width), lo, hi)});
    };
    if (mixer == "mamba2") {
      per_token("dt", H, 1, 0.05f, 0.5f);
      rec.submit(profiler::MixerFactorRecord{0, step, "A", H, 1, 1, 0, {}, 0, std::vector<float>{-0.5f, -1.5f}});
      per_token("B", 1, D, -1.f, 1.f);
      per_token("C", 1, D, -1.f, 1.f);
    } else {
      per_token("q", H, D, -0.5f, 0.5f);
      per_token("k", H, D, -0.5f, 0.5f);
      per_token("g", H, D, -0.3f, 0.f);
    }
    if (softmax_layer) {
      const std::vector<float> q = values(static_cast<size_t>(H * n * D), -1.f, 1.f);
      const std::vector<float> k = values(static_cast<size_t>(H * n * D), -1.f, 1.f);  // [head][n][D]
      for (int64_t r = 0; r < n; ++r)
        for (int32_t h = 0; h < H; ++h)
          for (int32_t d = 0; d < D; ++d) softmax_k.push_back(k[static_cast<size_t>((h * n + r) * D + d)]);
      std::vector<float> lse(static_cast<size_t>(H * n));
      for (int32_t h = 0; h < H; ++h)
        for (int64_t r = 0; r < n; ++r) {
          double sum = 0;
          for (int64_t j = 0; j <= pos0 + r; ++j) {
            float dot = 0.f;  // in float, as the reader recomputes it
            for (int32_t d = 0; d < D; ++d)
              dot += q[static_cast<size_t>((h * n + r) * D + d)] * softmax_k[static_cast<size_t>((j * H + h) * D + d)];
            sum += std::exp(static_cast<double>(dot * 0.5f));
          }
          lse[static_cast<size_t>(h * n + r)] = static_cast<float>(std::log(sum));
        }
      rec.submit(profiler::MixerFactorRecord{1, step, "q", H, n, D, pos0, {}, pos0 + n, q});
      rec.submit(profiler::MixerFactorRecord{1, step, "k", H, n, D, pos0, {}, 0, k});
      rec.submit(profiler::MixerFactorRecord{1, step, "lse", H, n, 1, pos0, {}, pos0 + n, lse});
    }
    for (int32_t h = 0; h < H; ++h)  // the recurrent layer's state after the step
      rec.submit(profiler::StateStatRecord{0, h, step, 1.0 + static_cast<double>(step + h), 1.0 + 0.5 * h});
    end_synthetic_step(rec, step, pos0, n);
  }
  rec.finish();
}

// A demo session written once per test binary into a temporary folder. The folder is named by
// the process id, which a later test process may get again: what an earlier one left there (a
// session of another schema, written by another build) is removed first, never appended to.
inline const std::string& demo_session_path() {
  static const std::string path = [] {
    const auto dir = std::filesystem::temp_directory_path() / ("mnemo-viz-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::string p = (dir / "demo.mnemo").string();
    write_demo_session(p);
    return p;
  }();
  return path;
}

// A whole session and its primary side, ready for a canvas.
struct Fixture {
  MemoryTextureStore textures;
  SessionDoc doc;
  ViewState vs;
  explicit Fixture(const std::string& path = demo_session_path()) : doc(path, textures) {
    for (int i = 0; i < 5000 && doc.loading(); ++i) {
      doc.poll();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    vs.doc = &doc;
    if (!doc.runs().empty()) vs.run = doc.runs().front().id;
  }
  // Polls the session after each frame (as the app's host does).
  std::function<void()> host(Canvas& c) {
    return [this, &c] {
      doc.poll();
      doc.tiles().begin_frame();
      c.draw();
      doc.tiles().end_frame();
    };
  }
  bool settled() { return doc.settled(); }
};

}  // namespace mnemo::viz::test
