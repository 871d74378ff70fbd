// AVX2/FMA/F16C matrix-vector kernels (the x86-64-v3 baseline). Each row is one dot product with
// independent accumulators; the weights stream once, x stays in L1.
#include <immintrin.h>

#include <type_traits>

#include "matvec.h"
#include "mnemo/core/fp16.h"
#include "quant_blocks.h"
#include "quant_internal.h"
#include "mnemo/core/simd_math.h"

namespace mnemo::kernels {
namespace {

inline __m256 load8_f16(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline __m256 load8_bf16(const uint16_t* p) {
  const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

// Dot product of n weights (converted by Load8 / Scalar) with x, four accumulators deep.
template <class T, class Load8, class Scalar>
inline float dot_converted(const T* w, const float* x, int64_t n, Load8 load8, Scalar scalar) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 32 <= n; k += 32) {
    acc0 = _mm256_fmadd_ps(load8(w + k), _mm256_loadu_ps(x + k), acc0);
    acc1 = _mm256_fmadd_ps(load8(w + k + 8), _mm256_loadu_ps(x + k + 8), acc1);
    acc2 = _mm256_fmadd_ps(load8(w + k + 16), _mm256_loadu_ps(x + k + 16), acc2);
    acc3 = _mm256_fmadd_ps(load8(w + k + 24), _mm256_loadu_ps(x + k + 24), acc3);
  }
  for (; k + 8 <= n; k += 8) acc0 = _mm256_fmadd_ps(load8(w + k), _mm256_loadu_ps(x + k), acc0);
  float s = simd::hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; k < n; ++k) s += scalar(w[k]) * x[k];
  return s;
}

void rows_f32(const MatvecArgs& a, int64_t n0, int64_t n1) {
  for_rows(a, n0, n1, [&](const uint8_t* row) {
    return dot_f32_avx2(reinterpret_cast<const float*>(row), a.x, a.K);
  });
}

void rows_f16(const MatvecArgs& a, int64_t n0, int64_t n1) {
  for_rows(a, n0, n1, [&](const uint8_t* row) {
    return dot_converted(reinterpret_cast<const uint16_t*>(row), a.x, a.K, load8_f16, fp16_to_f32);
  });
}

void rows_bf16(const MatvecArgs& a, int64_t n0, int64_t n1) {
  for_rows(a, n0, n1, [&](const uint8_t* row) {
    return dot_converted(reinterpret_cast<const uint16_t*>(row), a.x, a.K, load8_bf16, bf16_to_f32);
  });
}

inline __m256 bytes_to_ps(__m128i eight_bytes_low, bool is_signed) {
  return _mm256_cvtepi32_ps(is_signed ? _mm256_cvtepi8_epi32(eight_bytes_low) : _mm256_cvtepu8_epi32(eight_bytes_low));
}

void rows_q8_0(const MatvecArgs& a, int64_t n0, int64_t n1) {
  for_rows(a, n0, n1, [&](const uint8_t* row) {
    const auto* b = reinterpret_cast<const BlockQ8_0*>(row);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    const int64_t nb = a.K / kQK;
    for (int64_t i = 0; i < nb; ++i) {
      const float* x = a.x + i * kQK;
      const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].qs));
      const __m128i q1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].qs + 16));
      __m256 s = _mm256_mul_ps(bytes_to_ps(q0, true), _mm256_loadu_ps(x));
      s = _mm256_fmadd_ps(bytes_to_ps(_mm_srli_si128(q0, 8), true), _mm256_loadu_ps(x + 8), s);
      __m256 t = _mm256_mul_ps(bytes_to_ps(q1, true), _mm256_loadu_ps(x + 16));
      t = _mm256_fmadd_ps(bytes_to_ps(_mm_srli_si128(q1, 8), true), _mm256_loadu_ps(x + 24), t);
      const __m256 d = _mm256_set1_ps(_cvtsh_ss(b[i].d));
      if (i & 1) acc1 = _mm256_fmadd_ps(d, _mm256_add_ps(s, t), acc1);
      else acc0 = _mm256_fmadd_ps(d, _mm256_add_ps(s, t), acc0);
    }
    return simd::hsum(_mm256_add_ps(acc0, acc1));
  });
}

