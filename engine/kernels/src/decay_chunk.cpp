#include "decay_chunk.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "blas.h"
#include "mnemo/core/simd_math.h"

namespace mnemo::kernels::detail {
namespace {

constexpr int64_t kSubBlock = 16;  // rows whose intra-chunk scores share one reference point

struct Scratch {
  std::vector<float> b, qs, kr, scores, e;
  Scratch(int64_t C, int64_t dk) : b(C * dk), qs(C * dk), kr(C * dk), scores(C * C), e(dk) {}
};

// x ← exp(x), eight lanes at a time.
void exp_in_place(float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, simd::exp(_mm256_loadu_ps(x + i)));
  if (i < n) {
    const int tail = static_cast<int>(n - i);
    simd::store_partial(x + i, simd::exp(simd::load_partial(x + i, tail)), tail);
  }
}

// out[d] = exp(a[d] − b[d]) · x[d].
void scaled_by_exp_of_difference(const float* a, const float* b, const float* x, float* out, int64_t n) {
  for (int64_t d = 0; d < n; ++d) out[d] = a[d] - b[d];
  exp_in_place(out, n);
  for (int64_t d = 0; d < n; ++d) out[d] *= x[d];
}

// b_i: the decay accumulated through token i of the chunk [t0, t0 + n): one value per token when
// the gates are per head (stride 1), else one per key dim (stride dk).
int64_t accumulate_decay(const DecayHeadView& w, int64_t t0, int64_t n, float* b) {
  const int64_t stride = w.dim_gate ? w.dk : 1;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = t0 + i;
    const float g = w.fixed_log_decay + (w.scalar_gate ? w.scalar_gate[t * w.scalar_stride] : 0.f);
    float* row = b + i * stride;
    const float* prev = i ? row - stride : nullptr;
    for (int64_t d = 0; d < stride; ++d) row[d] = (prev ? prev[d] : 0.f) + g;
    if (w.dim_gate)
      for (int64_t d = 0; d < stride; ++d) row[d] += w.dim_gate[t * w.dim_stride + d];
  }
  return stride;
}

// Intra-chunk scores scale · Σ_d q_i[d] k_j[d] exp(b_i[d] − b_j[d]) for j ≤ i (0 above), per key dim.
void scores_per_dim(const DecayHeadView& w, const float* q, const float* k, int64_t n, int64_t C, Scratch& s) {
  const int64_t dk = w.dk;
  const float* b = s.b.data();
  std::fill(s.scores.begin(), s.scores.begin() + n * C, 0.f);
  for (int64_t a = 0; a < n; a += kSubBlock) {
    const int64_t ae = std::min(n, a + kSubBlock);
    if (a > 0) {  // columns before the block, both sides measured from column a − 1
      const float* br = &b[(a - 1) * dk];
      for (int64_t i = a; i < ae; ++i) scaled_by_exp_of_difference(&b[i * dk], br, q + i * w.q_stride, &s.qs[(i - a) * dk], dk);
      for (int64_t j = 0; j < a; ++j) scaled_by_exp_of_difference(br, &b[j * dk], k + j * w.k_stride, &s.kr[j * dk], dk);
      blas_sgemm(true, ae - a, a, dk, w.scale, s.qs.data(), dk, s.kr.data(), dk, 0.f, &s.scores[a * C], C);
    }
    for (int64_t i = a; i < ae; ++i)
      for (int64_t j = a; j <= i; ++j) {
        scaled_by_exp_of_difference(&b[i * dk], &b[j * dk], k + j * w.k_stride, s.e.data(), dk);
        float acc = 0.f;
        for (int64_t d = 0; d < dk; ++d) acc += q[i * w.q_stride + d] * s.e[d];
        s.scores[i * C + j] = w.scale * acc;
      }
  }
}

// The same with one decay per token: (scale · Q Kᵀ) ⊙ exp(b_i − b_j), one sgemm and n²/2 exps.
void scores_per_head(const DecayHeadView& w, const float* q, const float* k, int64_t n, int64_t C, Scratch& s) {
  const float* b = s.b.data();
  blas_sgemm(true, n, n, w.dk, w.scale, q, w.q_stride, k, w.k_stride, 0.f, s.scores.data(), C);
  for (int64_t i = 0; i < n; ++i) {
    float* row = &s.scores[i * C];
    for (int64_t j = 0; j <= i; ++j) row[j] *= std::exp(b[i] - b[j]);
    std::fill(row + i + 1, row + n, 0.f);
  }
}

