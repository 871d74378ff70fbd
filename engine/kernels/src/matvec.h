// Matrix-vector kernels for decode (M == 1): y[n] = W[n,:]·x + bias[n] over a range of rows, with
// x kept in fp32 whatever W's storage type. One table of kernels per instruction-set level.
#pragma once

#include <cstddef>
#include <cstdint>

#include "mnemo/core/dtype.h"

namespace mnemo::kernels {

struct MatvecArgs {
  const uint8_t* w = nullptr;  // row n starts at w + n * row_bytes
  size_t row_bytes = 0;
  const float* x = nullptr;      // [K]
  const float* xsum = nullptr;   // [K/32] sums of x per 32-element block (Q4_0 / Q4_1 only)
  const float* bias = nullptr;   // [N] or null
  int64_t K = 0;
  float* y = nullptr;            // [N]
};

// Runs row_dot(row bytes) -> float for rows [n0, n1) and stores dot + bias: the part every
// kernel shares.
template <class RowDot>
inline void for_rows(const MatvecArgs& a, int64_t n0, int64_t n1, RowDot row_dot) {
  for (int64_t n = n0; n < n1; ++n) {
    const float dot = row_dot(a.w + static_cast<size_t>(n) * a.row_bytes);
    a.y[n] = a.bias ? dot + a.bias[n] : dot;
  }
}

using MatvecRowsFn = void (*)(const MatvecArgs& a, int64_t n0, int64_t n1);

// The kernel for W's type at each level, or null when the type has no kernel there.
MatvecRowsFn matvec_kernel_scalar(DType t);
MatvecRowsFn matvec_kernel_avx2(DType t);
MatvecRowsFn matvec_kernel_avx512(DType t);

// Plain fp32 dot product at the baseline level (used by the small-M path and attention).
float dot_f32_avx2(const float* a, const float* b, int64_t n);

}  // namespace mnemo::kernels
