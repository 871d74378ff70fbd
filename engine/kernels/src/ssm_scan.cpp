// Mamba-1's two token mixers: the causal depthwise convolution and the selective scan. Channels
// are independent in both, so blocks of channels run in parallel, each walking time in order.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "mnemo/core/simd_math.h"
#include "mnemo/kernels/ssm.h"
#include "ssm_common.h"

namespace mnemo::kernels {
namespace {
constexpr int64_t kChannelGrain = 32;
}

void causal_conv1d(ThreadPool& pool, const CausalConvArgs& a) {
  detail::require(a.T >= 0 && a.D > 0 && a.K > 0, "causal_conv1d", "bad sizes");
  detail::require(a.weight && a.out && (a.T == 0 || a.x) && (a.K == 1 || a.conv_state), "causal_conv1d",
                  "missing buffer");
  const int64_t D = a.D, K = a.K, T = a.T, past = K - 1;
  pool.parallel_for(D, kChannelGrain, [&](int64_t d0, int64_t d1) {
    // Input t' of the stream [state | x]: t' < past reads the state, later ones read x.
    auto input = [&](int64_t tp, int64_t d) { return tp < past ? a.conv_state[tp * D + d] : a.x[(tp - past) * D + d]; };
    for (int64_t t = 0; t < T; ++t)
      for (int64_t d = d0; d < d1; ++d) {
        float s = a.bias ? a.bias[d] : 0.f;
        for (int64_t i = 0; i < K; ++i) s += a.weight[d * K + i] * input(t + i, d);
        a.out[t * D + d] = a.silu ? detail::silu(s) : s;
      }
    // The new state is the last K−1 inputs of [state | x].
    std::vector<float> last(past * (d1 - d0));
    for (int64_t i = 0; i < past; ++i)
      for (int64_t d = d0; d < d1; ++d) last[i * (d1 - d0) + d - d0] = input(T + i, d);
    for (int64_t i = 0; i < past; ++i)
      for (int64_t d = d0; d < d1; ++d) a.conv_state[i * D + d] = last[i * (d1 - d0) + d - d0];
  });
}

namespace {

// Eight channels of one group, walked through time with their states in [n][channel] order, so
// that every operation is one AVX2 instruction across the channels and B_t, C_t are broadcasts.
// The state transpose is local: the caller's layout stays [D][N].
void scan_eight_channels(const SelectiveScanArgs& a, int64_t d, float* hT /* [N][8] */) {
  const int64_t D = a.D, N = a.N, per_group = D / a.G, g = d / per_group;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < 8; ++c) hT[n * 8 + c] = a.state[(d + c) * N + n];
  alignas(32) float At[64 * 8];  // A for these channels, [n][channel]; N ≤ 64 on this path
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < 8; ++c) At[n * 8 + c] = a.A[(d + c) * N + n];
  const __m256 one = _mm256_set1_ps(1.f);
  const __m256 d_skip = a.D_skip ? _mm256_loadu_ps(a.D_skip + d) : _mm256_setzero_ps();
  for (int64_t t = 0; t < a.T; ++t) {
    const __m256 x = _mm256_loadu_ps(a.x + t * D + d);
    __m256 dt;
    if (a.delta_softplus || a.delta_bias) {
      alignas(32) float steps[8];
      for (int64_t c = 0; c < 8; ++c)
        steps[c] = detail::step_size(a.delta[t * D + d + c], a.delta_bias, d + c, a.delta_softplus);
      dt = _mm256_load_ps(steps);
    } else {
      dt = _mm256_loadu_ps(a.delta + t * D + d);
    }
    const __m256 dt_x = _mm256_mul_ps(dt, x);
    const float* B = a.B + (t * a.G + g) * N;
    const float* C = a.C + (t * a.G + g) * N;
    __m256 y = _mm256_mul_ps(d_skip, x);
    for (int64_t n = 0; n < N; ++n) {
      const __m256 decay = simd::exp(_mm256_mul_ps(dt, _mm256_load_ps(At + n * 8)));
      const __m256 h = _mm256_fmadd_ps(decay, _mm256_load_ps(hT + n * 8), _mm256_mul_ps(dt_x, _mm256_set1_ps(B[n])));
      _mm256_store_ps(hT + n * 8, h);
      y = _mm256_fmadd_ps(_mm256_set1_ps(C[n]), h, y);
    }
    if (a.z) {
      const __m256 z = _mm256_loadu_ps(a.z + t * D + d);
      const __m256 gate = _mm256_div_ps(z, _mm256_add_ps(one, simd::exp(_mm256_sub_ps(_mm256_setzero_ps(), z))));
      y = _mm256_mul_ps(y, gate);
    }
    _mm256_storeu_ps(a.out + t * D + d, y);
  }
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < 8; ++c) a.state[(d + c) * N + n] = hT[n * 8 + c];
}

void scan_one_channel(const SelectiveScanArgs& a, int64_t d) {
  const int64_t D = a.D, N = a.N, per_group = D / a.G;
  const float* A = a.A + d * N;
  float* h = a.state + d * N;
  for (int64_t t = 0; t < a.T; ++t) {
    const float x = a.x[t * D + d], dt = detail::step_size(a.delta[t * D + d], a.delta_bias, d, a.delta_softplus);
    const float* B = a.B + (t * a.G + d / per_group) * N;
    const float* C = a.C + (t * a.G + d / per_group) * N;
    float y = 0.f;
    for (int64_t n = 0; n < N; ++n) {
      h[n] = std::exp(dt * A[n]) * h[n] + dt * B[n] * x;
      y += C[n] * h[n];
    }
    if (a.D_skip) y += a.D_skip[d] * x;
    if (a.z) y *= detail::silu(a.z[t * D + d]);
    a.out[t * D + d] = y;
  }
}

}  // namespace

void selective_scan(ThreadPool& pool, const SelectiveScanArgs& a) {
  const char* who = "selective_scan";
  detail::require(a.T >= 0 && a.D > 0 && a.N > 0 && a.G > 0 && a.D % a.G == 0, who, "bad sizes");
  detail::require(a.state && a.out && a.A && (a.T == 0 || (a.x && a.delta && a.B && a.C)), who, "missing buffer");
  const int64_t per_group = a.D / a.G;
  // Channels are independent: each block walks time on its own. Eight channels of one group at a
  // time go through AVX2 (exp included: the scalar scan and its std::exp were 54% of a 16k-token Mamba
  // prefill); the rest, and states wider than 64, one channel at a time.
  const bool vector_ok = a.N <= 64;
  pool.parallel_for(a.D, kChannelGrain, [&](int64_t d0, int64_t d1) {
    alignas(32) float hT[64 * 8];
    int64_t d = d0;
    if (vector_ok)
      for (; d + 8 <= d1 && d / per_group == (d + 7) / per_group; d += 8) scan_eight_channels(a, d, hT);
    for (; d < d1; ++d) scan_one_channel(a, d);
  });
}

}  // namespace mnemo::kernels
