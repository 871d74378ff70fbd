// The one place the module talks to OpenBLAS. OpenBLAS is held to one thread of its own: our
// ThreadPool splits the work, so only one set of threads ever competes for the two cores.
#pragma once

#include <cstdint>

namespace mnemo::kernels {

void ensure_blas_single_threaded();  // idempotent, cheap after the first call

// Row-major C[M×N] = alpha·A[M×K]·op(B) + beta·C on the calling thread only.
void blas_sgemm(bool b_transposed, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// Row-major C[M×N] = alpha·Aᵀ·B + beta·C with A stored K×M, on the calling thread only.
void blas_sgemm_at(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
                   int64_t ldb, float beta, float* C, int64_t ldc);

// Solves L·X = B in place (B becomes X) on the calling thread: L is M×M lower triangular with an
// implied unit diagonal (its stored diagonal and upper part are not read), B is M×N row-major.
void blas_unit_lower_solve(int64_t M, int64_t N, const float* L, int64_t ldl, float* B, int64_t ldb);

}  // namespace mnemo::kernels
