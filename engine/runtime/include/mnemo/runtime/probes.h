// What the engine publishes while it runs: the data later recorded into sessions and shown in the
// views. A subscriber implements ProbeSink and overrides what it wants; the engine asks wants_*()
// once when the sink is attached and skips all probe work (copies, clock reads) nobody asked for.
//
// Pointers in a probe are valid only during the callback; copy what you keep.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "mnemo/core/visibility.h"
#include "mnemo/kernels/attention.h"

namespace mnemo::rt {

// One named factor of a mixer: logical [heads][rows][cols] fp32, element (h, r, c) at
// data[h * head_stride + r * row_stride + c].
struct FactorSpan {
  const char* name = "";
  const float* data = nullptr;
  int64_t heads = 0, rows = 0, cols = 0;
  int64_t head_stride = 0, row_stride = 0;
  const float* at(int64_t head, int64_t row) const { return data + head * head_stride + row * row_stride; }
};

// What a token mixer of one layer did at one step, as named factors from which its (implicit)
// attention A[i][j] is recomputed exactly (docs/ARCHITECTURE.md, "Implicit attention"). Rows of
// query-side factors are this step's tokens; rows of key-side factors are the layer's memory
// slots (key j holds position key_positions[j]).
//
// softmax: "q" [n_heads][n_q][key_dim] after RoPE, "k" [n_kv_heads][n_k][key_dim], "lse"
// [n_heads][n_q][1] (natural log of each row's softmax denominator), so
//   p[h][i][j] = exp(q[h][i]·k[kvh(h)][j]·scale − lse[h][i]) where visible(mask, qpos_i, kpos_j,
//   resident_j), kvh(h) = h / (n_heads / n_kv_heads).
struct MixerProbe {
  int64_t step = 0;
  int32_t layer = 0;
  const char* mixer = "softmax";  // registered mixer kind
  int32_t mixer_id = 0;
  int32_t n_heads = 0, n_kv_heads = 0;
  int64_t n_q = 0, n_k = 0;
  int64_t q_pos0 = 0;                          // query_positions[0]
  std::span<const int64_t> query_positions;    // [n_q]
  std::span<const int64_t> key_positions;      // [n_k]
  std::span<const uint8_t> key_resident;       // [n_k], 1 when the slot is resident
  // For a model that names its rows (set_rows: a segmented model's memory rows), each row's
  // RowRole and id (a token's position in the sequence, a memory row's slot); keys too, even when
  // they are all tokens. Empty for other models: every row is a token, whose id is its position.
  // With rows named, positions above are the rows' places within the segment (what the mask
  // sees), not positions in the sequence.
  std::span<const uint8_t> query_roles, key_roles;
  std::span<const int32_t> query_ids, key_ids;
  int32_t segment = -1;  // segmented models: the segment of this step; -1 otherwise
  Mask mask;                                   // softmax
  float scale = 0.f;                           // softmax; linear mixers: the q·k scale; SSMs: 1
  std::span<const FactorSpan> factors;

  // The factor called `name`, or null.
  const FactorSpan* factor(std::string_view name) const;
  bool is_softmax() const { return std::string_view(mixer) == "softmax"; }

