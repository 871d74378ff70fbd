// Mamba-1's two token mixers: the causal depthwise convolution and the selective scan. Channels
// are independent in both, so blocks of channels run in parallel, each walking time in order.
#include <algorithm>
#include <vector>

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

void selective_scan(ThreadPool& pool, const SelectiveScanArgs& a) {
  const char* who = "selective_scan";
  detail::require(a.T >= 0 && a.D > 0 && a.N > 0 && a.G > 0 && a.D % a.G == 0, who, "bad sizes");
  detail::require(a.state && a.out && a.A && (a.T == 0 || (a.x && a.delta && a.B && a.C)), who, "missing buffer");
  const int64_t D = a.D, N = a.N, G = a.G, per_group = D / G;
  pool.parallel_for(D, kChannelGrain, [&](int64_t d0, int64_t d1) {
    for (int64_t t = 0; t < a.T; ++t)
      for (int64_t d = d0; d < d1; ++d) {
        const float x = a.x[t * D + d], dt = detail::step_size(a.delta[t * D + d], a.delta_bias, d, a.delta_softplus);
        const float* B = a.B + (t * G + d / per_group) * N;
        const float* C = a.C + (t * G + d / per_group) * N;
        const float* A = a.A + d * N;
        float* h = a.state + d * N;
        float y = 0.f;
        for (int64_t n = 0; n < N; ++n) {
          h[n] = std::exp(dt * A[n]) * h[n] + dt * B[n] * x;
          y += C[n] * h[n];
        }
        if (a.D_skip) y += a.D_skip[d] * x;
        if (a.z) y *= detail::silu(a.z[t * D + d]);
        a.out[t * D + d] = y;
      }
  });
}

}  // namespace mnemo::kernels
