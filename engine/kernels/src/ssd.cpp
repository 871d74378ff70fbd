// Mamba-2's SSD, token by token and chunked. The chunked form is the diagonal-decay chunk loop of
// decay_chunk.h with C as the query, B as the key, dt·x as the value and dt·A as a per-head log
// decay: the same algebra as ssd_minimal_discrete's four steps (diagonal blocks, chunk states,
// state passing, state to output).
#include <algorithm>
#include <cmath>
#include <vector>

#include "decay_chunk.h"
#include "mnemo/kernels/ssm.h"
#include "ssm_common.h"

namespace mnemo::kernels {
namespace {

void check_ssd(const SsdArgs& a, const char* who) {
  detail::require(a.T >= 0 && a.H > 0 && a.P > 0 && a.N > 0 && a.G > 0 && a.H % a.G == 0, who, "bad sizes");
  detail::require(a.state && a.out && a.A && (a.T == 0 || (a.x && a.dt && a.B && a.C)), who, "missing buffer");
}

}  // namespace

void ssd_recurrent(ThreadPool& pool, const SsdArgs& a) {
  check_ssd(a, "ssd_recurrent");
  const int64_t H = a.H, P = a.P, N = a.N, G = a.G, per_group = H / G;
  pool.parallel_for(H, 1, [&](int64_t h0, int64_t h1) {
    for (int64_t h = h0; h < h1; ++h) {
      float* S = a.state + h * P * N;
      for (int64_t t = 0; t < a.T; ++t) {
        const float dt = detail::step_size(a.dt[t * H + h], a.dt_bias, h, a.dt_softplus);
        const float decay = std::exp(dt * a.A[h]);
        const float* x = a.x + (t * H + h) * P;
        const float* B = a.B + (t * G + h / per_group) * N;
        const float* C = a.C + (t * G + h / per_group) * N;
        float* y = a.out + (t * H + h) * P;
        for (int64_t p = 0; p < P; ++p) {
          float acc = 0.f;
          for (int64_t n = 0; n < N; ++n) {
            S[p * N + n] = decay * S[p * N + n] + dt * x[p] * B[n];
            acc += S[p * N + n] * C[n];
          }
          y[p] = acc + (a.D_skip ? a.D_skip[h] * x[p] : 0.f);
        }
      }
    }
  });
}

void ssd_chunked(ThreadPool& pool, const SsdArgs& a, int64_t chunk) {
  check_ssd(a, "ssd_chunked");
  const int64_t T = a.T, H = a.H, P = a.P, N = a.N, G = a.G, per_group = H / G;
  // Per head: the value dt·x [T][P], the log decay dt·A [T], and the state as [key = n][value = p].
  std::vector<float> value(H * T * P), log_decay(H * T), S(H * N * P);
  pool.parallel_for(H, 1, [&](int64_t h0, int64_t h1) {
    for (int64_t h = h0; h < h1; ++h) {
      for (int64_t t = 0; t < T; ++t) {
        const float dt = detail::step_size(a.dt[t * H + h], a.dt_bias, h, a.dt_softplus);
        log_decay[h * T + t] = dt * a.A[h];
        for (int64_t p = 0; p < P; ++p) value[(h * T + t) * P + p] = dt * a.x[(t * H + h) * P + p];
      }
      for (int64_t p = 0; p < P; ++p)
        for (int64_t n = 0; n < N; ++n) S[(h * N + n) * P + p] = a.state[(h * P + p) * N + n];
    }
  });
  detail::decay_chunked(pool, H, [&](int64_t h) {
    detail::DecayHeadView w;
    w.q = a.C + (h / per_group) * N, w.q_stride = G * N;
    w.k = a.B + (h / per_group) * N, w.k_stride = G * N;
    w.v = &value[h * T * P], w.v_stride = P;
    w.out = a.out + h * P, w.out_stride = H * P;
    w.S = &S[h * N * P];
    w.T = T, w.dk = N, w.dv = P;
    w.scalar_gate = &log_decay[h * T], w.scalar_stride = 1;
    return w;
  }, chunk);
  pool.parallel_for(H, 1, [&](int64_t h0, int64_t h1) {
    for (int64_t h = h0; h < h1; ++h) {
      for (int64_t p = 0; p < P; ++p)
        for (int64_t n = 0; n < N; ++n) a.state[(h * P + p) * N + n] = S[(h * N + n) * P + p];
      if (a.D_skip)
        for (int64_t t = 0; t < T; ++t)
          for (int64_t p = 0; p < P; ++p) a.out[(t * H + h) * P + p] += a.D_skip[h] * a.x[(t * H + h) * P + p];
    }
  });
}

}  // namespace mnemo::kernels
