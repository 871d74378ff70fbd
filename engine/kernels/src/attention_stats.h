// What attention() gathers about each query row while its scores are in cache, so that a recorder
// never computes them again (AttentionRowStats and the pooled map in attention.h).
//
// The online softmax sees a row's keys block by block as e = exp(s − m), m the row's running max,
// and rescales its sum l whenever m grows. Everything here follows the same rule:
//   W = Σ e·(s − m)        entropy   = ln l − W/l
//   M = Σ e·j              distance  = pos − M/l
//   e₀ (key 0)             sink      = e₀/l
// and a histogram of the probabilities gives the keys that hold 90% of the mass.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "mnemo/core/simd_math.h"

namespace mnemo::kernels {

// How many of a row's keys hold a given share of its mass, from a histogram of the keys' values in
// bins 1/8 octave wide (a float's exponent and top three mantissa bits, so a bin's values differ by
// at most 12.5%). Bins above the one where the running mass crosses the share count whole; in that
// bin the count is the remaining mass over the bin's mean value. The estimate is therefore off by
// at most a fraction of one bin's keys; exact ties are the only case that needs no estimate.
//
// Values are kept relative to a top edge, a whole number of octaves above the first block's max,
// so a later, larger max only shifts the bins by whole octaves (exact, since octaves map bins onto
// bins). 24 octaves are kept; lower values join the last bin (they would need over 2^24 keys to
// matter).
class MassHistogram {
 public:
  static constexpr int kOctaves = 24;
  static constexpr int kBins = 8 * kOctaves;

  // Clears only the bins the last row touched: a tile resets 64 rows per task.
  void reset() {
    top_ = -std::numeric_limits<float>::infinity();
    for (int b = 0; b < used_; ++b) count_[b] = 0, mass_[b] = 0.f;
    used_ = 0;
  }

