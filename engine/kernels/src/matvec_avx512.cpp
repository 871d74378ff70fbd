// AVX-512 matrix-vector kernels for the 32-element quants (one block = two 16-lane vectors).
// Called only after cpu_level() reports avx512.
// GCC 12 warns falsely inside avx512fintrin.h (its own _mm512_undefined_* helpers).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <type_traits>

#include "matvec.h"
#include "quant_blocks.h"

namespace mnemo::kernels {
namespace {

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

// Σ q·x over one block (unscaled) and its scale d and min m; Q4_0 stores q - 8, i.e. m = -8d.
template <class Block, bool kHasMin>
inline __m512 q4_block(const Block& blk, const float* x, float& d, float& m) {
  // One byte per 32-bit lane: the low nibble is element j, the high nibble element j + 16.
  const __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.qs)));
  const __m512 lo = _mm512_cvtepi32_ps(_mm512_and_si512(bytes, _mm512_set1_epi32(0x0F)));
  const __m512 hi = _mm512_cvtepi32_ps(_mm512_srli_epi32(bytes, 4));
  d = _cvtsh_ss(blk.d);
  if constexpr (kHasMin) m = _cvtsh_ss(blk.m);
  else m = -8.f * d;
  return _mm512_fmadd_ps(hi, _mm512_loadu_ps(x + 16), _mm512_mul_ps(lo, _mm512_loadu_ps(x)));
}

// Two blocks per iteration into separate vector and scalar accumulators: a single scalar chain
// for the m·Σx terms would cost an FMA latency per block.
template <bool kHasMin>
void rows_q4(const MatvecArgs& a, int64_t n0, int64_t n1) {
  using Block = std::conditional_t<kHasMin, BlockQ4_1, BlockQ4_0>;
  for_rows(a, n0, n1, [&](const uint8_t* row) {
    const auto* b = reinterpret_cast<const Block*>(row);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    float min0 = 0.f, min1 = 0.f, d, m;
    const int64_t nb = a.K / kQK;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
      const __m512 s0 = q4_block<Block, kHasMin>(b[i], a.x + i * kQK, d, m);
      acc0 = _mm512_fmadd_ps(_mm512_set1_ps(d), s0, acc0);
      min0 += m * a.xsum[i];
      const __m512 s1 = q4_block<Block, kHasMin>(b[i + 1], a.x + (i + 1) * kQK, d, m);
      acc1 = _mm512_fmadd_ps(_mm512_set1_ps(d), s1, acc1);
      min1 += m * a.xsum[i + 1];
    }
    if (i < nb) {
      const __m512 s0 = q4_block<Block, kHasMin>(b[i], a.x + i * kQK, d, m);
      acc0 = _mm512_fmadd_ps(_mm512_set1_ps(d), s0, acc0);
      min0 += m * a.xsum[i];
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) + (min0 + min1);
  });
}

}  // namespace

MatvecRowsFn matvec_kernel_avx512(DType t) {
  switch (t) {
    // The float types stream faster through the AVX2 kernels on Zen 4 (f16 LM head 50257x768,
    // one thread: 17-18 GB/s vs 13-14 GB/s with 512-bit loads, which split a cache line on every
    // load when a row is not 64-byte aligned).
    case DType::F32: case DType::F16: case DType::BF16: case DType::Q4_K: return matvec_kernel_avx2(t);
    case DType::Q8_0: return rows_q8_0;
    case DType::Q4_0: return rows_q4<false>;
    case DType::Q4_1: return rows_q4<true>;
    default: return nullptr;
  }
}

}  // namespace mnemo::kernels
