// Portable matrix-vector kernels: the MNEMO_CPU=scalar path (valgrind, debugging) and the
// specification the SIMD variants are tested against.
#include "matvec.h"

#include <type_traits>

#include "mnemo/core/fp16.h"
#include "quant_blocks.h"

namespace mnemo::kernels {
namespace {

void rows_f32(const MatvecArgs& a, int64_t n0, int64_t n1) {
  for_rows(a, n0, n1, [&](const uint8_t* row) {
    const auto* w = reinterpret_cast<const float*>(row);
    float s = 0.f;
    for (int64_t k = 0; k < a.K; ++k) s += w[k] * a.x[k];
    return s;
  });
}

void rows_f16(const MatvecArgs& a, int64_t n0, int64_t n1) {
  for_rows(a, n0, n1, [&](const uint8_t* row) {
    const auto* w = reinterpret_cast<const uint16_t*>(row);
    float s = 0.f;
    for (int64_t k = 0; k < a.K; ++k) s += fp16_to_f32(w[k]) * a.x[k];
    return s;
  });
}

void rows_bf16(const MatvecArgs& a, int64_t n0, int64_t n1) {
  for_rows(a, n0, n1, [&](const uint8_t* row) {
    const auto* w = reinterpret_cast<const uint16_t*>(row);
    float s = 0.f;
    for (int64_t k = 0; k < a.K; ++k) s += bf16_to_f32(w[k]) * a.x[k];
    return s;
  });
}

void rows_q8_0(const MatvecArgs& a, int64_t n0, int64_t n1) {
  for_rows(a, n0, n1, [&](const uint8_t* row) {
    const auto* b = reinterpret_cast<const BlockQ8_0*>(row);
    float s = 0.f;
    for (int64_t i = 0; i < a.K / kQK; ++i) {
      float bs = 0.f;
      for (int j = 0; j < kQK; ++j) bs += static_cast<float>(b[i].qs[j]) * a.x[i * kQK + j];
      s += fp16_to_f32(b[i].d) * bs;
    }
    return s;
  });
}

// Q4_0 and Q4_1 share the trick: Σ (d·q + m)·x = d·Σ q·x + m·Σ x, with Σ x per block precomputed.
// Q4_0 stores q - 8, i.e. m = -8d.
template <bool kHasMin>
void rows_q4(const MatvecArgs& a, int64_t n0, int64_t n1) {
  using Block = std::conditional_t<kHasMin, BlockQ4_1, BlockQ4_0>;
  for_rows(a, n0, n1, [&](const uint8_t* row) {
    const auto* b = reinterpret_cast<const Block*>(row);
    float s = 0.f;
    for (int64_t i = 0; i < a.K / kQK; ++i) {
      const float* x = a.x + i * kQK;
      float bs = 0.f;
      for (int j = 0; j < kQK / 2; ++j)
        bs += static_cast<float>(b[i].qs[j] & 0xF) * x[j] + static_cast<float>(b[i].qs[j] >> 4) * x[j + 16];
      const float d = fp16_to_f32(b[i].d);
      float m;
      if constexpr (kHasMin) m = fp16_to_f32(b[i].m);
      else m = -8.f * d;
      s += d * bs + m * a.xsum[i];
    }
    return s;
  });
}

}  // namespace

MatvecRowsFn matvec_kernel_scalar(DType t) {
  switch (t) {
    case DType::F32: return rows_f32;
    case DType::F16: return rows_f16;
    case DType::BF16: return rows_bf16;
    case DType::Q8_0: return rows_q8_0;
    case DType::Q4_0: return rows_q4<false>;
    case DType::Q4_1: return rows_q4<true>;
    default: return nullptr;
  }
}

}  // namespace mnemo::kernels
