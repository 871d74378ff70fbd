// Flash-style attention on the CPU. Two paths share the online-softmax bookkeeping:
//   decode-sized (T_q < kTileRows): one task per (head, query row); scores over the visible keys
//     with AVX2 dots, then a weighted sum of V rows.
//   prefill: one task per (head, block of kTileRows queries), walking key blocks of kTileKeys;
//     S = Q·Kᵀ by sgemm, O += P·V by the AVX-512 tile kernel (attention_tiles_avx512.cpp) or
//     sgemm below that level, all on the calling thread; only S (64×256) is kept.
// Tasks are handed out through an atomic counter, the most expensive (latest causal blocks) first.
#include <immintrin.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "attention_mask.h"
#include "attention_tiles.h"
#include "blas.h"
#include "cpu_level.h"
#include "matvec.h"
#include "mnemo/core/error.h"
#include "scratch.h"
#include "mnemo/core/simd_math.h"

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

void finish_row(const AttentionArgs& a, int64_t h, int64_t i, const float* acc, float max, float sum) {
  float* out = a.out + (i * a.n_heads + h) * a.head_dim;
  const float inv = sum > 0.f ? 1.f / sum : 0.f;
  for (int64_t d = 0; d < a.head_dim; ++d) out[d] = acc[d] * inv;
  if (a.lse) a.lse[h * a.T_q + i] = sum > 0.f ? max + std::log(sum) : kNegInf;
}

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
  const float sum = n > 0 ? exp_row(score, n, max) : 0.f;
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

  // Visible ranges only grow with the query row, so the tile's key span is first.begin..last.end.
  const KeyRange first = visible_keys(a, i0), last = visible_keys(a, i1 - 1);
  for (int64_t j0 = first.begin; j0 < last.end; j0 += kTileKeys) {
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
        continue;
      }
      const float rescale = std::exp(m[r] - new_max);  // 0 on the first visible block
      l[r] = l[r] * rescale + exp_row(srow, jn, new_max);
      m[r] = new_max;
      if (rescale != 1.f) scale_row(O + r * hd, hd, rescale);
    }
    if (tile_kernels) pv_tile_avx512(S, kTileKeys, V + j0 * hd, hd, rows, jn, O);
    else blas_sgemm(false, rows, hd, jn, 1.f, S, kTileKeys, V + j0 * hd, hd, 1.f, O, hd);
  }
  for (int64_t r = 0; r < rows; ++r) finish_row(a, h, i0 + r, O + r * hd, m[r], l[r]);
}

}  // namespace

void attention(ThreadPool& pool, const AttentionArgs& a) {
  validate(a);
  if (a.T_q == 0) return;
  const bool tiled = a.T_q >= kTileRows;
  const int64_t blocks = tiled ? (a.T_q + kTileRows - 1) / kTileRows : a.T_q;
  const int64_t tasks = blocks * a.n_heads;
  std::atomic<int64_t> next{0};
  pool.run([&](int, int) {
    for (int64_t t = next.fetch_add(1); t < tasks; t = next.fetch_add(1)) {
      // Block index descending: under a causal mask the last query blocks see the most keys.
      const int64_t block = blocks - 1 - t / a.n_heads, h = t % a.n_heads;
      if (tiled) attend_tile(a, h, block * kTileRows, std::min(a.T_q, (block + 1) * kTileRows));
      else attend_one_row(a, h, block);
    }
  });
}

}  // namespace mnemo::kernels
