// Synthetic recordings for the session tests: random attention factors in the engine's layout,
// and the exact probabilities they imply, computed in double from the fp16-rounded factors.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "mnemo/core/fp16.h"
#include "mnemo/profiler/session/recorder.h"

namespace mnemo::profiler::test {

inline std::string temp_path(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("mnemo-session-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string p = (dir / name).string();
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(p + suffix);
  return p;
}

inline std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

inline void write_bytes(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

inline float round_fp16(float x) { return mnemo::fp16_to_f32(mnemo::f32_to_fp16(x)); }

// A model's attention: every position's q (per head) and k (per KV head), fp16-exact floats.
struct SyntheticAttention {
  int layers = 2, heads = 4, kv_heads = 2, d = 32;
  int64_t positions = 0;
  float scale = 0;
  std::vector<std::vector<float>> q, k;  // [layer*heads + h][pos*d + t], [layer*kv_heads + g][pos*d + t]

  SyntheticAttention(int64_t n_positions, uint32_t seed) : positions(n_positions) {
    scale = 1.f / std::sqrt(static_cast<float>(d));
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.f, 1.f);
    q.assign(static_cast<size_t>(layers * heads), std::vector<float>(static_cast<size_t>(positions * d)));
    k.assign(static_cast<size_t>(layers * kv_heads), std::vector<float>(static_cast<size_t>(positions * d)));
    // A sink at position 0 and some local structure, so maps are not uniform noise.
    for (auto& v : k)
      for (int64_t p = 0; p < positions; ++p)
        for (int t = 0; t < d; ++t) v[p * d + t] = round_fp16(g(rng) + (p == 0 ? 2.f : 0.f));
    for (auto& v : q)
      for (auto& x : v) x = round_fp16(1.5f * g(rng));
  }

  AttentionCapture capture(int64_t step, int layer, int64_t q_pos0, int64_t n_q) const {
    AttentionCapture c;
    c.step = step, c.layer = layer, c.q_pos0 = q_pos0, c.n_q = n_q, c.n_k = q_pos0 + n_q;
    c.n_heads = heads, c.n_kv_heads = kv_heads, c.head_dim = d, c.scale = scale;
    for (int h = 0; h < heads; ++h)
      for (int64_t i = 0; i < n_q; ++i)
        for (int t = 0; t < d; ++t) c.q.push_back(mnemo::f32_to_fp16(q[layer * heads + h][(q_pos0 + i) * d + t]));
    // Each row's log-sum-exp in double from the fp16 factors, as the engine would give it.
    for (int h = 0; h < heads; ++h)
      for (int64_t i = 0; i < n_q; ++i) c.lse.push_back(static_cast<float>(lse(layer, h, q_pos0 + i)));
    c.k_pos0 = q_pos0;
    for (int g = 0; g < kv_heads; ++g)
      for (int64_t p = q_pos0; p < c.n_k; ++p)
        for (int t = 0; t < d; ++t) c.k.push_back(mnemo::f32_to_fp16(k[layer * kv_heads + g][p * d + t]));
    return c;
  }

  // Causal scores of query position i over keys 0..i, in double.
  std::vector<double> scores(int layer, int head, int64_t i) const {
    const auto& qv = q[layer * heads + head];
    const auto& kv = k[layer * kv_heads + head / (heads / kv_heads)];
    std::vector<double> s(static_cast<size_t>(i + 1));
    for (int64_t j = 0; j <= i; ++j) {
      double dot = 0;
      for (int t = 0; t < d; ++t) dot += static_cast<double>(qv[i * d + t]) * kv[j * d + t];
      s[j] = dot * scale;
    }
    return s;
  }

  static double log_sum_exp(const std::vector<double>& s) {
    const double m = *std::max_element(s.begin(), s.end());
    double sum = 0;
    for (double x : s) sum += std::exp(x - m);
    return m + std::log(sum);
  }

  double lse(int layer, int head, int64_t i) const { return log_sum_exp(scores(layer, head, i)); }

  // Causal softmax row of query position i over keys 0..i, in double.
  std::vector<double> row(int layer, int head, int64_t i) const {
    std::vector<double> s = scores(layer, head, i);
    const double l = log_sum_exp(s);
    for (double& x : s) x = std::exp(x - l);
    return s;
  }
};

// The run of a synthetic llama-like model with `a`'s dimensions.
inline RunInfo synthetic_llama_run(const SyntheticAttention& a) {
  RunInfo r;
  r.model_path = "m", r.model_format = "gguf", r.architecture = "llama", r.plugin_id = "t", r.plugin_version = "0";
  r.n_layers = a.layers, r.n_heads = a.heads, r.n_kv_heads = a.kv_heads, r.head_dim = a.d, r.wall_start_utc = "x";
  return r;
}

// A complete session of one run: the prefill of `positions` tokens, every head's factors.
inline std::string make_session(const std::string& name, int64_t positions = 80) {
  const std::string path = temp_path(name);
  const SyntheticAttention a(positions, 1);
  Recorder rec(path, synthetic_llama_run(a), {});
  for (int layer = 0; layer < a.layers; ++layer) rec.submit(a.capture(0, layer, 0, positions));
  rec.submit(StepRecord{0, "prefill", 0, positions, 1, 2});
  rec.end_step(0);
  rec.finish();
  return path;
}

}  // namespace mnemo::profiler::test
