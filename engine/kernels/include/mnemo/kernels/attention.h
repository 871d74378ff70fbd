// Scaled dot-product attention over a KV cache, computed tile by tile with an online softmax
// (no T×T matrix is materialised). Also returns each query row's log-sum-exp, which is what the
// probes record: with q, k and lse, any score p[i][j] = exp(q_i·k_j·scale − lse_i) is exact.
#pragma once

#include <cstdint>

#include "mnemo/core/thread_pool.h"
#include "mnemo/core/visibility.h"

namespace mnemo::kernels {

// The mask patterns of mnemo/core/visibility.h (None, Causal, Window; Segments is a session's,
// never a layer's), which defines them.
using MaskKind = MaskPattern;

// Statistics of each query row's softmax, gathered while its scores are in cache so that a
// recorder need not compute them again. Arrays are [n_heads][T_q]; any may be null.
struct AttentionRowStats {
  float* entropy = nullptr;        // −Σ p ln p over the visible keys, in nats
  float* mean_distance = nullptr;  // Σ p_j · (pos_i − j)
  float* sink = nullptr;           // p of key 0 (0 when the mask hides it)
  // How many keys the row spreads over, 1 / Σ p² (the inverse participation ratio): n for
  // uniform attention over n keys, 1 for all of it on one key.
  float* effective_keys = nullptr;
};

// This call's attention map pooled over 4 × 4 cells (level 2 of a session's pyramid): cell (r, c)
// covers query rows 4r .. 4r+3 of this call and keys 4c .. 4c+3; the max and the sum of p there
// (hidden and missing cells count as 0). Arrays are [n_heads][ceil(T_q/4)][ceil(T_k/4)].
// Requires q_pos0 % 4 == 0, so that cells line up with absolute positions.
struct AttentionPooledMap {
  float* max = nullptr;
  float* sum = nullptr;
};

struct AttentionArgs {
  // Queries [T_q][n_heads][head_dim], contiguous; query i sits at absolute position q_pos0 + i.
  const float* q = nullptr;
  // Keys and values, one block per KV head: head h holds positions 0..T_k-1 at
  // k + h*kv_head_stride + pos*head_dim (the KV cache's layout).
  const float* k = nullptr;
  const float* v = nullptr;
  int64_t kv_head_stride = 0;
  int64_t T_q = 0, T_k = 0;
  int64_t n_heads = 0, n_kv_heads = 0, head_dim = 0;  // n_heads % n_kv_heads == 0 (GQA/MQA)
  int64_t q_pos0 = 0;
  MaskKind mask = MaskKind::Causal;
  int64_t window = 0;
  float scale = 0.f;        // usually 1/sqrt(head_dim)
  float* out = nullptr;     // [T_q][n_heads][head_dim]
  float* lse = nullptr;     // optional [n_heads][T_q]: natural-log sum of exp(scaled scores)
  AttentionRowStats row_stats;  // optional
  AttentionPooledMap pooled;    // optional
};

void attention(ThreadPool& pool, const AttentionArgs& args);

// Reference implementation (naive, double accumulation) used by tests and the probe helpers.
void attention_reference(const AttentionArgs& args);

}  // namespace mnemo::kernels
