// Dense products with weights in any supported storage type. One entry point picks the path:
// M == 1 (decode) uses hand-written matrix-vector kernels that stream the weights once; M > 1
// (prefill) uses BLAS sgemm on float panels (dequantized per panel for non-f32 weights).
#pragma once

#include <cstdint>

#include "mnemo/core/tensor.h"
#include "mnemo/core/thread_pool.h"

namespace mnemo::kernels {

// y[M×N] = x[M×K] · Wᵀ + bias, where W is [N×K] (row n holds the weights of output n, as in
// GGUF, PyTorch's nn.Linear and safetensors). bias may be null; otherwise bias is F32 [N].
// x and y are row-major and must not overlap. Uses every thread of the pool.
void matmul(ThreadPool& pool, const float* x, int64_t M, int64_t K, const TensorView& W,
            const float* bias, float* y);

// Several products of the same x with different weights (Q, K and V; gate and up), as if matmul
// were called for each: y_i = x · W_iᵀ + bias_i. For M == 1 they share one parallel section, so a
// decode step pays one synchronisation instead of one per weight.
struct MatmulTarget {
  TensorView W;
  const float* bias = nullptr;
  float* y = nullptr;
};
void matmul_many(ThreadPool& pool, const float* x, int64_t M, int64_t K, const MatmulTarget* targets, int n_targets);

// True when matmul supports weights of type t.
bool matmul_supports(DType t);

// Plain row-major float GEMM, C[M×N] = alpha·A[M×K]·B + beta·C, with B [K×N] (b_transposed =
// false) or [N×K] (true), and leading dimensions given. Used by attention.
void sgemm(bool b_transposed, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// The instruction set the kernels dispatch to on this machine ("avx512", "avx2", "scalar").
// MNEMO_CPU=avx2 or MNEMO_CPU=scalar in the environment forces a lower level (for valgrind).
const char* cpu_level();
// Re-reads MNEMO_CPU (the level is cached on first use); tests switch levels with setenv + this.
void reload_cpu_level();

}  // namespace mnemo::kernels
