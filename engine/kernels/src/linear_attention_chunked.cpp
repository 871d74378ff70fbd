// The chunked forms of the linear-attention family (prefill): heads in parallel, each head's
// tokens in chunks whose intra-chunk part is a few matmuls and whose state carries to the next.
//
// Delta rule (the WY/UT form of flash-linear-attention's chunk_delta_rule, with gates): in a chunk
// with state S at its start, Γ_i = exp(b_i) the gate accumulated through token i, the recurrence
// S_i = α_i S_{i−1} + k_i u_iᵀ, u_i = β_i (v_i − α_i S_{i−1}ᵀ k_i) unrolls to
//   (I + M) U = β ⊙ V − (βΓ ⊙ K) S,   M_ij = β_i (k_i·k_j) Γ_i/Γ_j for j < i,
// one unit lower-triangular solve for [β ⊙ V | βΓ ⊙ K] shared by the whole chunk. Then
//   O = scale · (Γ ⊙ Q) S + scale · (Q Kᵀ ⊙ Γ_i/Γ_j)_{j≤i} U,   S_new = Γ_{n−1} S + (K ⊙ Γ_{n−1}/Γ)ᵀ U.
#include <algorithm>
#include <cmath>
#include <vector>

#include "blas.h"
#include "decay_chunk.h"
#include "linear_attention_common.h"
#include "mnemo/kernels/linear_attention.h"

namespace mnemo::kernels {
namespace {

using detail::check_linear_attention;

void delta_rule_chunked_head(const LinearAttentionArgs& a, int64_t h, int64_t C) {
  const int64_t H = a.n_heads, dk = a.dk, dv = a.dv, ld = H * dk, ldv = H * dv, ldr = dv + dk;
  float* S = a.state + h * dk * dv;
  std::vector<float> b(C), m(C * C), rhs(C * ldr), qs(C * dk), scores(C * C), kt(dk * C);
  for (int64_t t0 = 0; t0 < a.T; t0 += C) {
    const int64_t n = std::min(C, a.T - t0);
    const float* q = a.q + t0 * ld + h * dk;
    const float* k = a.k + t0 * ld + h * dk;
    const float* v = a.v + t0 * ldv + h * dv;
    const float* beta = a.beta + t0 * H + h;
    float* out = a.out + t0 * ldv + h * dv;
    for (int64_t i = 0; i < n; ++i) b[i] = (i ? b[i - 1] : 0.f) + detail::head_log_decay(a, t0 + i, h);

    // (I + M) [U' | W] = [β ⊙ V | βΓ ⊙ K], then U = U' − W S.
    blas_sgemm(true, n, n, dk, 1.f, k, ld, k, ld, 0.f, m.data(), C);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < i; ++j) m[i * C + j] *= beta[i * H] * std::exp(b[i] - b[j]);
    for (int64_t i = 0; i < n; ++i) {
      const float bi = beta[i * H], bg = bi * std::exp(b[i]);
      for (int64_t e = 0; e < dv; ++e) rhs[i * ldr + e] = bi * v[i * ldv + e];
      for (int64_t d = 0; d < dk; ++d) rhs[i * ldr + dv + d] = bg * k[i * ld + d];
    }
    blas_unit_lower_solve(n, ldr, m.data(), C, rhs.data(), ldr);
    blas_sgemm(false, n, dv, dk, -1.f, rhs.data() + dv, ldr, S, dv, 1.f, rhs.data(), ldr);

    // O = scale · (Γ ⊙ Q) S + scale · (Q Kᵀ ⊙ Γ_i/Γ_j) U.
    for (int64_t i = 0; i < n; ++i)
      for (int64_t d = 0; d < dk; ++d) qs[i * dk + d] = a.scale * std::exp(b[i]) * q[i * ld + d];
    blas_sgemm(false, n, dv, dk, 1.f, qs.data(), dk, S, dv, 0.f, out, ldv);
    blas_sgemm(true, n, n, dk, a.scale, q, ld, k, ld, 0.f, scores.data(), C);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) scores[i * C + j] = j <= i ? scores[i * C + j] * std::exp(b[i] - b[j]) : 0.f;
    blas_sgemm(false, n, dv, n, 1.f, scores.data(), C, rhs.data(), ldr, 1.f, out, ldv);

    // S = Γ_{n−1} S + (K ⊙ Γ_{n−1}/Γ)ᵀ U.
    const float last = b[n - 1], decay = std::exp(last);
    for (int64_t x = 0; x < dk * dv; ++x) S[x] *= decay;
    for (int64_t d = 0; d < dk; ++d)
      for (int64_t j = 0; j < n; ++j) kt[d * C + j] = k[j * ld + d] * std::exp(last - b[j]);
    blas_sgemm(false, dk, dv, n, 1.f, kt.data(), C, rhs.data(), ldr, 1.f, S, dv);
  }
}

}  // namespace

void decay_attention_chunked(ThreadPool& pool, const LinearAttentionArgs& a, int64_t chunk) {
  check_linear_attention(a, false, "decay_attention_chunked");
  const int64_t H = a.n_heads, dk = a.dk, dv = a.dv;
  pool.parallel_for(H, 1, [&](int64_t h0, int64_t h1) {
    for (int64_t h = h0; h < h1; ++h) {
      detail::DecayHeadView w;
      w.q = a.q + h * dk, w.q_stride = H * dk;
      w.k = a.k + h * dk, w.k_stride = H * dk;
      w.v = a.v + h * dv, w.v_stride = H * dv;
      w.out = a.out + h * dv, w.out_stride = H * dv;
      w.S = a.state + h * dk * dv;
      w.T = a.T, w.dk = dk, w.dv = dv, w.scale = a.scale;
      if (a.head_log_decay) w.fixed_log_decay = a.head_log_decay[h];
      if (a.head_log_gate) w.scalar_gate = a.head_log_gate + h, w.scalar_stride = H;
      if (a.key_log_gate) w.dim_gate = a.key_log_gate + h * dk, w.dim_stride = H * dk;
      detail::decay_chunked_head(w, chunk);
    }
  });
}

void delta_rule_chunked(ThreadPool& pool, const LinearAttentionArgs& a, int64_t chunk) {
  check_linear_attention(a, true, "delta_rule_chunked");
  const int64_t C = std::max<int64_t>(1, chunk);
  pool.parallel_for(a.n_heads, 1, [&](int64_t h0, int64_t h1) {
    for (int64_t h = h0; h < h1; ++h) delta_rule_chunked_head(a, h, C);
  });
}

}  // namespace mnemo::kernels
