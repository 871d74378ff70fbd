// layer_norm and rms_norm: one row per task, AVX2, two passes (mean, then centred variance) so
// rows with a large mean keep their precision.
#include <immintrin.h>

#include <cmath>

#include "mnemo/kernels/ops.h"
#include "mnemo/core/simd_math.h"

namespace mnemo::kernels {
namespace {

constexpr int64_t kRowGrain = 4;

float row_sum(const float* x, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_add_ps(acc0, _mm256_loadu_ps(x + i));
    acc1 = _mm256_add_ps(acc1, _mm256_loadu_ps(x + i + 8));
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_add_ps(acc0, _mm256_loadu_ps(x + i));
  if (i < n) acc1 = _mm256_add_ps(acc1, simd::load_partial(x + i, static_cast<int>(n - i)));
  return simd::hsum(_mm256_add_ps(acc0, acc1));
}

// Σ (x - c)²
float row_sq_dev(const float* x, int64_t n, float c) {
  const __m256 vc = _mm256_set1_ps(c);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), vc);
    const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vc);
    acc0 = _mm256_fmadd_ps(d0, d0, acc0);
    acc1 = _mm256_fmadd_ps(d1, d1, acc1);
  }
  float s = simd::hsum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) s += (x[i] - c) * (x[i] - c);
  return s;
}

// y = (x - shift) * scale * w + b   (b may be null)
void row_affine(const float* x, float shift, float scale, const float* w, const float* b,
                int64_t n, float* y) {
  const __m256 vs = _mm256_set1_ps(shift), vk = _mm256_set1_ps(scale);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vs), vk), _mm256_loadu_ps(w + i));
    if (b) v = _mm256_add_ps(v, _mm256_loadu_ps(b + i));
    _mm256_storeu_ps(y + i, v);
  }
  for (; i < n; ++i) y[i] = (x[i] - shift) * scale * w[i] + (b ? b[i] : 0.f);
}

}  // namespace

void layer_norm(ThreadPool& pool, const float* x, const float* w, const float* b, int64_t rows,
                int64_t n, float eps, float* y) {
  pool.parallel_for(rows, kRowGrain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * n;
      const float mean = row_sum(xr, n) / static_cast<float>(n);
      const float var = row_sq_dev(xr, n, mean) / static_cast<float>(n);
      row_affine(xr, mean, 1.f / std::sqrt(var + eps), w, b, n, y + r * n);
    }
  });
}

void rms_norm(ThreadPool& pool, const float* x, const float* w, int64_t rows, int64_t n, float eps,
              float* y) {
  pool.parallel_for(rows, kRowGrain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * n;
      const float ms = row_sq_dev(xr, n, 0.f) / static_cast<float>(n);
      row_affine(xr, 0.f, 1.f / std::sqrt(ms + eps), w, nullptr, n, y + r * n);
    }
  });
}

}  // namespace mnemo::kernels
