// The recurrent forms: one token at a time, exactly the recurrences of linear_attention.h. They
// are the decode path and the reference the chunked forms are tested against. Heads run in
// parallel; each head's state stays in cache while its tokens stream by.
#include <cmath>
#include <vector>

#include "linear_attention_common.h"
#include "mnemo/kernels/linear_attention.h"

namespace mnemo::kernels {

using detail::check_linear_attention;

namespace {

// Token t of head h: its q, k, v and output row.
struct TokenRows {
  const float *q, *k, *v;
  float* o;
};
TokenRows token(const LinearAttentionArgs& a, int64_t t, int64_t h) {
  const int64_t row = t * a.n_heads + h;
  return {a.q + row * a.dk, a.k + row * a.dk, a.v + row * a.dv, a.out + row * a.dv};
}

}  // namespace

void decay_attention_recurrent(ThreadPool& pool, const LinearAttentionArgs& a) {
  check_linear_attention(a, false, "decay_attention_recurrent");
  const int64_t H = a.n_heads, dk = a.dk, dv = a.dv;
  pool.parallel_for(H, 1, [&](int64_t h0, int64_t h1) {
    for (int64_t h = h0; h < h1; ++h) {
      float* S = a.state + h * dk * dv;
      for (int64_t t = 0; t < a.T; ++t) {
        const auto [q, k, v, o] = token(a, t, h);
        for (int64_t e = 0; e < dv; ++e) o[e] = 0.f;
        for (int64_t d = 0; d < dk; ++d) {
          const float decay = std::exp(detail::key_log_decay(a, t, h, d));
          float* row = S + d * dv;
          for (int64_t e = 0; e < dv; ++e) {
            row[e] = decay * row[e] + k[d] * v[e];  // S = diag(exp a) S + k vᵀ
            o[e] += q[d] * row[e];                  // o = Sᵀ q
          }
        }
        for (int64_t e = 0; e < dv; ++e) o[e] *= a.scale;
      }
    }
  });
}

void delta_rule_recurrent(ThreadPool& pool, const LinearAttentionArgs& a) {
  check_linear_attention(a, true, "delta_rule_recurrent");
  const int64_t H = a.n_heads, dk = a.dk, dv = a.dv;
  pool.parallel_for(H, 1, [&](int64_t h0, int64_t h1) {
    std::vector<float> u(dv);
    for (int64_t h = h0; h < h1; ++h) {
      float* S = a.state + h * dk * dv;
      for (int64_t t = 0; t < a.T; ++t) {
        const auto [q, k, v, o] = token(a, t, h);
        const float alpha = std::exp(detail::head_log_decay(a, t, h)), beta = a.beta[t * H + h];
        // S = α (I − β k kᵀ) S + β k vᵀ = α S + k uᵀ with u = β (v − α Sᵀ k).
        for (int64_t e = 0; e < dv; ++e) u[e] = 0.f;
        for (int64_t d = 0; d < dk; ++d)
          for (int64_t e = 0; e < dv; ++e) u[e] += k[d] * S[d * dv + e];
        for (int64_t e = 0; e < dv; ++e) u[e] = beta * (v[e] - alpha * u[e]);
        for (int64_t e = 0; e < dv; ++e) o[e] = 0.f;
        for (int64_t d = 0; d < dk; ++d) {
          float* row = S + d * dv;
          for (int64_t e = 0; e < dv; ++e) {
            row[e] = alpha * row[e] + k[d] * u[e];
            o[e] += q[d] * row[e];
          }
        }
        for (int64_t e = 0; e < dv; ++e) o[e] *= a.scale;
      }
    }
  });
}

void elu_plus_one(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.f ? x[i] + 1.f : std::exp(x[i]);
}

}  // namespace mnemo::kernels