  // Adds keys whose values are e[j] = exp(s_j − m); every key given is visible.
  void add(const float* e, int64_t n, float m) {
    if (n <= 0) return;
    if (!(m <= top_)) raise_top(m);
    const float to_top = std::exp(m - top_);
    const __m256 f = _mm256_set1_ps(to_top);
    // Bin of v ≤ 1: 1016 − (bits(v) >> 20), where 1016 is the exponent and mantissa bits of 1.0.
    const __m256i one = _mm256_set1_epi32(1016), last = _mm256_set1_epi32(kBins - 1), zero = _mm256_setzero_si256();
    alignas(32) int32_t bin[8];
    alignas(32) float value[8];
    __m256i highest = zero;
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
      const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(e + j), f);
      __m256i b = _mm256_sub_epi32(one, _mm256_srli_epi32(_mm256_castps_si256(v), 20));
      b = _mm256_min_epi32(_mm256_max_epi32(b, zero), last);
      highest = _mm256_max_epi32(highest, b);
      _mm256_store_si256(reinterpret_cast<__m256i*>(bin), b);
      _mm256_store_ps(value, v);
      for (int l = 0; l < 8; ++l) ++count_[bin[l]], mass_[bin[l]] += value[l];
    }
    _mm256_store_si256(reinterpret_cast<__m256i*>(bin), highest);
    for (int l = 0; l < 8; ++l) used_ = std::max(used_, bin[l] + 1);
    for (; j < n; ++j) {
      const float v = e[j] * to_top;
      const int b = bin_of(v);
      ++count_[b], mass_[b] += v;
      used_ = std::max(used_, b + 1);
    }
  }

  // Keys (at least 1 when any key was added) whose values sum to `share` of the total.
  float keys_for_share(double share) const { return count_keys(share, nullptr, 0, 0.f); }

  // The same, exact: `e` (= exp(s − m)) holds every key added, so the crossing bin's values are
  // gathered and taken largest first instead of estimated (what a row seen in one piece affords).
  float keys_for_share_exact(double share, const float* e, int64_t n, float m) const { return count_keys(share, e, n, m); }

 private:
  float count_keys(double share, const float* e, int64_t n_e, float m) const {
    double total = 0;
    for (int b = 0; b < used_; ++b) total += mass_[b];
    // Less a float rounding's worth, so that exact ties count as reached.
    const double target = share * total * (1 - 1e-6);
    double above = 0;
    int64_t keys = 0;
    for (int b = 0; b < used_; ++b) {
      const int64_t n = count_[b];
      if (n == 0) continue;
      if (above + mass_[b] >= target) {
        if (e) return static_cast<float>(keys + keys_in_bin(b, target - above, e, n_e, m));
        const double needed = std::ceil((target - above) * static_cast<double>(n) / mass_[b] - 1e-9);
        return static_cast<float>(keys + std::clamp<int64_t>(static_cast<int64_t>(needed), 1, n));
      }
      above += mass_[b];
      keys += n;
    }
    return static_cast<float>(keys);
  }

  static int bin_of(float v) { return std::clamp(1016 - static_cast<int>(std::bit_cast<uint32_t>(v) >> 20), 0, kBins - 1); }

  // How many of bin b's values, largest first, reach `mass` (at least 1).
  int64_t keys_in_bin(int b, double mass, const float* e, int64_t n, float m) const {
    thread_local std::vector<float> values;
    values.clear();
    const float to_top = std::exp(m - top_);
    for (int64_t j = 0; j < n; ++j) {
      const float v = e[j] * to_top;
      if (bin_of(v) == b) values.push_back(v);
    }
    std::sort(values.begin(), values.end(), std::greater<>());
    double sum = 0;
    int64_t k = 0;
    while (k < static_cast<int64_t>(values.size()) && sum < mass) sum += values[static_cast<size_t>(k++)];
    return std::max<int64_t>(k, 1);
  }

  // Moves the top edge up by whole octaves so that m sits at least two octaves below it.
  void raise_top(float m) {
    constexpr float kLn2 = 0.693147180559945f;
    if (top_ == -std::numeric_limits<float>::infinity()) {
      top_ = m + 2 * kLn2;
      return;
    }
    const int octaves = static_cast<int>(std::ceil((m - top_) / kLn2)) + 2;
    const int shift = 8 * octaves;
    const float scale = std::ldexp(1.f, -octaves);
    mass_[kBins - 1] *= scale;
    for (int b = used_ - 1; b >= 0; --b) {
      const int to = std::min(b + shift, kBins - 1);
      if (to == b) continue;
      count_[to] += count_[b];
      mass_[to] += mass_[b] * scale;
      count_[b] = 0, mass_[b] = 0.f;
    }
    if (used_ > 0) used_ = std::min(used_ + shift, kBins);
    top_ += static_cast<float>(octaves) * kLn2;
  }

  float top_ = -std::numeric_limits<float>::infinity();
  int used_ = kBins;  // bins [used_, kBins) are all zero; everything, until the first reset
  uint32_t count_[kBins];
  float mass_[kBins];
};

// The running sums of one row (see the top of this file), rescaled with the softmax's l.
struct RowMoments {
  double weighted_logit = 0;  // W = Σ e·(s − m)
  double key_moment = 0;      // M = Σ e·j
  float sink = 0;             // e of key 0
  bool sink_seen = false;

  // The row's max moves from m_old (sum l_old) to m_new; rescale = exp(m_old − m_new).
  void rescale(float m_old, float m_new, float l_old, float rescale) {
    if (l_old <= 0.f) return;  // nothing accumulated yet
    weighted_logit = rescale * (weighted_logit + static_cast<double>(m_old - m_new) * l_old);
    key_moment *= rescale;
    sink *= rescale;
  }
};

// exp(s − max) in place for keys key0 .. key0+n−1, adding Σe·(s − max) and Σe·j to `row`'s
// moments. Hidden keys (s = −inf) give e = 0 and add nothing. Returns Σe.
inline float exp_row_with_moments(float* s, int64_t n, float max, int64_t key0, RowMoments& row) {
  const __m256 vm = _mm256_set1_ps(max), floor_t = _mm256_set1_ps(-104.f), eight = _mm256_set1_ps(8.f);
  __m256 vsum = _mm256_setzero_ps(), vw = _mm256_setzero_ps(), vmoment = _mm256_setzero_ps();
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
  }
  const float sum = simd::hsum(vsum);
  row.weighted_logit += simd::hsum(vw);
  // Offsets within the block in float, the block's start added in double.
  row.key_moment += static_cast<double>(simd::hsum(vmoment)) + static_cast<double>(key0) * sum;
  if (key0 == 0 && n > 0) {
    row.sink = s[0];
    row.sink_seen = true;
  }
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
