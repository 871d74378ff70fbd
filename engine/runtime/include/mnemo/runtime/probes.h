// What the engine publishes while it runs: the data later recorded into sessions and shown in the
// views. A subscriber implements ProbeSink and overrides what it wants; the engine asks wants_*()
// once per step and skips all probe work (copies, clock reads) nobody asked for.
//
// Pointers in a probe are valid only during the callback; copy what you keep.
#pragma once

#include <cstdint>
#include <vector>

#include "mnemo/kernels/attention.h"

namespace mnemo::rt {

// Everything needed to recompute any attention score of one layer at one step exactly:
// p[h][i][j] = exp(q[i][h]·k[kvh(h)][j]·scale − lse[h][i]) for j visible to i under the mask,
// where kvh(h) = h / (n_heads / n_kv_heads).
struct AttentionProbe {
  int64_t step = 0;
  int32_t layer = 0;
  int64_t q_pos0 = 0;          // absolute position of the first query row
  int64_t n_q = 0;             // query rows this step
  int64_t n_k = 0;             // resident key positions 0 .. n_k-1
  int32_t n_heads = 0, n_kv_heads = 0, head_dim = 0;
  kernels::MaskKind mask = kernels::MaskKind::Causal;
  int64_t window = 0;
  float scale = 0.f;
  const float* q = nullptr;    // [n_q][n_heads][head_dim], after RoPE
  const float* k = nullptr;    // key of position j for KV head g at k + g*kv_head_stride + j*head_dim
  int64_t kv_head_stride = 0;
  const float* lse = nullptr;  // [n_heads][n_q], natural log of each row's softmax denominator
  // Gathered by the kernel when the sink asked (ProbeSink::wants_attention_stats /
  // wants_pooled_attention), else null; see kernels::AttentionRowStats and AttentionPooledMap.
  kernels::AttentionRowStats row_stats;  // each [n_heads][n_q]
  kernels::AttentionPooledMap pooled;    // [n_heads][ceil(n_q/4)][ceil(n_k/4)]
};

// Recomputes the probabilities of one query row of one head (the "probabilities on request").
// Positions the mask hides get 0. Returns n_k values that sum to 1.
std::vector<float> attention_row(const AttentionProbe& p, int32_t head, int64_t row);

// KV cache occupancy of one layer after this step's append. Positions are resident as ranges
// [begin, end); with no eviction policy that is the single range [0, n_resident).
struct KvProbe {
  int64_t step = 0;
  int32_t layer = 0;
  int64_t n_resident = 0;
  int64_t capacity = 0;
  uint64_t bytes_used = 0;      // bytes holding resident keys and values
  uint64_t bytes_reserved = 0;  // bytes allocated for this layer's cache
  std::vector<std::pair<int64_t, int64_t>> resident_ranges;
};

// The residual stream [n][d] after block `layer`, rows at positions pos0 .. pos0+n-1.
struct ResidualProbe {
  int64_t step = 0;
  int32_t layer = 0;
  int64_t pos0 = 0, n = 0, d = 0;
  const float* x = nullptr;
};

enum class OpKind : int32_t {
  Embed = 0, Norm, Matmul, Rope, Attention, Activation, Add, LmHead, Count
};
const char* op_kind_name(OpKind k);

// One timed operation. Times are CLOCK_MONOTONIC nanoseconds; thread is the OS thread id of the
// thread that issued the op (the op itself runs on the whole pool).
struct OpTiming {
  int64_t step = 0;
  OpKind kind = OpKind::Matmul;
  int32_t layer = -1;
  int32_t head = -1;
  int32_t thread = 0;
  int64_t start_ns = 0, end_ns = 0;
};

enum class StepKind : int32_t { Prefill = 0, Decode = 1, Encode = 2 };

struct StepProbe {
  int64_t step = 0;
  StepKind kind = StepKind::Prefill;
  int64_t pos0 = 0, n_tokens = 0;
  int64_t start_ns = 0, end_ns = 0;  // end_ns is 0 in on_step_begin
};

class ProbeSink {
 public:
  virtual ~ProbeSink() = default;
  virtual bool wants_attention() const { return false; }
  virtual bool wants_kv() const { return false; }
  virtual bool wants_residual() const { return false; }
  virtual bool wants_op_timings() const { return false; }
  // With wants_attention(): also the per-row statistics, and for a step whose map starts at
  // q_pos0 with n_q rows over n_k keys, the 4×4-pooled map (a few percent of attention's time).
  virtual bool wants_attention_stats() const { return false; }
  virtual bool wants_pooled_attention(int64_t /*q_pos0*/, int64_t /*n_q*/, int64_t /*n_k*/) const { return false; }

  virtual void on_step_begin(const StepProbe&) {}
  virtual void on_step_end(const StepProbe&) {}
  virtual void on_attention(const AttentionProbe&) {}
  virtual void on_kv(const KvProbe&) {}
  virtual void on_residual(const ResidualProbe&) {}
  virtual void on_op(const OpTiming&) {}
};

int64_t monotonic_ns();

}  // namespace mnemo::rt
