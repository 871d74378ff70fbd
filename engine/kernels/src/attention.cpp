// Flash-style attention on the CPU. Two paths share the online-softmax bookkeeping:
//   decode-sized (T_q < kTileRows): one task per (head, query row); scores over the visible keys
//     with AVX2 dots, then a weighted sum of V rows.
//   prefill: one task per (head, block of kTileRows queries), walking key blocks of kTileKeys;
//     S = Q·Kᵀ by sgemm, O += P·V by the AVX-512 tile kernel (attention_tiles_avx512.cpp) or
//     sgemm below that level, all on the calling thread; only S (64×256) is kept.
// Tasks are handed out through an atomic counter, the most expensive (latest causal blocks) first.
// When asked, both paths also gather each row's statistics (attention_stats.h) and pool the map
// over 4 × 4 cells; with a pooled map a decode-sized task takes the 4 rows of one cell row.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "attention_mask.h"
#include "attention_stats.h"
#include "attention_tiles.h"
#include "blas.h"
#include "cpu_level.h"
#include "matvec.h"
#include "mnemo/core/error.h"
#include "mnemo/core/simd_math.h"
#include "scratch.h"

namespace mnemo::kernels {
namespace {

constexpr int64_t kTileRows = 64;
constexpr int64_t kTileKeys = 256;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

void validate(const AttentionArgs& a) {
  if (a.n_heads <= 0 || a.n_kv_heads <= 0 || a.n_heads % a.n_kv_heads != 0 || a.head_dim <= 0)
    throw Error("attention: n_heads " + std::to_string(a.n_heads) + " is not a multiple of n_kv_heads " +
                std::to_string(a.n_kv_heads));
  if (a.T_q < 0 || a.T_k < 0 || !a.q || !a.out || (a.T_k > 0 && (!a.k || !a.v)))
    throw Error("attention: missing tensors or negative lengths");
  if ((a.pooled.max == nullptr) != (a.pooled.sum == nullptr))
    throw Error("attention: a pooled map needs both its max and its sum");
  if (a.pooled.max && a.q_pos0 % 4 != 0)
    throw Error("attention: a pooled map needs q_pos0 on a multiple of 4, not " + std::to_string(a.q_pos0));
}

// out = v * s, where s multiplies every element (used to rescale O rows and apply 1/l).
void scale_row(float* v, int64_t n, float s) {
  const __m256 vs = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(v + i, _mm256_mul_ps(_mm256_loadu_ps(v + i), vs));
  for (; i < n; ++i) v[i] *= s;
}

// Replaces row[j] by exp(row[j] - max) and returns the sum.
float exp_row(float* row, int64_t n, float max) {
  const __m256 vm = _mm256_set1_ps(max);
  __m256 vsum = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = simd::exp(_mm256_sub_ps(_mm256_loadu_ps(row + j), vm));
    _mm256_storeu_ps(row + j, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  if (j < n) {
    const int tail = static_cast<int>(n - j);
    const __m256 e = simd::exp(_mm256_sub_ps(simd::load_partial(row + j, tail), vm));
    simd::store_partial(row + j, e, tail);
    vsum = _mm256_add_ps(vsum, simd::load_partial(row + j, tail));
  }
  return simd::hsum(vsum);
}

float max_row(const float* row, int64_t n) {
  __m256 vmax = _mm256_set1_ps(kNegInf);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(row + j));
  float m = simd::hmax(vmax);
  for (; j < n; ++j) m = std::fmax(m, row[j]);
  return m;
}

bool wants_row_stats(const AttentionArgs& a) {
  const AttentionRowStats& s = a.row_stats;
  return s.entropy || s.mean_distance || s.sink || s.effective_keys;
}

int64_t pooled_rows(const AttentionArgs& a) { return (a.T_q + 3) / 4; }
int64_t pooled_cols(const AttentionArgs& a) { return (a.T_k + 3) / 4; }

void finish_row(const AttentionArgs& a, int64_t h, int64_t i, const float* acc, float max, float sum) {
  float* out = a.out + (i * a.n_heads + h) * a.head_dim;
  const float inv = sum > 0.f ? 1.f / sum : 0.f;
  for (int64_t d = 0; d < a.head_dim; ++d) out[d] = acc[d] * inv;
  if (a.lse) a.lse[h * a.T_q + i] = sum > 0.f ? max + std::log(sum) : kNegInf;
}

// Writes one row's statistics from its moments; l is the row's softmax sum.
void finish_row_stats(const AttentionArgs& a, int64_t h, int64_t i, const RowMoments& row, float l) {
  const AttentionRowStats& s = a.row_stats;
  const int64_t at = h * a.T_q + i;
  const double inv = l > 0.f ? 1.0 / l : 0.0;
  if (s.entropy) s.entropy[at] = l > 0.f ? static_cast<float>(std::log(static_cast<double>(l)) - row.weighted_logit * inv) : 0.f;
  if (s.mean_distance)
    s.mean_distance[at] = l > 0.f ? static_cast<float>(static_cast<double>(a.q_pos0 + i) - row.key_moment * inv) : 0.f;
  if (s.sink) s.sink[at] = static_cast<float>(row.sink * inv);
  if (s.effective_keys)
    s.effective_keys[at] = row.square_sum > 0 ? static_cast<float>(static_cast<double>(l) * l / row.square_sum) : 0.f;
}

// The calling thread's per-row moments for one task of up to kTileRows rows, zeroed.
RowMoments* row_moments(int64_t rows) {
  thread_local std::vector<RowMoments> moments;
  moments.assign(static_cast<size_t>(rows), RowMoments{});
  return moments.data();
}

// Query row i of head h, keys over the whole visible range at once. With a pooled map the row's
// p adds into its 4-row cell row, which the calling task owns.
void attend_one_row(const AttentionArgs& a, int64_t h, int64_t i) {
  const int64_t hd = a.head_dim;
  const int64_t g = h / (a.n_heads / a.n_kv_heads);
  const float* K = a.k + g * a.kv_head_stride;
  const float* V = a.v + g * a.kv_head_stride;
  const float* q = a.q + (i * a.n_heads + h) * hd;
  const KeyRange keys = visible_keys(a, i);
  const int64_t n = keys.end - keys.begin;
  float* score = scratch_floats(Scratch::AttentionScores, static_cast<size_t>(std::max<int64_t>(n, 1)));
  float* acc = scratch_floats(Scratch::AttentionAccum, static_cast<size_t>(hd));
  for (int64_t j = 0; j < n; ++j) score[j] = dot_f32_avx2(q, K + (keys.begin + j) * hd, hd) * a.scale;
  const float max = n > 0 ? max_row(score, n) : 0.f;
  float sum = 0.f;
  if (wants_row_stats(a)) {
    RowMoments moments;
    if (n > 0) sum = exp_row_with_moments(score, n, max, keys.begin, moments);
    finish_row_stats(a, h, i, moments, sum);
  } else if (n > 0) {
    sum = exp_row(score, n, max);
  }
  if (a.pooled.max && sum > 0.f) {
    const int64_t cols = pooled_cols(a);
    float* cell_max = a.pooled.max + (h * pooled_rows(a) + i / 4) * cols;
    float* cell_sum = a.pooled.sum + (h * pooled_rows(a) + i / 4) * cols;
    const float inv = 1.f / sum;
    for (int64_t j = 0; j < n; ++j) {
      const int64_t c = (keys.begin + j) / 4;
      const float p = score[j] * inv;
      cell_max[c] = std::max(cell_max[c], p);
      cell_sum[c] += p;
    }
  }
  for (int64_t d = 0; d < hd; ++d) acc[d] = 0.f;
  for (int64_t j = 0; j < n; ++j) {
    const float* vr = V + (keys.begin + j) * hd;
    const __m256 p = _mm256_set1_ps(score[j]);
    int64_t d = 0;
    for (; d + 8 <= hd; d += 8)
      _mm256_storeu_ps(acc + d, _mm256_fmadd_ps(p, _mm256_loadu_ps(vr + d), _mm256_loadu_ps(acc + d)));
    for (; d < hd; ++d) acc[d] += score[j] * vr[d];
  }
  finish_row(a, h, i, acc, max, sum);
}

// Zeroes the pooled cells of head h's cell rows [r0, r1).
void clear_pooled(const AttentionArgs& a, int64_t h, int64_t r0, int64_t r1) {
  const int64_t cols = pooled_cols(a), begin = (h * pooled_rows(a) + r0) * cols, end = (h * pooled_rows(a) + r1) * cols;
  std::fill(a.pooled.max + begin, a.pooled.max + end, 0.f);
  std::fill(a.pooled.sum + begin, a.pooled.sum + end, 0.f);
}

void attend_tile(const AttentionArgs& a, int64_t h, int64_t i0, int64_t i1) {
  const int64_t hd = a.head_dim, rows = i1 - i0, ldq = a.n_heads * hd;
  const int64_t g = h / (a.n_heads / a.n_kv_heads);
  const float* K = a.k + g * a.kv_head_stride;
  const float* V = a.v + g * a.kv_head_stride;
  const float* Q = a.q + i0 * ldq + h * hd;
  float* S = scratch_floats(Scratch::AttentionScores, static_cast<size_t>(kTileRows * kTileKeys));
  float* O = scratch_floats(Scratch::AttentionAccum, static_cast<size_t>(kTileRows * hd));
  float* state = scratch_floats(Scratch::AttentionState, static_cast<size_t>(2 * kTileRows));
  const bool tile_kernels = active_cpu_level() == CpuLevel::Avx512 && attention_tiles_support(hd);
  float* m = state;
  float* l = state + kTileRows;
  for (int64_t r = 0; r < rows; ++r) {
    m[r] = kNegInf;
    l[r] = 0.f;
  }
  for (int64_t e = 0; e < rows * hd; ++e) O[e] = 0.f;

  // Visible ranges only grow with the query row, so the tile's key span is first.begin..last.end;
  // it starts on a multiple of 4 so that 4-key cells never straddle two key blocks.
  const KeyRange first = visible_keys(a, i0), last = visible_keys(a, i1 - 1);
  const int64_t span_begin = first.begin & ~int64_t{3};
  const int64_t n_blocks = std::max<int64_t>(0, (last.end - span_begin + kTileKeys - 1) / kTileKeys);
  const bool stats = wants_row_stats(a), pooled = a.pooled.max != nullptr;
  RowMoments* moments = stats ? row_moments(rows) : nullptr;
  // Pooled: each row's 4-key cells over the span, in units of the max its block used.
  const int64_t span_cells = (last.end - span_begin + 3) / 4;
  float* cell_max = pooled ? scratch_floats(Scratch::AttentionPooled, static_cast<size_t>(2 * rows * span_cells)) : nullptr;
  float* cell_sum = cell_max ? cell_max + rows * span_cells : nullptr;
  float* block_max =
      pooled ? scratch_floats(Scratch::AttentionBlockMax, static_cast<size_t>(std::max<int64_t>(1, rows * n_blocks))) : nullptr;
  if (pooled) std::fill(cell_max, cell_max + 2 * rows * span_cells, 0.f);

  for (int64_t b = 0; b < n_blocks; ++b) {
    const int64_t j0 = span_begin + b * kTileKeys;
    const int64_t jn = std::min(kTileKeys, last.end - j0);
    blas_sgemm(true, rows, jn, hd, a.scale, Q, ldq, K + j0 * hd, hd, 0.f, S, kTileKeys);
    const bool needs_mask = last.begin > j0 || first.end < j0 + jn;
    for (int64_t r = 0; r < rows; ++r) {
      float* srow = S + r * kTileKeys;
      if (needs_mask) {
        const KeyRange keys = visible_keys(a, i0 + r);
        for (int64_t j = 0; j < jn; ++j)
          if (j0 + j < keys.begin || j0 + j >= keys.end) srow[j] = kNegInf;
      }
      const float new_max = std::fmax(m[r], max_row(srow, jn));
      if (new_max == kNegInf) {  // nothing visible yet in this row: contributes nothing
        for (int64_t j = 0; j < jn; ++j) srow[j] = 0.f;
        if (pooled) block_max[r * n_blocks + b] = kNegInf;
        continue;
      }
      const float rescale = std::exp(m[r] - new_max);  // 0 on the first visible block
      float block_sum;
      if (stats) {
        moments[r].rescale(m[r], new_max, l[r], rescale);
        block_sum = exp_row_with_moments(srow, jn, new_max, j0, moments[r]);
      } else {
        block_sum = exp_row(srow, jn, new_max);
      }
      l[r] = l[r] * rescale + block_sum;
      m[r] = new_max;
      if (rescale != 1.f) scale_row(O + r * hd, hd, rescale);
      if (pooled) {
        const int64_t c0 = (j0 - span_begin) / 4;
        pool_four_keys(srow, jn, cell_max + r * span_cells + c0, cell_sum + r * span_cells + c0);
        block_max[r * n_blocks + b] = new_max;
      }
    }
    if (tile_kernels) pv_tile_avx512(S, kTileKeys, V + j0 * hd, hd, rows, jn, O);
    else blas_sgemm(false, rows, hd, jn, 1.f, S, kTileKeys, V + j0 * hd, hd, 1.f, O, hd);
  }
  for (int64_t r = 0; r < rows; ++r) {
    finish_row(a, h, i0 + r, O + r * hd, m[r], l[r]);
    if (stats) finish_row_stats(a, h, i0 + r, moments[r], l[r]);
  }
  if (!pooled) return;
  // Each row's cells to p (its block's max against the row's final max and sum), then 4 rows
  // pooled into this task's cell rows.
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t b = 0; b < n_blocks; ++b) {
      float& f = block_max[r * n_blocks + b];
      f = (f == kNegInf || l[r] <= 0.f) ? 0.f : std::exp(f - m[r]) / l[r];
    }
  clear_pooled(a, h, i0 / 4, (i1 + 3) / 4);
  const int64_t cols = pooled_cols(a), cell_first = span_begin / 4, cells_per_block = kTileKeys / 4;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t out_row = (h * pooled_rows(a) + (i0 + r) / 4) * cols + cell_first;
    float* out_max = a.pooled.max + out_row;
    float* out_sum = a.pooled.sum + out_row;
    const float* in_max = cell_max + r * span_cells;
    const float* in_sum = cell_sum + r * span_cells;
    for (int64_t b = 0; b < n_blocks; ++b) {
      const float f = block_max[r * n_blocks + b];
      if (f == 0.f) continue;
      const __m256 vf = _mm256_set1_ps(f);
      int64_t c = b * cells_per_block;
      const int64_t c_end = std::min(span_cells, (b + 1) * cells_per_block);
      for (; c + 8 <= c_end; c += 8) {
        _mm256_storeu_ps(out_max + c, _mm256_max_ps(_mm256_loadu_ps(out_max + c), _mm256_mul_ps(_mm256_loadu_ps(in_max + c), vf)));
        _mm256_storeu_ps(out_sum + c, _mm256_fmadd_ps(_mm256_loadu_ps(in_sum + c), vf, _mm256_loadu_ps(out_sum + c)));
      }
      for (; c < c_end; ++c) {
        out_max[c] = std::max(out_max[c], in_max[c] * f);
        out_sum[c] += in_sum[c] * f;
      }
    }
  }
}

}  // namespace