template <bool kHasMin>
void rows_q4(const MatvecArgs& a, int64_t n0, int64_t n1) {
  using Block = std::conditional_t<kHasMin, BlockQ4_1, BlockQ4_0>;
  const __m128i low_nibbles = _mm_set1_epi8(0x0F);
  for_rows(a, n0, n1, [&](const uint8_t* row) {
    const auto* b = reinterpret_cast<const Block*>(row);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float min_part = 0.f;
    const int64_t nb = a.K / kQK;
    for (int64_t i = 0; i < nb; ++i) {
      const float* x = a.x + i * kQK;
      const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].qs));
      const __m128i lo = _mm_and_si128(raw, low_nibbles);                     // elements 0..15
      const __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), low_nibbles);  // elements 16..31
      __m256 s = _mm256_mul_ps(bytes_to_ps(lo, false), _mm256_loadu_ps(x));
      s = _mm256_fmadd_ps(bytes_to_ps(_mm_srli_si128(lo, 8), false), _mm256_loadu_ps(x + 8), s);
      __m256 t = _mm256_mul_ps(bytes_to_ps(hi, false), _mm256_loadu_ps(x + 16));
      t = _mm256_fmadd_ps(bytes_to_ps(_mm_srli_si128(hi, 8), false), _mm256_loadu_ps(x + 24), t);
      const float d = _cvtsh_ss(b[i].d);
      float m;
      if constexpr (kHasMin) m = _cvtsh_ss(b[i].m);
      else m = -8.f * d;
      min_part += m * a.xsum[i];
      if (i & 1) acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_add_ps(s, t), acc1);
      else acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_add_ps(s, t), acc0);
    }
    return simd::hsum(_mm256_add_ps(acc0, acc1)) + min_part;
  });
}

// Σ over 32 unsigned bytes (values 0..15) times 32 floats of x.
inline __m256 nibbles32_dot(__m256i q, const float* x) {
  const __m128i q0 = _mm256_castsi256_si128(q), q1 = _mm256_extracti128_si256(q, 1);
  __m256 s = _mm256_mul_ps(bytes_to_ps(q0, false), _mm256_loadu_ps(x));
  s = _mm256_fmadd_ps(bytes_to_ps(_mm_srli_si128(q0, 8), false), _mm256_loadu_ps(x + 8), s);
  s = _mm256_fmadd_ps(bytes_to_ps(q1, false), _mm256_loadu_ps(x + 16), s);
  return _mm256_fmadd_ps(bytes_to_ps(_mm_srli_si128(q1, 8), false), _mm256_loadu_ps(x + 24), s);
}

// Q4_K: eight 32-element sub-blocks per 256, each with a 6-bit scale and min; the same
// d·Σq·x − m·Σx split as Q4_1, with Σx per 32 elements precomputed (a.xsum).
void rows_q4_k(const MatvecArgs& a, int64_t n0, int64_t n1) {
  const __m256i low_nibbles = _mm256_set1_epi8(0x0F);
  for_rows(a, n0, n1, [&](const uint8_t* row) {
    const auto* b = reinterpret_cast<const BlockQ4_K*>(row);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float min_part = 0.f;
    for (int64_t i = 0; i < a.K / kQK_K; ++i) {
      const float d = _cvtsh_ss(b[i].d), dmin = _cvtsh_ss(b[i].dmin);
      uint8_t sc[8], mn[8];
      for (int j = 0; j < 8; ++j) q4_k_scale_min(j, b[i].scales, sc[j], mn[j]);
      const float* x = a.x + i * kQK_K;
      const float* xsum = a.xsum + i * (kQK_K / kQK);
      for (int g = 0; g < 4; ++g) {  // 64 elements: low nibbles, then high nibbles
        const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs + 32 * g));
        const __m256 s_lo = nibbles32_dot(_mm256_and_si256(raw, low_nibbles), x + 64 * g);
        const __m256 s_hi = nibbles32_dot(_mm256_and_si256(_mm256_srli_epi16(raw, 4), low_nibbles), x + 64 * g + 32);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d * sc[2 * g]), s_lo, acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d * sc[2 * g + 1]), s_hi, acc1);
        min_part += dmin * (mn[2 * g] * xsum[2 * g] + mn[2 * g + 1] * xsum[2 * g + 1]);
      }
    }
    return simd::hsum(_mm256_add_ps(acc0, acc1)) - min_part;
  });
}

}  // namespace

float dot_f32_avx2(const float* a, const float* b, int64_t n) {
  return dot_converted(a, b, n, [](const float* p) { return _mm256_loadu_ps(p); }, [](float v) { return v; });
}

MatvecRowsFn matvec_kernel_avx2(DType t) {
  switch (t) {
    case DType::F32: return rows_f32;
    case DType::F16: return rows_f16;
    case DType::BF16: return rows_bf16;
    case DType::Q8_0: return rows_q8_0;
    case DType::Q4_0: return rows_q4<false>;
    case DType::Q4_1: return rows_q4<true>;
    case DType::Q4_K: return rows_q4_k;
    default: return nullptr;
  }
}

}  // namespace mnemo::kernels
