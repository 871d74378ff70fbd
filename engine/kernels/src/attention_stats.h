// What attention() gathers about each query row while its scores are in cache, so that a recorder
// never computes them again (AttentionRowStats and the pooled map in attention.h).
//
// The online softmax sees a row's keys block by block as e = exp(s − m), m the row's running max,
// and rescales its sum l whenever m grows. Everything here follows the same rule:
//   W = Σ e·(s − m)        entropy   = ln l − W/l
//   M = Σ e·j              distance  = pos − M/l
//   e₀ (key 0)             sink      = e₀/l
//   Q = Σ e²               effective keys = l²/Q  (1/Σp², rescaled by the square of l's factor)
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "mnemo/core/simd_math.h"

namespace mnemo::kernels {

// The running sums of one row (see the top of this file), rescaled with the softmax's l.
struct RowMoments {
  double weighted_logit = 0;  // W = Σ e·(s − m)
  double key_moment = 0;      // M = Σ e·j
  double square_sum = 0;      // Q = Σ e²
  float sink = 0;             // e of key 0

  // The row's max moves from m_old (sum l_old) to m_new; rescale = exp(m_old − m_new).
  void rescale(float m_old, float m_new, float l_old, float rescale) {
    if (l_old <= 0.f) return;  // nothing accumulated yet
    weighted_logit = rescale * (weighted_logit + static_cast<double>(m_old - m_new) * l_old);
    key_moment *= rescale;
    square_sum *= static_cast<double>(rescale) * rescale;
    sink *= rescale;
  }
};

// exp(s − max) in place for keys key0 .. key0+n−1, adding Σe·(s − max), Σe·j and Σe² to `row`'s
// moments. Hidden keys (s = −inf) give e = 0 and add nothing. Returns Σe.
inline float exp_row_with_moments(float* s, int64_t n, float max, int64_t key0, RowMoments& row) {
  const __m256 vm = _mm256_set1_ps(max), floor_t = _mm256_set1_ps(-104.f), eight = _mm256_set1_ps(8.f);
  __m256 vsum = _mm256_setzero_ps(), vw = _mm256_setzero_ps(), vmoment = _mm256_setzero_ps(), vsquare = _mm256_setzero_ps();
  __m256 offset = _mm256_setr_ps(0.f, 1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f);
  int64_t j = 0;
  for (; j < n; j += 8, offset = _mm256_add_ps(offset, eight)) {
    const int lanes = static_cast<int>(std::min<int64_t>(8, n - j));
    const __m256 t = _mm256_sub_ps(lanes == 8 ? _mm256_loadu_ps(s + j) : simd::load_partial(s + j, lanes), vm);
    __m256 e = simd::exp(t);
    if (lanes < 8) e = _mm256_and_ps(e, simd::lane_mask(lanes));
    if (lanes == 8) _mm256_storeu_ps(s + j, e);
    else simd::store_partial(s + j, e, lanes);
    vsum = _mm256_add_ps(vsum, e);
    // t is clamped where e is 0 anyway, so a hidden key's 0·(−inf) never makes a NaN.
    vw = _mm256_fmadd_ps(e, _mm256_max_ps(t, floor_t), vw);
    vmoment = _mm256_fmadd_ps(e, offset, vmoment);
    vsquare = _mm256_fmadd_ps(e, e, vsquare);
  }
  const float sum = simd::hsum(vsum);
  row.weighted_logit += simd::hsum(vw);
  row.square_sum += simd::hsum(vsquare);
  // Offsets within the block in float, the block's start added in double.
  row.key_moment += static_cast<double>(simd::hsum(vmoment)) + static_cast<double>(key0) * sum;
  if (key0 == 0 && n > 0) row.sink = s[0];
  return sum;
}

// Max and sum of e over 4-key cells: keys key0 .. key0+n−1 with key0 a multiple of 4; cell c of
// the output covers keys key0 + 4c .. key0 + 4c + 3 (keys past n count as 0).
inline void pool_four_keys(const float* e, int64_t n, float* cell_max, float* cell_sum) {
  int64_t j = 0, c = 0;
  // 32 keys → 8 cells: pairwise sums/maxes twice, then the lanes put back in key order.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  auto pair_max = [](__m256 x, __m256 y) {
    return _mm256_max_ps(_mm256_shuffle_ps(x, y, _MM_SHUFFLE(2, 0, 2, 0)), _mm256_shuffle_ps(x, y, _MM_SHUFFLE(3, 1, 3, 1)));
  };
  for (; j + 32 <= n; j += 32, c += 8) {
    const __m256 v0 = _mm256_loadu_ps(e + j), v1 = _mm256_loadu_ps(e + j + 8);
    const __m256 v2 = _mm256_loadu_ps(e + j + 16), v3 = _mm256_loadu_ps(e + j + 24);
    const __m256 sum = _mm256_hadd_ps(_mm256_hadd_ps(v0, v1), _mm256_hadd_ps(v2, v3));
    const __m256 max = pair_max(pair_max(v0, v1), pair_max(v2, v3));
    _mm256_storeu_ps(cell_sum + c, _mm256_permutevar8x32_ps(sum, order));
    _mm256_storeu_ps(cell_max + c, _mm256_permutevar8x32_ps(max, order));
  }
  for (; j < n; j += 4, ++c) {
    float mx = 0.f, sm = 0.f;
    for (int64_t k = j; k < std::min(n, j + 4); ++k) mx = std::max(mx, e[k]), sm += e[k];
    cell_max[c] = mx, cell_sum[c] = sm;
  }
}

}  // namespace mnemo::kernels
