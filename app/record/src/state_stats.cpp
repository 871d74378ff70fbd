#include "mnemo/record/state_stats.h"

#include <algorithm>
#include <cmath>

#include "mnemo/kernels/matmul.h"

namespace mnemo::record {

NormAndRank norm_and_effective_rank(const float* s, int64_t rows, int64_t cols, std::vector<float>& scratch) {
  double sum_sq = 0;
  for (int64_t i = 0; i < rows * cols; ++i) sum_sq += static_cast<double>(s[i]) * s[i];
  if (sum_sq == 0) return {};
  // G = S Sᵀ over rows when there are fewer rows, else SᵀS, from Sᵀ copied row-major (a Gated
  // DeltaNet head is 64 × 128, a Mamba-2 head 128 × 64: the copy costs less than a strided Gram).
  const bool by_rows = rows <= cols;
  const int64_t n = by_rows ? rows : cols, inner = by_rows ? cols : rows;
  scratch.resize(static_cast<size_t>(n * n + (by_rows ? 0 : n * inner)));
  float* gram = scratch.data();
  const float* a = s;
  if (!by_rows) {
    float* t = scratch.data() + n * n;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) t[c * rows + r] = s[r * cols + c];
    a = t;
  }
  kernels::sgemm(/*b_transposed=*/true, n, n, inner, 1.f, a, inner, a, inner, 0.f, gram, n);
  double gram_sq = 0;
  for (int64_t i = 0; i < n * n; ++i) gram_sq += static_cast<double>(gram[i]) * gram[i];
  // The ratio lies in [1, n]; fp32 rounding may move a rank-1 state's a few ulps below 1.
  return {std::sqrt(sum_sq), std::clamp(sum_sq * sum_sq / gram_sq, 1.0, static_cast<double>(n))};
}

}  // namespace mnemo::record
