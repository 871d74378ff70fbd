// Linear-attention mixers with a matrix state per head: plain causal linear attention, RetNet
// retention, GLA, DeltaNet and Gated DeltaNet. docs/ARCHITECTURES.md gives each recurrence and
// its implicit attention.
//
// Every family has a plain recurrent form (one token at a time; what a decode step runs) and a
// chunked form (intra-chunk masked matmuls plus state passing between chunks; what a prefill
// runs), tested against each other. Both read and write the state, so a decode step continues a
// chunked prefill exactly and a prefill may come in pieces.
//
// Per head h, with S the [dk][dv] state and o_t = scale · S_tᵀ q_t:
//   diagonal decay   S_t = diag(exp a_t) S_{t−1} + k_t v_tᵀ
//   delta rule       S_t = exp(a_t) (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ
// where the log decay a_t (≤ 0) sums whichever gate fields below are set:
//   plain linear attention   none
//   RetNet                   head_log_decay (log γ_h)
//   GLA                      key_log_gate (one gate per key dim)
//   DeltaNet                 beta, no gate
//   Gated DeltaNet           beta and head_log_gate (α_t = exp g_t)
// Feature maps (elu + 1, L2-normalised keys, ...) are the caller's: these take q and k as given.
#pragma once

#include <cstdint>

#include "mnemo/core/thread_pool.h"

namespace mnemo::kernels {

struct LinearAttentionArgs {
  const float* q = nullptr;  // [T][n_heads][dk]
  const float* k = nullptr;  // [T][n_heads][dk]
  const float* v = nullptr;  // [T][n_heads][dv]
  int64_t T = 0, n_heads = 0, dk = 0, dv = 0;
  float scale = 1.f;  // multiplies every output (often 1/√dk)

  const float* head_log_decay = nullptr;  // [n_heads]: fixed per head (RetNet)
  const float* head_log_gate = nullptr;   // [T][n_heads]: per token, one per head (Gated DeltaNet)
  const float* key_log_gate = nullptr;    // [T][n_heads][dk]: per token and key dim (GLA); decay forms only
  const float* beta = nullptr;            // [T][n_heads] in (0, 1): delta-rule forms only, required there

  float* state = nullptr;  // [n_heads][dk][dv], read then overwritten with the state after token T−1
  float* out = nullptr;    // [T][n_heads][dv]; must not alias the inputs
};

// Diagonal-decay family (linear attention, RetNet, GLA). Throws UsageError when beta is set.
void decay_attention_recurrent(ThreadPool& pool, const LinearAttentionArgs& args);
void decay_attention_chunked(ThreadPool& pool, const LinearAttentionArgs& args, int64_t chunk = 64);

// Delta-rule family (DeltaNet, Gated DeltaNet). Throws UsageError without beta or with key_log_gate.
// The chunked form is the WY/UT transform of flash-linear-attention's chunk_delta_rule.
void delta_rule_recurrent(ThreadPool& pool, const LinearAttentionArgs& args);
void delta_rule_chunked(ThreadPool& pool, const LinearAttentionArgs& args, int64_t chunk = 64);

// The usual feature map of linear attention: x ← elu(x) + 1 (so every feature is positive), in place.
void elu_plus_one(float* x, int64_t n);

}  // namespace mnemo::kernels
