// Vector exp and a row-major A·Bᵀ product for the implicit-attention tiles (implicit_attention_*.cpp).
// The tiles are computed on the caller's thread (a view's worker, `mnemo tile`): BLAS runs
// single-threaded.
#pragma once

#include <cblas.h>
#include <immintrin.h>

#include <cstdint>
#include <mutex>

#include "mnemo/core/simd_math.h"

namespace mnemo::profiler::tile_math {

inline void exp_in_place(float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, simd::exp(_mm256_loadu_ps(x + i)));
  if (i < n) simd::store_partial(x + i, simd::exp(simd::load_partial(x + i, static_cast<int>(n - i))), static_cast<int>(n - i));
}

inline void single_threaded_blas() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });  // callers bring their own threads
}

// C[M][N] (row stride ldc) = A[M][K] · B[N][K]ᵀ + beta · C.
inline void sgemm_nt(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C, int64_t ldc,
                     float beta = 0.f) {
  single_threaded_blas();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(M), static_cast<blasint>(N),
              static_cast<blasint>(K), 1.f, A, static_cast<blasint>(K), B, static_cast<blasint>(K), beta, C,
              static_cast<blasint>(ldc));
}

}  // namespace mnemo::profiler::tile_math