// What the chunk computes without the state it starts from: its rows of the output from its own
// tokens (overwriting them), and what it adds to the state, dS = Σ_j (k_j ⊙ exp(b_last − b_j)) v_jᵀ,
// with decay = exp(b_last) the factor the incoming state is multiplied by.
void chunk_local(const DecayHeadView& w, int64_t t0, int64_t n, int64_t C, Scratch& s, float* dS, float* decay) {
  const int64_t dk = w.dk, dv = w.dv;
  const float* q = w.q + t0 * w.q_stride;
  const float* k = w.k + t0 * w.k_stride;
  const float* v = w.v + t0 * w.v_stride;
  const int64_t stride = accumulate_decay(w, t0, n, s.b.data());
  stride == 1 ? scores_per_head(w, q, k, n, C, s) : scores_per_dim(w, q, k, n, C, s);
  blas_sgemm(false, n, dv, n, 1.f, s.scores.data(), C, v, w.v_stride, 0.f, w.out + t0 * w.out_stride, w.out_stride);

  // dS = K̃ᵀ V with k̃_j = k_j ⊙ exp(b_last − b_j), rows of K̃ in s.kr.
  const float* last = &s.b[(n - 1) * stride];
  if (stride == 1) {
    for (int64_t d = 0; d < dk; ++d) decay[d] = std::exp(last[0]);
    for (int64_t j = 0; j < n; ++j) {
      const float f = std::exp(last[0] - s.b[j]);
      for (int64_t d = 0; d < dk; ++d) s.kr[j * dk + d] = f * k[j * w.k_stride + d];
    }
  } else {
    for (int64_t d = 0; d < dk; ++d) decay[d] = last[d];
    exp_in_place(decay, dk);
    for (int64_t j = 0; j < n; ++j) scaled_by_exp_of_difference(last, &s.b[j * dk], k + j * w.k_stride, &s.kr[j * dk], dk);
  }
  blas_sgemm_at(dk, dv, n, 1.f, s.kr.data(), dk, v, w.v_stride, 0.f, dS, dv);
}

// What the state the chunk starts from contributes: its rows += (scale · q ⊙ exp b) S_in.
void chunk_from_state(const DecayHeadView& w, int64_t t0, int64_t n, const float* S_in, Scratch& s) {
  const int64_t dk = w.dk;
  const int64_t stride = accumulate_decay(w, t0, n, s.b.data());
  for (int64_t i = 0; i < n; ++i) {
    float* row = &s.qs[i * dk];
    for (int64_t d = 0; d < dk; ++d) row[d] = s.b[i * stride + (stride == 1 ? 0 : d)];
    exp_in_place(row, dk);
    for (int64_t d = 0; d < dk; ++d) row[d] *= w.scale * w.q[(t0 + i) * w.q_stride + d];
  }
  blas_sgemm(false, n, w.dv, dk, 1.f, s.qs.data(), dk, S_in, w.dv, 1.f, w.out + t0 * w.out_stride, w.out_stride);
}

// S ← diag(decay) S + dS.
void pass_state(float* S, const float* decay, const float* dS, int64_t dk, int64_t dv) {
  for (int64_t d = 0; d < dk; ++d)
    for (int64_t e = 0; e < dv; ++e) S[d * dv + e] = decay[d] * S[d * dv + e] + dS[d * dv + e];
}

// One head on the calling thread, chunk after chunk.
void head_in_order(const DecayHeadView& w, int64_t C) {
  Scratch s(C, w.dk);
  std::vector<float> dS(w.dk * w.dv), decay(w.dk);
  for (int64_t t0 = 0; t0 < w.T; t0 += C) {
    const int64_t n = std::min(C, w.T - t0);
    chunk_local(w, t0, n, C, s, dS.data(), decay.data());
    chunk_from_state(w, t0, n, w.S, s);
    pass_state(w.S, decay.data(), dS.data(), w.dk, w.dv);
  }
}

// One head with its chunks in parallel: local parts, then the states in order, then their outputs.
void head_chunks_in_parallel(ThreadPool& pool, const DecayHeadView& w, int64_t C) {
  const int64_t n_chunks = (w.T + C - 1) / C, dk = w.dk, dv = w.dv;
  std::vector<float> states(n_chunks * dk * dv), decays(n_chunks * dk);
  pool.parallel_for(n_chunks, 1, [&](int64_t c0, int64_t c1) {
    Scratch s(C, dk);
    for (int64_t c = c0; c < c1; ++c)
      chunk_local(w, c * C, std::min(C, w.T - c * C), C, s, &states[c * dk * dv], &decays[c * dk]);
  });
  std::vector<float> dS(dk * dv);
  for (int64_t c = 0; c < n_chunks; ++c) {  // states[c]: from what chunk c adds to the state it starts from
    float* slot = &states[c * dk * dv];
    std::copy(slot, slot + dk * dv, dS.begin());
    std::copy(w.S, w.S + dk * dv, slot);
    pass_state(w.S, &decays[c * dk], dS.data(), dk, dv);
  }
  pool.parallel_for(n_chunks, 1, [&](int64_t c0, int64_t c1) {
    Scratch s(C, dk);
    for (int64_t c = c0; c < c1; ++c) chunk_from_state(w, c * C, std::min(C, w.T - c * C), &states[c * dk * dv], s);
  });
}

}  // namespace

void decay_chunked(ThreadPool& pool, int64_t n_heads, const std::function<DecayHeadView(int64_t)>& view_of,
                   int64_t chunk) {
  const int64_t C = std::max<int64_t>(1, chunk);
  if (n_heads >= pool.size()) {
    pool.parallel_for(n_heads, 1, [&](int64_t h0, int64_t h1) {
      for (int64_t h = h0; h < h1; ++h) head_in_order(view_of(h), C);
    });
    return;
  }
  for (int64_t h = 0; h < n_heads; ++h) {
    const DecayHeadView w = view_of(h);
    w.T > C ? head_chunks_in_parallel(pool, w, C) : head_in_order(w, C);
  }
}

}  // namespace mnemo::kernels::detail
