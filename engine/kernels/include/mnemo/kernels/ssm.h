// State-space mixers of the Mamba family: the causal depthwise convolution in front of the scan,
// Mamba-1's selective scan and Mamba-2's SSD (docs/ARCHITECTURES.md). All read and write their
// state, so a decode step continues a prefill exactly and a prefill may come in pieces.
#pragma once

#include <cstdint>

#include "mnemo/core/thread_pool.h"

namespace mnemo::kernels {

// out_t[d] = bias[d] + Σ_{i<K} weight[d][i] · x_{t−K+1+i}[d], where inputs before this call come
// from conv_state (the last K−1 inputs seen, oldest first; zeros at the start of a sequence).
// Optionally followed by SiLU, as Mamba applies it.
struct CausalConvArgs {
  const float* x = nullptr;       // [T][D]
  const float* weight = nullptr;  // [D][K] (a Conv1d's [D][1][K] weight)
  const float* bias = nullptr;    // [D] or null
  int64_t T = 0, D = 0, K = 0;
  bool silu = false;
  float* conv_state = nullptr;  // [K−1][D], read then overwritten with the last K−1 inputs
  float* out = nullptr;         // [T][D]; must not alias x
};
void causal_conv1d(ThreadPool& pool, const CausalConvArgs& args);

// Mamba-1 selective scan, per channel d and state dim n (channel d reads group g = d / (D/G)):
//   Δ_t = softplus(delta_t + delta_bias) when delta_softplus, else delta_t (+ delta_bias)
//   h_t = exp(Δ_t[d] A[d][n]) h_{t−1} + Δ_t[d] B_t[g][n] x_t[d]
//   y_t[d] = Σ_n C_t[g][n] h_t[n] + D[d] x_t[d],   then y_t[d] · silu(z_t[d]) when z is given.
// One form only: the scan is elementwise in (d, n), so channels in parallel is already the fast form.
struct SelectiveScanArgs {
  const float* x = nullptr;      // [T][D]
  const float* delta = nullptr;  // [T][D]
  const float* delta_bias = nullptr;  // [D] or null
  bool delta_softplus = false;
  const float* A = nullptr;       // [D][N], negative
  const float* B = nullptr;       // [T][G][N]
  const float* C = nullptr;       // [T][G][N]
  const float* D_skip = nullptr;  // [D] or null
  const float* z = nullptr;       // [T][D] or null
  int64_t T = 0, D = 0, N = 0, G = 1;  // D % G == 0
  float* state = nullptr;  // [D][N], read then overwritten
  float* out = nullptr;    // [T][D]
};
void selective_scan(ThreadPool& pool, const SelectiveScanArgs& args);

// Mamba-2 SSD, per head h (reading group g = h / (H/G)) with head dim P and state dim N:
//   dt_t = softplus(dt_t + dt_bias) when dt_softplus, else dt_t (+ dt_bias)
//   h_t = exp(dt_t[h] A[h]) h_{t−1} + dt_t[h] x_t[h] B_t[g]ᵀ      (h_t is [P][N])
//   y_t[h] = h_t C_t[g] + D[h] x_t[h]
// The gate z and the norm around it belong to the block, not here.
struct SsdArgs {
  const float* x = nullptr;   // [T][H][P]
  const float* dt = nullptr;  // [T][H]
  const float* dt_bias = nullptr;  // [H] or null
  bool dt_softplus = false;
  const float* A = nullptr;       // [H], negative
  const float* B = nullptr;       // [T][G][N]
  const float* C = nullptr;       // [T][G][N]
  const float* D_skip = nullptr;  // [H] or null
  int64_t T = 0, H = 0, P = 0, N = 0, G = 1;  // H % G == 0
  float* state = nullptr;  // [H][P][N] (mamba_ssm's layout), read then overwritten
  float* out = nullptr;    // [T][H][P]
};
// Token by token (decode, and the reference of the chunked form).
void ssd_recurrent(ThreadPool& pool, const SsdArgs& args);
// Chunked as mamba_ssm's ssd_minimal_discrete: intra-chunk (C Bᵀ ⊙ decay) X, states passed
// between chunks. Shares its chunk loop with the diagonal-decay linear attention.
void ssd_chunked(ThreadPool& pool, const SsdArgs& args, int64_t chunk = 64);

}  // namespace mnemo::kernels
