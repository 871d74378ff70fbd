// Implicit attention of the recurrent families: how much output i draws on the value of input j,
// A[i][j], such that o_i = Σ_j A[i][j] v_j exactly (per head; per channel for Mamba-1). Any block
// of the map (a 256×256 tile, say) is computed from the per-token factors the engine records;
// docs/ARCHITECTURES.md gives each family's formula, its stable computation and its factors.
//
// Factors are per token, as the kernels consume them (never cumulative sums): token t's vector of
// a factor sits at base + t·stride. Outputs are row-major [r1−r0][c1−c0] with row stride ld;
// cells with j > i are 0. Every function here is single-threaded and allocates its scratch.
#pragma once

#include <cstdint>

namespace mnemo::profiler {

// Rows [r0, r1) × columns [c0, c1) of a map.
struct TileRange {
  int64_t r0 = 0, r1 = 0, c0 = 0, c1 = 0;
  int64_t rows() const { return r1 - r0; }
  int64_t cols() const { return c1 - c0; }
};

// The log decay (≤ 0) a token applies to the state, per dim d of the key:
//   g_t[d] = per_step + rate · value_t[d] · (rates ? rates[d] : 1)
// with value_t[d] = per_token[t·stride + d] when per_dim, else per_token[t·stride] (0 when null).
//   linear attention     nothing set
//   RetNet               per_step = log γ_h
//   GLA                  per_token = g [T][H][dk] + h·dk, stride H·dk, per_dim
//   Mamba-2 head h       per_token = dt + h (stride H), rate = A[h]
//   Mamba-1 channel d    per_token = Δ + d (stride D), rates = A + d·N
struct LogDecay {
  float per_step = 0.f;
  const float* per_token = nullptr;
  int64_t stride = 0;
  bool per_dim = false;
  float rate = 1.f;
  const float* rates = nullptr;
};

// Diagonal-decay families: A[i][j] = scale · w_j · Σ_d q_i[d] k_j[d] exp(G_i[d] − G_j[d]) for j ≤ i,
// with G_t = Σ_{s≤t} g_s and w_j the column weight (1 when null).
struct DecayFactors {
  const float* q = nullptr;  // [T] rows of `dim` floats, q_stride apart
  int64_t q_stride = 0;
  const float* k = nullptr;
  int64_t k_stride = 0;
  int64_t dim = 0;
  float scale = 1.f;
  LogDecay decay;
  const float* col_weight = nullptr;  // Mamba's Δ_j / dt_j; null elsewhere
  int64_t col_weight_stride = 0;
};
void decay_implicit_attention(const DecayFactors& f, const TileRange& tile, float* out, int64_t ld);

// Delta rule (DeltaNet, Gated DeltaNet), exactly: A[i][j] = scale · β_j q_iᵀ P_{i,j} k_j with
// P_{i,j} = Π_{t=i..j+1} α_t (I − β_t k_t k_tᵀ) (latest on the left), α_t = exp(log_alpha_t).
struct DeltaFactors {
  const float* q = nullptr;
  int64_t q_stride = 0;
  const float* k = nullptr;
  int64_t k_stride = 0;
  int64_t dim = 0;
  float scale = 1.f;
  const float* beta = nullptr;  // one per token
  int64_t beta_stride = 0;
  const float* log_alpha = nullptr;  // Gated DeltaNet's g_t, one per token; null for DeltaNet
  int64_t log_alpha_stride = 0;
};
void delta_implicit_attention(const DeltaFactors& f, const TileRange& tile, float* out, int64_t ld);

// Mamba-1, the factors of one layer: Δ after softplus, A, B and C as the scan reads them.
struct Mamba1Factors {
  const float* delta = nullptr;  // [T][D]
  const float* A = nullptr;      // [D][N]
  const float* B = nullptr;      // [T][G][N]
  const float* C = nullptr;      // [T][G][N]
  int64_t D = 0, N = 0, G = 1;
};
// Channel d: A_d[i][j] = Σ_n C_i[n] exp(A[d][n] Σ_{t=j+1..i} Δ_t[d]) Δ_j[d] B_j[n]
// (the D·x skip is not part of the mixing: it adds D[d] on the diagonal of the map's use).
DecayFactors mamba1_channel_factors(const Mamba1Factors& f, int64_t channel);
void mamba1_implicit_attention(const Mamba1Factors& f, int64_t channel, const TileRange& tile, float* out, int64_t ld);
// A head-like view: the mean of the channel maps over channels [d0, d1).
void mamba1_mean_implicit_attention(const Mamba1Factors& f, int64_t d0, int64_t d1, const TileRange& tile, float* out,
                                    int64_t ld);

// Mamba-2, the factors of one layer: dt after softplus, A, B and C.
struct Mamba2Factors {
  const float* dt = nullptr;  // [T][H]
  const float* A = nullptr;   // [H]
  const float* B = nullptr;   // [T][G][N]
  const float* C = nullptr;   // [T][G][N]
  int64_t H = 0, N = 0, G = 1;
};
// Head h: A_h[i][j] = (C_i · B_j) exp(A[h] Σ_{t=j+1..i} dt_t[h]) dt_j[h] (every channel of the head).
DecayFactors mamba2_head_factors(const Mamba2Factors& f, int64_t head);
void mamba2_implicit_attention(const Mamba2Factors& f, int64_t head, const TileRange& tile, float* out, int64_t ld);

}  // namespace mnemo::profiler
