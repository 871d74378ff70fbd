// Diagonal-decay mixers in chunked form on strided per-head views, so that linear attention,
// RetNet, GLA (linear_attention_chunked.cpp) and Mamba-2's SSD (ssd.cpp) share one implementation.
//
// For a chunk of n tokens starting with state S, b_i the decay accumulated from the chunk's start
// through token i (per key dim, ≤ 0 and non-increasing in i):
//   o_i   = scale · (q_i ⊙ exp b_i)ᵀ S + Σ_{j≤i} scale · (Σ_d q_i[d] k_j[d] exp(b_i[d] − b_j[d])) v_j
//   S_new = diag(exp b_{n−1}) S + Σ_j (k_j ⊙ exp(b_{n−1} − b_j)) v_jᵀ
// Every exponent is ≤ 0: the intra-chunk scores split rows into blocks of 16 and measure both
// sides from the last column before the block, the diagonal blocks take each exp directly.
#pragma once

#include <cstdint>
#include <functional>

#include "mnemo/core/thread_pool.h"

namespace mnemo::kernels::detail {

struct DecayHeadView {
  const float* q = nullptr;  // token t's query at q + t * q_stride (dk floats)
  int64_t q_stride = 0;
  const float* k = nullptr;
  int64_t k_stride = 0;
  const float* v = nullptr;  // dv floats per token
  int64_t v_stride = 0;
  float* out = nullptr;
  int64_t out_stride = 0;
  float* S = nullptr;  // [dk][dv], contiguous
  int64_t T = 0, dk = 0, dv = 0;
  float scale = 1.f;
  // Log decay of token t, key dim d: fixed + scalar_gate[t·scalar_stride] + dim_gate[t·dim_stride + d].
  float fixed_log_decay = 0.f;
  const float* scalar_gate = nullptr;
  int64_t scalar_stride = 0;
  const float* dim_gate = nullptr;
  int64_t dim_stride = 0;
};

// Runs every head (view_of(h) describes head h). When the heads fill the pool, each runs on one
// thread chunk after chunk; when they do not (one head on two threads), each head's chunks run
// their own parts in parallel and only the state passing between chunks is sequential.
void decay_chunked(ThreadPool& pool, int64_t n_heads, const std::function<DecayHeadView(int64_t)>& view_of,
                   int64_t chunk);

}  // namespace mnemo::kernels::detail
