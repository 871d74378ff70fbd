// Inputs of the recurrent-family kernel tests (linear attention, DeltaNet, Mamba): one seeded
// problem per family, views of a token range of it, and the error measure.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernel_test_util.h"
#include "mnemo/kernels/linear_attention.h"

namespace mnemo::kernels::testing {

enum class Family { Linear, Retention, Gla, DeltaNet, GatedDeltaNet };
inline const char* family_name(Family f) {
  static const char* const names[] = {"linear", "retention", "gla", "deltanet", "gated_deltanet"};
  return names[static_cast<int>(f)];
}
inline bool is_delta(Family f) { return f == Family::DeltaNet || f == Family::GatedDeltaNet; }

// Seeded values: normal(0, scale) (kernel_test_util.h's random_floats), uniform(lo, hi).
inline std::vector<float> normal(size_t n, uint32_t seed, float scale = 1.f) { return random_floats(n, seed, scale); }
inline std::vector<float> uniform(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// One linear-attention problem: inputs of every gate kind the family uses, and an initial state.
struct LinearProblem {
  Family family;
  int64_t T, H, dk, dv;
  std::vector<float> q, k, v, head_log_decay, head_log_gate, key_log_gate, beta, state;

  LinearProblem(Family f, int64_t T_, int64_t H_, int64_t dk_, int64_t dv_, uint32_t seed = 7)
      : family(f), T(T_), H(H_), dk(dk_), dv(dv_) {
    q = normal(T * H * dk, seed + 1);
    k = normal(T * H * dk, seed + 2);
    v = normal(T * H * dv, seed + 3);
    state = normal(H * dk * dv, seed + 4, 0.5f);
    if (f == Family::Linear) {  // positive features, as elu + 1 gives
      elu_plus_one(q.data(), static_cast<int64_t>(q.size()));
      elu_plus_one(k.data(), static_cast<int64_t>(k.size()));
    }
    if (is_delta(f)) {  // DeltaNet's keys are L2-normalised, β in (0, 1)
      for (int64_t r = 0; r < T * H; ++r) {
        float n2 = 0.f;
        for (int64_t d = 0; d < dk; ++d) n2 += k[r * dk + d] * k[r * dk + d];
        for (int64_t d = 0; d < dk; ++d) k[r * dk + d] /= std::sqrt(n2);
      }
      beta = uniform(T * H, seed + 5, 0.05f, 0.95f);
    }
    if (f == Family::Retention)
      for (int64_t h = 0; h < H; ++h) head_log_decay.push_back(std::log(1.f - std::exp2(-5.f - h)));
    if (f == Family::Gla) key_log_gate = uniform(T * H * dk, seed + 6, -0.3f, 0.f);
    if (f == Family::GatedDeltaNet) head_log_gate = uniform(T * H, seed + 6, -0.3f, 0.f);
  }

  // Arguments for tokens [t0, t1) reading `state` and writing `out` ([T][H][dv] of the whole run).
  LinearAttentionArgs args(int64_t t0, int64_t t1, float* st, float* out) const {
    LinearAttentionArgs a;
    a.q = q.data() + t0 * H * dk, a.k = k.data() + t0 * H * dk, a.v = v.data() + t0 * H * dv;
    a.T = t1 - t0, a.n_heads = H, a.dk = dk, a.dv = dv;
    a.scale = 1.f / std::sqrt(static_cast<float>(dk));
    if (!head_log_decay.empty()) a.head_log_decay = head_log_decay.data();
    if (!head_log_gate.empty()) a.head_log_gate = head_log_gate.data() + t0 * H;
    if (!key_log_gate.empty()) a.key_log_gate = key_log_gate.data() + t0 * H * dk;
    if (!beta.empty()) a.beta = beta.data() + t0 * H;
    a.state = st, a.out = out + t0 * H * dv;
    return a;
  }
};

// The family's recurrent or chunked form.
inline void run_recurrent(ThreadPool& pool, Family f, const LinearAttentionArgs& a) {
  is_delta(f) ? delta_rule_recurrent(pool, a) : decay_attention_recurrent(pool, a);
}
inline void run_chunked(ThreadPool& pool, Family f, const LinearAttentionArgs& a, int64_t chunk) {
  is_delta(f) ? delta_rule_chunked(pool, a, chunk) : decay_attention_chunked(pool, a, chunk);
}

// max |a − b| / max |b|: one number per output, robust to values near zero.
inline double rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0, scale = 1e-30;
  for (float x : b) scale = std::max(scale, static_cast<double>(std::fabs(x)));
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]) / scale);
  return a.size() == b.size() ? worst : INFINITY;
}

}  // namespace mnemo::kernels::testing
