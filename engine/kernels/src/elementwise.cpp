// Activations, gated units, residual add and row softmax (AVX2 with the shared exp).
#include <immintrin.h>

#include <cmath>

#include "mnemo/kernels/ops.h"
#include "mnemo/core/simd_math.h"

namespace mnemo::kernels {
namespace {

constexpr int64_t kElementGrain = 8192;  // below this a parallel section costs more than it saves

// x·sigmoid(k·x·(1 + c·x²))-style forms: GELU(tanh) = x·σ(2u), u = √(2/π)(x + 0.044715x³), which
// equals 0.5x(1 + tanh u) without tanh's cancellation near 0. SiLU = x·σ(x).
inline __m256 sigmoid_times_x(__m256 x, __m256 z) {
  const __m256 one = _mm256_set1_ps(1.f);
  return _mm256_div_ps(x, _mm256_add_ps(one, simd::exp(_mm256_sub_ps(_mm256_setzero_ps(), z))));
}

inline __m256 act8(Activation kind, __m256 x) {
  switch (kind) {
    case Activation::GeluTanh: {
      const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
      const __m256 u = _mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f),
                                     _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), x3, x));
      return sigmoid_times_x(x, _mm256_add_ps(u, u));
    }
    case Activation::Silu: return sigmoid_times_x(x, x);
    case Activation::Relu: return _mm256_max_ps(x, _mm256_setzero_ps());
    case Activation::GeluErf: {  // erf has no cheap vector form here; BERT-sized tensors only
      alignas(32) float v[8];
      _mm256_store_ps(v, x);
      for (float& e : v) e = 0.5f * e * (1.f + std::erf(e * 0.70710678118654752f));
      return _mm256_load_ps(v);
    }
  }
  return x;
}

// Applies act8 to [i0, i1) of src, multiplies by up when given, writes dst.
void act_range(Activation kind, const float* src, const float* up, float* dst, int64_t i0, int64_t i1) {
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    __m256 v = act8(kind, _mm256_loadu_ps(src + i));
    if (up) v = _mm256_mul_ps(v, _mm256_loadu_ps(up + i));
    _mm256_storeu_ps(dst + i, v);
  }
  if (i < i1) {
    const int tail = static_cast<int>(i1 - i);
    __m256 v = act8(kind, simd::load_partial(src + i, tail));
    if (up) v = _mm256_mul_ps(v, simd::load_partial(up + i, tail));
    simd::store_partial(dst + i, v, tail);
  }
}

}  // namespace

void activate(ThreadPool& pool, Activation kind, float* x, int64_t n) {
  pool.parallel_for(n, kElementGrain, [&](int64_t i0, int64_t i1) { act_range(kind, x, nullptr, x, i0, i1); });
}

void gated(ThreadPool& pool, Activation kind, const float* gate, const float* up, float* out, int64_t n) {
  pool.parallel_for(n, kElementGrain, [&](int64_t i0, int64_t i1) { act_range(kind, gate, up, out, i0, i1); });
}

void add(ThreadPool& pool, float* y, const float* x, int64_t n) {
  pool.parallel_for(n, kElementGrain * 4, [&](int64_t i0, int64_t i1) {
    int64_t i = i0;
    for (; i + 8 <= i1; i += 8)
      _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    for (; i < i1; ++i) y[i] += x[i];
  });
}

void softmax_rows(float* x, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * n;
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(row + i));
    float max = simd::hmax(vmax);
    for (; i < n; ++i) max = std::fmax(max, row[i]);
    if (max == -INFINITY) max = 0.f;  // fully masked row: exp(-inf) = 0 everywhere, sum 0
    const __m256 vm = _mm256_set1_ps(max);
    __m256 vsum = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
      const __m256 e = simd::exp(_mm256_sub_ps(_mm256_loadu_ps(row + i), vm));
      _mm256_storeu_ps(row + i, e);
      vsum = _mm256_add_ps(vsum, e);
    }
    float sum = simd::hsum(vsum);
    for (; i < n; ++i) {
      row[i] = std::exp(row[i] - max);
      sum += row[i];
    }
    const float inv = sum > 0.f ? 1.f / sum : 0.f;
    const __m256 vinv = _mm256_set1_ps(inv);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(row + i, _mm256_mul_ps(_mm256_loadu_ps(row + i), vinv));
    for (; i < n; ++i) row[i] *= inv;
  }
}

}  // namespace mnemo::kernels