void attention(ThreadPool& pool, const AttentionArgs& a) {
  validate(a);
  if (a.T_q == 0) return;
  const bool tiled = a.T_q >= kTileRows;
  const bool pooled = a.pooled.max != nullptr;
  // Row tasks own whole 4-row cell rows of the pooled map: with one, a task takes up to 4 rows.
  const int64_t rows_per_task = tiled ? kTileRows : pooled ? 4 : 1;
  const int64_t blocks = (a.T_q + rows_per_task - 1) / rows_per_task;
  const int64_t tasks = blocks * a.n_heads;
  std::atomic<int64_t> next{0};
  pool.run([&](int, int) {
    for (int64_t t = next.fetch_add(1); t < tasks; t = next.fetch_add(1)) {
      // Block index descending: under a causal mask the last query blocks see the most keys.
      const int64_t block = blocks - 1 - t / a.n_heads, h = t % a.n_heads;
      const int64_t i0 = block * rows_per_task, i1 = std::min(a.T_q, i0 + rows_per_task);
      if (tiled) {
        attend_tile(a, h, i0, i1);
      } else {
        if (pooled) clear_pooled(a, h, i0 / 4, (i1 + 3) / 4);
        for (int64_t i = i0; i < i1; ++i) attend_one_row(a, h, i);
      }
    }
  });
}

}  // namespace mnemo::kernels
