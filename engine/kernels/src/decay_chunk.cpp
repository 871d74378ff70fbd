#include "decay_chunk.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "blas.h"

namespace mnemo::kernels::detail {
namespace {

constexpr int64_t kSubBlock = 16;  // rows whose intra-chunk scores share one reference point

float log_decay(const DecayHeadView& w, int64_t t, int64_t d) {
  float g = w.fixed_log_decay;
  if (w.scalar_gate) g += w.scalar_gate[t * w.scalar_stride];
  if (w.dim_gate) g += w.dim_gate[t * w.dim_stride + d];
  return g;
}

}  // namespace

void decay_chunked_head(const DecayHeadView& w, int64_t chunk) {
  const int64_t C = std::max<int64_t>(1, chunk), dk = w.dk, dv = w.dv;
  std::vector<float> b(C * dk), qs(C * dk), kr(C * dk), kt(dk * C), scores(C * C);
  for (int64_t t0 = 0; t0 < w.T; t0 += C) {
    const int64_t n = std::min(C, w.T - t0);
    const float* q = w.q + t0 * w.q_stride;
    const float* k = w.k + t0 * w.k_stride;
    const float* v = w.v + t0 * w.v_stride;
    float* out = w.out + t0 * w.out_stride;

    // b_i: decay accumulated through token i of the chunk.
    for (int64_t i = 0; i < n; ++i)
      for (int64_t d = 0; d < dk; ++d) b[i * dk + d] = (i ? b[(i - 1) * dk + d] : 0.f) + log_decay(w, t0 + i, d);

    // What the state carried in contributes: o = (scale · q ⊙ exp b) S.
    for (int64_t i = 0; i < n; ++i)
      for (int64_t d = 0; d < dk; ++d) qs[i * dk + d] = w.scale * q[i * w.q_stride + d] * std::exp(b[i * dk + d]);
    blas_sgemm(false, n, dv, dk, 1.f, qs.data(), dk, w.S, dv, 0.f, out, w.out_stride);

    // Intra-chunk scores, lower triangle with the diagonal.
    std::fill(scores.begin(), scores.begin() + n * C, 0.f);
    for (int64_t a = 0; a < n; a += kSubBlock) {
      const int64_t ae = std::min(n, a + kSubBlock);
      if (a > 0) {  // columns before the block, both sides measured from column a − 1
        const float* br = &b[(a - 1) * dk];
        for (int64_t i = a; i < ae; ++i)
          for (int64_t d = 0; d < dk; ++d)
            qs[(i - a) * dk + d] = w.scale * q[i * w.q_stride + d] * std::exp(b[i * dk + d] - br[d]);
        for (int64_t j = 0; j < a; ++j)
          for (int64_t d = 0; d < dk; ++d) kr[j * dk + d] = k[j * w.k_stride + d] * std::exp(br[d] - b[j * dk + d]);
        blas_sgemm(true, ae - a, a, dk, 1.f, qs.data(), dk, kr.data(), dk, 0.f, &scores[a * C], C);
      }
      for (int64_t i = a; i < ae; ++i)
        for (int64_t j = a; j <= i; ++j) {
          float s = 0.f;
          for (int64_t d = 0; d < dk; ++d)
            s += q[i * w.q_stride + d] * k[j * w.k_stride + d] * std::exp(b[i * dk + d] - b[j * dk + d]);
          scores[i * C + j] = w.scale * s;
        }
    }
    blas_sgemm(false, n, dv, n, 1.f, scores.data(), C, v, w.v_stride, 1.f, out, w.out_stride);

    // The state after the chunk.
    const float* last = &b[(n - 1) * dk];
    for (int64_t d = 0; d < dk; ++d) {
      const float decay = std::exp(last[d]);
      for (int64_t e = 0; e < dv; ++e) w.S[d * dv + e] *= decay;
      for (int64_t j = 0; j < n; ++j) kt[d * C + j] = k[j * w.k_stride + d] * std::exp(last[d] - b[j * dk + d]);
    }
    blas_sgemm(false, dk, dv, n, 1.f, kt.data(), C, v, w.v_stride, 1.f, w.S, dv);
  }
}

}  // namespace mnemo::kernels::detail
