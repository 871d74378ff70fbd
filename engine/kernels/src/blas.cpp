#include "blas.h"

#include <cblas.h>

#include <mutex>

#include "mnemo/kernels/matmul.h"

namespace mnemo::kernels {

void ensure_blas_single_threaded() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

void blas_sgemm(bool b_transposed, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  ensure_blas_single_threaded();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, b_transposed ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(M), static_cast<blasint>(N), static_cast<blasint>(K), alpha, A,
              static_cast<blasint>(lda), B, static_cast<blasint>(ldb), beta, C,
              static_cast<blasint>(ldc));
}

void blas_sgemm_at(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
                   int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  ensure_blas_single_threaded();
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<blasint>(M), static_cast<blasint>(N),
              static_cast<blasint>(K), alpha, A, static_cast<blasint>(lda), B, static_cast<blasint>(ldb), beta, C,
              static_cast<blasint>(ldc));
}

void blas_unit_lower_solve(int64_t M, int64_t N, const float* L, int64_t ldl, float* B, int64_t ldb) {
  if (M <= 0 || N <= 0) return;
  ensure_blas_single_threaded();
  cblas_strsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasUnit, static_cast<blasint>(M),
              static_cast<blasint>(N), 1.f, L, static_cast<blasint>(ldl), B, static_cast<blasint>(ldb));
}

void sgemm(bool b_transposed, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  blas_sgemm(b_transposed, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace mnemo::kernels
