// The chunked forms of the linear-attention family (prefill): heads in parallel, each head's
// tokens in chunks whose intra-chunk part is a few matmuls and whose state carries to the next;
// with fewer heads than threads, a head's chunks run their state-free parts in parallel.
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

// One chunk [t0, t0 + n) of head h. Buffers: b [n] (the accumulated gate), rhs [n][dv + dk]
// ([U' | W], then U in its first dv columns), scores [n][C].
struct DeltaChunk {
  const LinearAttentionArgs& a;
  int64_t h, t0, n, C;
  float *b, *rhs, *scores;

  int64_t ld() const { return a.n_heads * a.dk; }
  int64_t ldv() const { return a.n_heads * a.dv; }
  int64_t ldr() const { return a.dv + a.dk; }
  const float* q() const { return a.q + t0 * ld() + h * a.dk; }
  const float* k() const { return a.k + t0 * ld() + h * a.dk; }

  // What needs no state: b, the solve (I + M) [U' | W] = [β ⊙ V | βΓ ⊙ K], the masked scores.
  void prepare(std::vector<float>& m) const {
    const int64_t H = a.n_heads, dk = a.dk, dv = a.dv;
    const float* v = a.v + t0 * ldv() + h * dv;
    const float* beta = a.beta + t0 * H + h;
    for (int64_t i = 0; i < n; ++i) b[i] = (i ? b[i - 1] : 0.f) + detail::head_log_decay(a, t0 + i, h);
    blas_sgemm(true, n, n, dk, 1.f, k(), ld(), k(), ld(), 0.f, m.data(), C);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < i; ++j) m[i * C + j] *= beta[i * H] * std::exp(b[i] - b[j]);
    for (int64_t i = 0; i < n; ++i) {
      const float bi = beta[i * H], bg = bi * std::exp(b[i]);
      for (int64_t e = 0; e < dv; ++e) rhs[i * ldr() + e] = bi * v[i * ldv() + e];
      for (int64_t d = 0; d < dk; ++d) rhs[i * ldr() + dv + d] = bg * k()[i * ld() + d];
    }
    blas_unit_lower_solve(n, ldr(), m.data(), C, rhs, ldr());
    blas_sgemm(true, n, n, dk, a.scale, q(), ld(), k(), ld(), 0.f, scores, C);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) scores[i * C + j] = j <= i ? scores[i * C + j] * std::exp(b[i] - b[j]) : 0.f;
  }

  // U = U' − W S for the state S the chunk starts from.
  void solve_u(const float* S) const {
    blas_sgemm(false, n, a.dv, a.dk, -1.f, rhs + a.dv, ldr(), S, a.dv, 1.f, rhs, ldr());
  }

  // O = scale · (Γ ⊙ Q) S + scores U.
  void output(const float* S, std::vector<float>& qs) const {
    const int64_t dk = a.dk;
    float* out = a.out + t0 * ldv() + h * a.dv;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t d = 0; d < dk; ++d) qs[i * dk + d] = a.scale * std::exp(b[i]) * q()[i * ld() + d];
    blas_sgemm(false, n, a.dv, dk, 1.f, qs.data(), dk, S, a.dv, 0.f, out, ldv());
    blas_sgemm(false, n, a.dv, n, 1.f, scores, C, rhs, ldr(), 1.f, out, ldv());
  }

  // S ← Γ_{n−1} S + (K ⊙ Γ_{n−1}/Γ)ᵀ U.
  void update_state(float* S, std::vector<float>& kt) const {
    const int64_t dk = a.dk, dv = a.dv;
    const float last = b[n - 1], decay = std::exp(last);
    for (int64_t x = 0; x < dk * dv; ++x) S[x] *= decay;
    for (int64_t d = 0; d < dk; ++d)
      for (int64_t j = 0; j < n; ++j) kt[d * C + j] = k()[j * ld() + d] * std::exp(last - b[j]);
    blas_sgemm(false, dk, dv, n, 1.f, kt.data(), C, rhs, ldr(), 1.f, S, dv);
  }
};

// Per-thread buffers of the chunk steps.
struct DeltaScratch {
  std::vector<float> m, qs, kt;
  DeltaScratch(int64_t C, int64_t dk) : m(C * C), qs(C * dk), kt(dk * C) {}
};

// One head on the calling thread, chunk after chunk.
void delta_head_in_order(const LinearAttentionArgs& a, int64_t h, int64_t C) {
  const int64_t dk = a.dk, dv = a.dv;
  float* S = a.state + h * dk * dv;
  DeltaScratch s(C, dk);
  std::vector<float> b(C), rhs(C * (dv + dk)), scores(C * C);
  for (int64_t t0 = 0; t0 < a.T; t0 += C) {
    const DeltaChunk c{a, h, t0, std::min(C, a.T - t0), C, b.data(), rhs.data(), scores.data()};
    c.prepare(s.m);
    c.solve_u(S);
    c.output(S, s.qs);
    c.update_state(S, s.kt);
  }
}

// One head with its chunks' solves and outputs in parallel; the states pass from chunk to chunk
// in order between them (as flash-linear-attention splits chunk_delta_rule).
void delta_head_chunks_in_parallel(ThreadPool& pool, const LinearAttentionArgs& a, int64_t h, int64_t C) {
  const int64_t dk = a.dk, dv = a.dv, n_chunks = (a.T + C - 1) / C;
  float* S = a.state + h * dk * dv;
  std::vector<float> b(n_chunks * C), rhs(n_chunks * C * (dv + dk)), scores(n_chunks * C * C), states(n_chunks * dk * dv);
  auto chunk = [&](int64_t c) {
    return DeltaChunk{a, h, c * C, std::min(C, a.T - c * C), C, &b[c * C], &rhs[c * C * (dv + dk)], &scores[c * C * C]};
  };
  pool.parallel_for(n_chunks, 1, [&](int64_t c0, int64_t c1) {
    DeltaScratch s(C, dk);
    for (int64_t c = c0; c < c1; ++c) chunk(c).prepare(s.m);
  });
  DeltaScratch s(C, dk);
  for (int64_t c = 0; c < n_chunks; ++c) {
    std::copy(S, S + dk * dv, &states[c * dk * dv]);
    chunk(c).solve_u(S);
    chunk(c).update_state(S, s.kt);
  }
  pool.parallel_for(n_chunks, 1, [&](int64_t c0, int64_t c1) {
    DeltaScratch scratch(C, dk);
    for (int64_t c = c0; c < c1; ++c) chunk(c).output(&states[c * dk * dv], scratch.qs);
  });
}

}  // namespace

void decay_attention_chunked(ThreadPool& pool, const LinearAttentionArgs& a, int64_t chunk) {
  check_linear_attention(a, false, "decay_attention_chunked");
  const int64_t H = a.n_heads, dk = a.dk, dv = a.dv;
  detail::decay_chunked(pool, H, [&](int64_t h) {
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
    return w;
  }, chunk);
}

void delta_rule_chunked(ThreadPool& pool, const LinearAttentionArgs& a, int64_t chunk) {
  check_linear_attention(a, true, "delta_rule_chunked");
  const int64_t C = std::max<int64_t>(1, chunk);
  if (a.n_heads >= pool.size()) {
    pool.parallel_for(a.n_heads, 1, [&](int64_t h0, int64_t h1) {
      for (int64_t h = h0; h < h1; ++h) delta_head_in_order(a, h, C);
    });
    return;
  }
  for (int64_t h = 0; h < a.n_heads; ++h)
    a.T > C ? delta_head_chunks_in_parallel(pool, a, h, C) : delta_head_in_order(a, h, C);
}

}  // namespace mnemo::kernels
