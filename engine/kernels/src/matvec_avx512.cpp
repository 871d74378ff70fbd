// AVX-512 matrix-vector kernels: 16 lanes, masked loads for the tails of the float types. Called
// only after cpu_level() reports avx512.
// GCC 12 warns falsely inside avx512fintrin.h (its own _mm512_undefined_* helpers).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <type_traits>

#include "matvec.h"
#include "quant_blocks.h"

namespace mnemo::kernels {
namespace {

template <class RowDot>
void for_rows(const MatvecArgs& a, int64_t n0, int64_t n1, RowDot row_dot) {
  for (int64_t n = n0; n < n1; ++n) {
    const float dot = row_dot(a.w + static_cast<size_t>(n) * a.row_bytes);
    a.y[n] = a.bias ? dot + a.bias[n] : dot;
  }
}

struct LoadF32 {
  static __m512 full(const float* p) { return _mm512_loadu_ps(p); }
  static __m512 part(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
};
struct LoadF16 {
  static __m512 full(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static __m512 part(const uint16_t* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
};
struct LoadBF16 {
  static __m512 widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
  static __m512 full(const uint16_t* p) { return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static __m512 part(const uint16_t* p, __mmask16 m) { return widen(_mm256_maskz_loadu_epi16(m, p)); }
};

template <class Load, class T>
inline float dot_converted(const T* w, const float* x, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 64 <= n; k += 64) {
    acc0 = _mm512_fmadd_ps(Load::full(w + k), _mm512_loadu_ps(x + k), acc0);
    acc1 = _mm512_fmadd_ps(Load::full(w + k + 16), _mm512_loadu_ps(x + k + 16), acc1);
    acc2 = _mm512_fmadd_ps(Load::full(w + k + 32), _mm512_loadu_ps(x + k + 32), acc2);
    acc3 = _mm512_fmadd_ps(Load::full(w + k + 48), _mm512_loadu_ps(x + k + 48), acc3);
  }
  for (; k + 16 <= n; k += 16) acc0 = _mm512_fmadd_ps(Load::full(w + k), _mm512_loadu_ps(x + k), acc0);
  if (k < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - k)) - 1);
    acc1 = _mm512_fmadd_ps(Load::part(w + k, m), _mm512_maskz_loadu_ps(m, x + k), acc1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

template <class Load, class T>
void rows_float(const MatvecArgs& a, int64_t n0, int64_t n1) {
  for_rows(a, n0, n1, [&](const uint8_t* row) {
    return dot_converted<Load>(reinterpret_cast<const T*>(row), a.x, a.K);
  });
}

void rows_q8_0(const MatvecArgs& a, int64_t n0, int64_t n1) {
  for_rows(a, n0, n1, [&](const uint8_t* row) {
    const auto* b = reinterpret_cast<const BlockQ8_0*>(row);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    const int64_t nb = a.K / kQK;
    for (int64_t i = 0; i < nb; ++i) {
      const float* x = a.x + i * kQK;
      const __m512 q0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].qs))));
      const __m512 q1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].qs + 16))));
      const __m512 s = _mm512_fmadd_ps(q1, _mm512_loadu_ps(x + 16), _mm512_mul_ps(q0, _mm512_loadu_ps(x)));
      const __m512 d = _mm512_set1_ps(_cvtsh_ss(b[i].d));
      if (i & 1) acc1 = _mm512_fmadd_ps(d, s, acc1);
      else acc0 = _mm512_fmadd_ps(d, s, acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  });
}

template <bool kHasMin>
void rows_q4(const MatvecArgs& a, int64_t n0, int64_t n1) {
  using Block = std::conditional_t<kHasMin, BlockQ4_1, BlockQ4_0>;
  const __m512i low_nibble = _mm512_set1_epi32(0x0F);
  for_rows(a, n0, n1, [&](const uint8_t* row) {
    const auto* b = reinterpret_cast<const Block*>(row);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    float min_part = 0.f;
    const int64_t nb = a.K / kQK;
    for (int64_t i = 0; i < nb; ++i) {
      const float* x = a.x + i * kQK;
      // One byte per 32-bit lane: the low nibble is element j, the high nibble element j + 16.
      const __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].qs)));
      const __m512 lo = _mm512_cvtepi32_ps(_mm512_and_si512(bytes, low_nibble));
      const __m512 hi = _mm512_cvtepi32_ps(_mm512_srli_epi32(bytes, 4));
      const __m512 s = _mm512_fmadd_ps(hi, _mm512_loadu_ps(x + 16), _mm512_mul_ps(lo, _mm512_loadu_ps(x)));
      const float d = _cvtsh_ss(b[i].d);
      float m;
      if constexpr (kHasMin) m = _cvtsh_ss(b[i].m);
      else m = -8.f * d;
      min_part += m * a.xsum[i];
      if (i & 1) acc1 = _mm512_fmadd_ps(_mm512_set1_ps(d), s, acc1);
      else acc0 = _mm512_fmadd_ps(_mm512_set1_ps(d), s, acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) + min_part;
  });
}

}  // namespace

MatvecRowsFn matvec_kernel_avx512(DType t) {
  switch (t) {
    case DType::F32: return rows_float<LoadF32, float>;
    case DType::F16: return rows_float<LoadF16, uint16_t>;
    case DType::BF16: return rows_float<LoadBF16, uint16_t>;
    case DType::Q8_0: return rows_q8_0;
    case DType::Q4_0: return rows_q4<false>;
    case DType::Q4_1: return rows_q4<true>;
    default: return nullptr;
  }
}

}  // namespace mnemo::kernels
