// Scalar conversions for the plain float types and the legacy 32-element quants, following GGML's
// reference code (ggml-quants.c). The K-quant decoders live in quant_kquants.cpp.
#include "mnemo/kernels/quant.h"

#include <immintrin.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <string>

#include "mnemo/core/error.h"
#include "mnemo/core/fp16.h"
#include "quant_blocks.h"
#include "quant_internal.h"

namespace mnemo::kernels {
namespace {


void dequantize_f16(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)  // F16C is part of the x86-64-v3 baseline
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  for (; i < n; ++i) dst[i] = fp16_to_f32(src[i]);
}

void dequantize_bf16(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
  }
  for (; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

// The 32-element decoders use AVX2 (the build's baseline): they feed the prefill panels and the
// embedding lookups. Each product d·q is exact in float (≤ 11 + 8 bits), so the fused q·d + m of
// Q4_1 rounds exactly as GGML's separate multiply and add; the golden tests check it bit for bit.
inline __m256 bytes8_to_ps(__m128i v, bool is_signed) {
  return _mm256_cvtepi32_ps(is_signed ? _mm256_cvtepi8_epi32(v) : _mm256_cvtepu8_epi32(v));
}

// Decodes 16 nibble-coded bytes into elements [0, 16) (low nibbles) and [16, 32) as q·d + m, or,
// for Q4_0, as (q - 8)·d with the subtraction done on integers: -8d + q·d would turn GGML's -0
// (d = -0 in an all-zero block) into +0.
template <bool kQ4_0>
inline void store_nibbles(__m128i raw, __m256 d, __m256 m, float* out) {
  const __m128i mask = _mm_set1_epi8(0x0F);
  __m128i lo = _mm_and_si128(raw, mask), hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
  if constexpr (kQ4_0) {
    lo = _mm_sub_epi8(lo, _mm_set1_epi8(8));
    hi = _mm_sub_epi8(hi, _mm_set1_epi8(8));
  }
  const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
  for (int p = 0; p < 4; ++p) {
    const __m256 q = bytes8_to_ps(parts[p], kQ4_0);
    _mm256_storeu_ps(out + 8 * p, kQ4_0 ? _mm256_mul_ps(q, d) : _mm256_fmadd_ps(q, d, m));
  }
}

void dequantize_q8_0(const BlockQ8_0* b, float* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, dst += kQK) {
    const __m256 d = _mm256_set1_ps(fp16_to_f32(b[i].d));
    for (int j = 0; j < kQK; j += 8) {
      const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b[i].qs + j));
      _mm256_storeu_ps(dst + j, _mm256_mul_ps(bytes8_to_ps(q, true), d));
    }
  }
}

void dequantize_q4_0(const BlockQ4_0* b, float* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, dst += kQK) {
    store_nibbles<true>(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].qs)),
                        _mm256_set1_ps(fp16_to_f32(b[i].d)), _mm256_setzero_ps(), dst);
  }
}

void dequantize_q4_1(const BlockQ4_1* b, float* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, dst += kQK)
    store_nibbles<false>(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].qs)),
                         _mm256_set1_ps(fp16_to_f32(b[i].d)), _mm256_set1_ps(fp16_to_f32(b[i].m)), dst);
}

void quantize_q8_0(const float* x, BlockQ8_0* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    float amax = 0.f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    b[i].d = f32_to_fp16(d);
    for (int j = 0; j < kQK; ++j) b[i].qs[j] = static_cast<int8_t>(std::roundf(x[j] * id));
  }
}

void quantize_q4_0(const float* x, BlockQ4_0* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    float amax = 0.f, max = 0.f;  // the value of largest magnitude, sign kept (first one wins)
    for (int j = 0; j < kQK; ++j)
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    const float d = max / -8.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    b[i].d = f32_to_fp16(d);
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = std::min(15, static_cast<int>(product_rounded(x[j], id) + 8.5f));
      const int hi = std::min(15, static_cast<int>(product_rounded(x[j + kQK / 2], id) + 8.5f));
      b[i].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void quantize_q4_1(const float* x, BlockQ4_1* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < kQK; ++j) {
      min = std::min(min, x[j]);
      max = std::max(max, x[j]);
    }
    const float d = (max - min) / 15.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    b[i].d = f32_to_fp16(d);
    b[i].m = f32_to_fp16(min);
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = std::min(15, static_cast<int>(product_rounded(x[j] - min, id) + 0.5f));
      const int hi = std::min(15, static_cast<int>(product_rounded(x[j + kQK / 2] - min, id) + 0.5f));
      b[i].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void check_whole_blocks(DType t, int64_t n) {
  if (n % traits(t).block_elems != 0)
    throw Error("quant: row of " + std::to_string(n) + " elements is not a whole number of " +
                std::string(dtype_name(t)) + " blocks");
}

}  // namespace

bool can_dequantize(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16: case DType::Q8_0: case DType::Q4_0:
    case DType::Q4_1: case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K:
    case DType::Q6_K:
      return true;
    default:
      return false;
  }
}

bool can_quantize(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16: case DType::Q8_0: case DType::Q4_0:
    case DType::Q4_1:
      return true;
    default:
      return false;
  }
}

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  check_whole_blocks(t, n);
  const int64_t nb = n / traits(t).block_elems;
  switch (t) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); return;
    case DType::F16: dequantize_f16(static_cast<const uint16_t*>(src), dst, n); return;
    case DType::BF16: dequantize_bf16(static_cast<const uint16_t*>(src), dst, n); return;
    case DType::Q8_0: dequantize_q8_0(static_cast<const BlockQ8_0*>(src), dst, nb); return;
    case DType::Q4_0: dequantize_q4_0(static_cast<const BlockQ4_0*>(src), dst, nb); return;
    case DType::Q4_1: dequantize_q4_1(static_cast<const BlockQ4_1*>(src), dst, nb); return;
    case DType::Q2_K: dequantize_q2_k(src, dst, nb); return;
    case DType::Q3_K: dequantize_q3_k(src, dst, nb); return;
    case DType::Q4_K: dequantize_q4_k(src, dst, nb); return;
    case DType::Q5_K: dequantize_q5_k(src, dst, nb); return;
    case DType::Q6_K: dequantize_q6_k(src, dst, nb); return;
    default: throw Error("dequantize_row: unsupported type " + std::string(dtype_name(t)));
  }
}

void quantize_row(DType t, const float* src, void* dst, int64_t n) {
  check_whole_blocks(t, n);
  const int64_t nb = n / traits(t).block_elems;
  switch (t) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); return;
    case DType::F16: {
      auto* out = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) out[i] = f32_to_fp16(src[i]);
      return;
    }
    case DType::BF16: {
      auto* out = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) out[i] = f32_to_bf16(src[i]);
      return;
    }
    case DType::Q8_0: quantize_q8_0(src, static_cast<BlockQ8_0*>(dst), nb); return;
    case DType::Q4_0: quantize_q4_0(src, static_cast<BlockQ4_0*>(dst), nb); return;
    case DType::Q4_1: quantize_q4_1(src, static_cast<BlockQ4_1*>(dst), nb); return;
    default: throw Error("quantize_row: unsupported type " + std::string(dtype_name(t)));
  }
}

}  // namespace mnemo::kernels