  // softmax, gathered by the kernel when the sink asked (ProbeSink::wants_attention_stats /
  // wants_pooled_attention), else null; see kernels::AttentionRowStats and AttentionPooledMap.
  kernels::AttentionRowStats row_stats;  // each [n_heads][n_q]
  kernels::AttentionPooledMap pooled;    // [n_heads][ceil(n_q/4)][ceil(n_k/4)]
};

// Recomputes the probabilities of one query row of one head of a softmax probe (the
// "probabilities on request"). Keys the visibility function hides get 0. Returns n_k values that
// sum to 1.
std::vector<float> attention_row(const MixerProbe& p, int32_t head, int64_t row);

// A recurrent layer's state after this step: [heads][rows][cols], and the convolution window
// [conv_channels][conv_width - 1] when the layer has one.
struct StateProbe {
  int64_t step = 0;
  int32_t layer = 0;
  const char* mixer = "";
  int32_t heads = 0, rows = 0, cols = 0;
  const float* state = nullptr;
  int32_t conv_channels = 0, conv_taps = 0;
  const float* conv = nullptr;
};

// KV memory occupancy of one layer after this step's append: resident positions as ranges
// [begin, end) from the slots' positions (one range [0, n) while nothing is evicted).
struct KvProbe {
  int64_t step = 0;
  int32_t layer = 0;
  int64_t n_resident = 0;
  int64_t capacity = 0;         // slots allocated
  uint64_t bytes_used = 0;      // bytes holding resident keys and values
  uint64_t bytes_reserved = 0;  // bytes allocated for this layer's memory
  std::vector<std::pair<int64_t, int64_t>> resident_ranges;
};

// The residual stream [n][d] after block `layer`, rows at positions pos0 .. pos0+n-1.
struct ResidualProbe {
  int64_t step = 0;
  int32_t layer = 0;
  int64_t pos0 = 0, n = 0, d = 0;
  const float* x = nullptr;
};

// One timed operation. kind is an id of rt::op_kinds() (kinds.h), kind_name its name. Times are
// CLOCK_MONOTONIC nanoseconds; thread is the OS thread id of the thread that issued the op (the
// op itself runs on the whole pool).
struct OpTiming {
  int64_t step = 0;
  int32_t kind = 0;
  const char* kind_name = "";
  int32_t layer = -1;
  int32_t head = -1;
  int32_t thread = 0;
  int64_t start_ns = 0, end_ns = 0;
};

// What a row of a step is (the plugin ABI's mnemo_row_role, whose values these are): a token, or
// a memory row a segmented model reads at a segment's start or writes at its end.
enum RowRole : uint8_t { kRowToken = 0, kRowMemoryRead = 1, kRowMemoryWrite = 2 };

// The memory rows a segmented model carries (recurrent memory transformers), [slots][d]: what
// segment `segment` reads (kRowMemoryRead, published when it begins) or what its write rows leave
// for the next (kRowMemoryWrite, when it completes). layer: -1 for a memory the whole stack
// carries (RMT's, published outside the blocks); l for what the write rows left in layer l's own
// memory (ARMT's associative memories, published inside block l).
struct MemoryProbe {
  int64_t step = 0;
  int32_t segment = 0;
  int32_t role = 0;
  int32_t layer = -1;
  int64_t n_slots = 0, d = 0;  // not "slots": a Qt macro
  const float* x = nullptr;
};

enum class StepKind : int32_t { Prefill = 0, Decode = 1, Encode = 2 };

struct StepProbe {
  int64_t step = 0;
  StepKind kind = StepKind::Prefill;
  int64_t pos0 = 0, n_tokens = 0;
  // Segmented models: the segment the step lies in (a step never crosses one) and whether it
  // begins it (the KV memories were emptied); -1 and false otherwise.
  int32_t segment = -1;
  bool segment_start = false;
  int64_t start_ns = 0, end_ns = 0;  // end_ns is 0 in on_step_begin
};

class ProbeSink {
 public:
  virtual ~ProbeSink() = default;
  virtual bool wants_mixer() const { return false; }
  virtual bool wants_state() const { return false; }
  virtual bool wants_kv() const { return false; }
  virtual bool wants_residual() const { return false; }
  virtual bool wants_memory() const { return false; }
  virtual bool wants_op_timings() const { return false; }
  // With wants_mixer(), for softmax layers: also the per-row statistics, and for a step whose map
  // starts at q_pos0 with n_q rows over n_k keys, the 4×4-pooled map (a few percent of
  // attention's time).
  virtual bool wants_attention_stats() const { return false; }
  virtual bool wants_pooled_attention(int64_t /*q_pos0*/, int64_t /*n_q*/, int64_t /*n_k*/) const { return false; }

  virtual void on_step_begin(const StepProbe&) {}
  virtual void on_step_end(const StepProbe&) {}
  virtual void on_mixer(const MixerProbe&) {}
  virtual void on_state(const StateProbe&) {}
  virtual void on_kv(const KvProbe&) {}
  virtual void on_residual(const ResidualProbe&) {}
  virtual void on_memory(const MemoryProbe&) {}
  virtual void on_op(const OpTiming&) {}
};

int64_t monotonic_ns();

}  // namespace mnemo::rt
