#include "mnemo/profiler/session/attention_math.h"

#include <cblas.h>
#include <immintrin.h>
#include <zstd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>

#include "mnemo/core/blas_core.h"
#include "mnemo/core/error.h"
#include "mnemo/core/fp16.h"
#include "mnemo/core/simd_math.h"

namespace mnemo::profiler {
namespace {

constexpr int64_t kRowBlock = 4, kColBlock = 16;
constexpr int64_t kBlasRows = 16;

// s = q·kᵀ for up to 4 rows and 16 keys, k transposed [d][16]: 8 AVX2 accumulators, one
// broadcast per row and two key loads per dimension.
inline void dot_block(const float* q, int64_t nr, int d, const float* kt, float acc[kRowBlock][kColBlock]) {
  static const float kZeros[4096] = {};
  const float* rows[kRowBlock];
  for (int64_t r = 0; r < kRowBlock; ++r) rows[r] = r < nr ? q + r * d : kZeros;
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
  for (int t = 0; t < d; ++t) {
    const __m256 k0 = _mm256_loadu_ps(kt + t * kColBlock), k1 = _mm256_loadu_ps(kt + t * kColBlock + 8);
    __m256 b = _mm256_broadcast_ss(rows[0] + t);
    a00 = _mm256_fmadd_ps(b, k0, a00), a01 = _mm256_fmadd_ps(b, k1, a01);
    b = _mm256_broadcast_ss(rows[1] + t);
    a10 = _mm256_fmadd_ps(b, k0, a10), a11 = _mm256_fmadd_ps(b, k1, a11);
    b = _mm256_broadcast_ss(rows[2] + t);
    a20 = _mm256_fmadd_ps(b, k0, a20), a21 = _mm256_fmadd_ps(b, k1, a21);
    b = _mm256_broadcast_ss(rows[3] + t);
    a30 = _mm256_fmadd_ps(b, k0, a30), a31 = _mm256_fmadd_ps(b, k1, a31);
  }
  _mm256_storeu_ps(acc[0], a00), _mm256_storeu_ps(acc[0] + 8, a01);
  _mm256_storeu_ps(acc[1], a10), _mm256_storeu_ps(acc[1] + 8, a11);
  _mm256_storeu_ps(acc[2], a20), _mm256_storeu_ps(acc[2] + 8, a21);
  _mm256_storeu_ps(acc[3], a30), _mm256_storeu_ps(acc[3] + 8, a31);
}

}  // namespace

// F16C is part of the x86-64-v3 baseline; the scalar forms (mnemo/core/fp16.h) do the tails.
void fp16_to_f32(std::span<const uint16_t> in, float* out) {
  size_t i = 0;
  for (; i + 8 <= in.size(); i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in.data() + i))));
  for (; i < in.size(); ++i) out[i] = mnemo::fp16_to_f32(in[i]);
}

void f32_to_fp16(std::span<const float> in, uint16_t* out) {
  size_t i = 0;
  for (; i + 8 <= in.size(); i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(in.data() + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < in.size(); ++i) out[i] = mnemo::f32_to_fp16(in[i]);
}

// One row against row-major keys: a dot product per visible key, no transposition (decode steps).
void logits_one_row(const float* q, const QueryRow& row, const float* k, int64_t col0, int64_t cols, int d, float scale,
                    const MaskSpec& mask, float* out) {
  constexpr float kHidden = -std::numeric_limits<float>::infinity();
  const int64_t b = std::clamp(mask.begin(row) - col0, int64_t{0}, cols), e = std::clamp(mask.end(row) - col0, b, cols);
  std::fill(out, out + b, kHidden);
  std::fill(out + e, out + cols, kHidden);
  int64_t j = b;
  if (d % 8 == 0) {
    // Four keys at a time: four independent FMA chains instead of one latency-bound chain.
    for (; j + 4 <= e; j += 4) {
      const float* k0 = k + j * d;
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int t = 0; t < d; t += 8) {
        const __m256 qv = _mm256_loadu_ps(q + t);
        a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + t), a0);
        a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + d + t), a1);
        a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + 2 * d + t), a2);
        a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + 3 * d + t), a3);
      }
      // Horizontal sums of the four accumulators, side by side.
      const __m256 h01 = _mm256_hadd_ps(a0, a1), h23 = _mm256_hadd_ps(a2, a3);
      const __m256 h = _mm256_hadd_ps(h01, h23);
      const __m128 sums = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
      _mm_storeu_ps(out + j, _mm_mul_ps(sums, _mm_set1_ps(scale)));
    }
  }
  for (; j < e; ++j) {
    const float* kj = k + j * d;
    float dot = 0.f;
    for (int t = 0; t < d; ++t) dot += q[t] * kj[t];
    out[j] = dot * scale;
  }
}

void attention_logits(std::span<const float> q, std::span<const QueryRow> rows, std::span<const float> k, int64_t col0,
                      int64_t cols, int d, float scale, const MaskSpec& mask, float* out) {
  const auto n_rows = static_cast<int64_t>(rows.size());
  if (n_rows <= 2) {
    for (int64_t r = 0; r < n_rows; ++r)
      logits_one_row(q.data() + r * d, rows[static_cast<size_t>(r)], k.data(), col0, cols, d, scale, mask, out + r * cols);
    return;
  }
  constexpr float kHidden = -std::numeric_limits<float>::infinity();
  if (n_rows >= kBlasRows) {
    // Blocks of many rows (prefills) go to OpenBLAS's sgemm, over the columns any row can see.
    int64_t lo = cols, hi = 0;
    for (const QueryRow& r : rows)
      lo = std::min(lo, std::max<int64_t>(0, mask.begin(r) - col0)), hi = std::max(hi, std::min(cols, mask.end(r) - col0));
    if (hi > lo) {
      static std::once_flag single_threaded;
      std::call_once(single_threaded, [] {
        setup_openblas_core();        // this CPU's kernels, before the first BLAS call
        openblas_set_num_threads(1);  // callers bring their own threads
      });
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(n_rows), static_cast<blasint>(hi - lo),
                  d, scale, q.data(), d, k.data() + lo * d, d, 0.f, out + lo, static_cast<blasint>(cols));
    }
    for (int64_t r = 0; r < n_rows; ++r) {
      float* o = out + r * cols;
      const int64_t b = std::clamp(mask.begin(rows[static_cast<size_t>(r)]) - col0, int64_t{0}, cols);
      const int64_t e = std::clamp(mask.end(rows[static_cast<size_t>(r)]) - col0, b, cols);
      std::fill(o, o + b, kHidden);
      std::fill(o + e, o + cols, kHidden);
    }
    return;
  }
  std::vector<float> kt(static_cast<size_t>(d) * kColBlock);
  float acc[kRowBlock][kColBlock];
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (const QueryRow& r : rows) lo = std::min(lo, mask.begin(r)), hi = std::max(hi, mask.end(r));
  for (int64_t cb = 0; cb < cols; cb += kColBlock) {
    const int64_t nc = std::min(kColBlock, cols - cb);
    // Skip key blocks no row can see (the upper triangle of a causal map).
    const bool any = col0 + cb < hi && col0 + cb + nc > lo;
    if (any) {
      for (int t = 0; t < d; ++t)
        for (int64_t c = 0; c < kColBlock; ++c) kt[t * kColBlock + c] = c < nc ? k[(cb + c) * d + t] : 0.f;
    }
    for (int64_t rb = 0; rb < n_rows; rb += kRowBlock) {
      const int64_t nr = std::min(kRowBlock, n_rows - rb);
      bool block_visible = false;
      for (int64_t r = 0; r < nr && any; ++r) {
        const QueryRow& row = rows[rb + r];
        block_visible |= col0 + cb < mask.end(row) && col0 + cb + nc > mask.begin(row);
      }
      if (block_visible) dot_block(q.data() + rb * d, nr, d, kt.data(), acc);
      for (int64_t r = 0; r < nr; ++r) {
        const QueryRow& row = rows[rb + r];
        float* o = out + (rb + r) * cols + cb;
        if (!block_visible) {
          std::fill(o, o + nc, kHidden);
          continue;
        }
        const int64_t b = mask.begin(row) - col0 - cb, e = mask.end(row) - col0 - cb;
        for (int64_t c = 0; c < nc; ++c) o[c] = (c >= b && c < e) ? acc[r][c] * scale : kHidden;
      }
    }
  }
}

void attention_probs(std::span<const float> q, std::span<const QueryRow> rows, std::span<const float> k, int64_t col0,
                     int64_t cols, int d, float scale, const MaskSpec& mask, float* out) {
  attention_logits(q, rows, k, col0, cols, d, scale, mask, out);
  for (size_t r = 0; r < rows.size(); ++r) {
    float* o = out + static_cast<int64_t>(r) * cols;
    const __m256 vlse = _mm256_set1_ps(rows[r].lse);
    // exp(−inf) is 0, so hidden cells come out as 0 without a mask; the clamp at 0 keeps a
    // rounding-high score from exceeding probability 1.
    for (int64_t c = 0; c < cols; c += 8) {
      const int n = static_cast<int>(std::min<int64_t>(8, cols - c));
      const __m256 x = _mm256_min_ps(_mm256_sub_ps(simd::load_partial(o + c, n), vlse), _mm256_setzero_ps());
      simd::store_partial(o + c, simd::exp(x), n);
    }
  }
}

void HeadMetricAccumulator::add_row(std::span<const float> p, const QueryRow& row, const MaskSpec& mask) {
  const int64_t b = std::min<int64_t>(mask.begin(row), static_cast<int64_t>(p.size()));
  const int64_t e = std::min<int64_t>(mask.end(row), static_cast<int64_t>(p.size()));
  // Σp, Σp² and Σp·(pos − j) = (pos − c0)·Σp − Σp·(j − c0), in float over chunks of 1024 keys on
  // 8 lanes, in double across chunks: the error stays far below what the metrics are read for.
  double h = 0, distance = 0, total = 0, squares = 0;
  for (int64_t c0 = b; c0 < e; c0 += 1024) {
    const int64_t c1 = std::min(e, c0 + 1024);
    __m256 vsum = _mm256_setzero_ps(), vmoment = _mm256_setzero_ps(), vsquare = _mm256_setzero_ps();
    __m256 offset = _mm256_setr_ps(0.f, 1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f);
    const __m256 eight = _mm256_set1_ps(8.f);
    int64_t j = c0;
    for (; j + 8 <= c1; j += 8, offset = _mm256_add_ps(offset, eight)) {
      const __m256 v = _mm256_loadu_ps(p.data() + j);
      vsum = _mm256_add_ps(vsum, v);
      vmoment = _mm256_fmadd_ps(v, offset, vmoment);
      vsquare = _mm256_fmadd_ps(v, v, vsquare);
    }
    double sum = simd::hsum(vsum), moment = simd::hsum(vmoment), square = simd::hsum(vsquare);
    for (; j < c1; ++j)
      sum += p[j], moment += static_cast<double>(p[j]) * static_cast<double>(j - c0), square += static_cast<double>(p[j]) * p[j];
    distance += static_cast<double>(row.pos - c0) * sum - moment;
    total += sum;
    squares += square;
  }
  for (int64_t j = b; j < e; ++j)
    if (p[j] > 0) h -= static_cast<double>(p[j]) * std::log(static_cast<double>(p[j]));
  entropy_ += h;
  distance_ += distance;
  sink_ += (b == 0 && e > 0) ? p[0] : 0.0;
  // Effective keys of the row as it is (its p sum to 1 up to rounding): (Σp)² / Σp².
  if (squares > 0) sparsity_ += sparsity_of(total * total / squares, e - b);
  ++rows_;
}

HeadMetrics HeadMetricAccumulator::result() const {
  if (rows_ == 0) return {};
  const double n = static_cast<double>(rows_);
  return {entropy_ / n, distance_ / n, sink_ / n, sparsity_ / n};
}

int64_t cells_inside(int level, int64_t r, int64_t c, int64_t map_rows, int64_t map_cols) {
  const int64_t s = int64_t{1} << level;
  const int64_t nr = std::clamp(map_rows - r * s, int64_t{0}, s), nc = std::clamp(map_cols - c * s, int64_t{0}, s);
  return nr * nc;
}

LevelRange stored_levels(int64_t map_rows, int64_t map_cols, int first_level) {
  const int64_t extent = std::max(map_rows, map_cols);
  LevelRange range{first_level, -1};
  if (extent <= kTileSize) return range;
  int last = 0;
  while (((extent + (int64_t{1} << last) - 1) >> last) > kTileSize) ++last;
  range.last = std::max(last, first_level);
  return range;
}

PyramidBuilder::PyramidBuilder(int64_t map_rows, int64_t map_cols, int first_level)
    : map_rows_(map_rows), map_cols_(map_cols) {
  base_.level = first_level;
  const int64_t s = int64_t{1} << first_level;
  base_.rows = (map_rows + s - 1) / s;
  base_.cols = (map_cols + s - 1) / s;
  base_.max.assign(static_cast<size_t>(base_.rows * base_.cols), 0.f);
  base_.sum.assign(base_.max.size(), 0.f);
}

PyramidBuilder::PyramidBuilder(int64_t map_rows, int64_t map_cols, PooledLevel base)
    : map_rows_(map_rows), map_cols_(map_cols), base_(std::move(base)) {
  const int64_t s = int64_t{1} << base_.level;
  if (base_.rows != (map_rows + s - 1) / s || base_.cols != (map_cols + s - 1) / s ||
      base_.max.size() != static_cast<size_t>(base_.rows * base_.cols) || base_.sum.size() != base_.max.size())
    throw Error("pooled level " + std::to_string(base_.level) + " does not match a " + std::to_string(map_rows) + " x " +
                std::to_string(map_cols) + " map");
}

void PyramidBuilder::add_rows(int64_t row0, int64_t n, const float* p, int64_t stride) {
  const int shift = base_.level;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = (row0 + i) >> shift;
    float* mx = base_.max.data() + r * base_.cols;
    float* sm = base_.sum.data() + r * base_.cols;
    const float* row = p + i * stride;
    const int64_t s = int64_t{1} << shift;
    for (int64_t c = 0; c < base_.cols; ++c) {
      const int64_t j0 = c * s, j1 = std::min(map_cols_, j0 + s);
      float m = mx[c], acc = 0.f;
      for (int64_t j = j0; j < j1; ++j) m = std::max(m, row[j]), acc += row[j];
      mx[c] = m;
      sm[c] += acc;
    }
  }
}

std::vector<PooledLevel> PyramidBuilder::finish(int min_last) {
  std::vector<PooledLevel> levels;
  levels.push_back(std::move(base_));
  while (std::max(levels.back().rows, levels.back().cols) > kTileSize || levels.back().level < min_last) {
    const PooledLevel& lo = levels.back();
    PooledLevel up;
    up.level = lo.level + 1;
    up.rows = (lo.rows + 1) / 2;
    up.cols = (lo.cols + 1) / 2;
    up.max.assign(static_cast<size_t>(up.rows * up.cols), 0.f);
    up.sum.assign(up.max.size(), 0.f);
    // Row by row, pairs of cells at a time (a cell per element with divisions was a quarter of
    // the writer's pyramid time): the rows of `lo` fold into `up` in two passes.
    for (int64_t r = 0; r < lo.rows; ++r) {
      const float* from_max = lo.max.data() + r * lo.cols;
      const float* from_sum = lo.sum.data() + r * lo.cols;
      float* to_max = up.max.data() + (r / 2) * up.cols;
      float* to_sum = up.sum.data() + (r / 2) * up.cols;
      const int64_t pairs = lo.cols / 2;
      for (int64_t c = 0; c < pairs; ++c) {
        to_max[c] = std::max(to_max[c], std::max(from_max[2 * c], from_max[2 * c + 1]));
        to_sum[c] += from_sum[2 * c] + from_sum[2 * c + 1];
      }
      if (lo.cols % 2) {
        to_max[pairs] = std::max(to_max[pairs], from_max[lo.cols - 1]);
        to_sum[pairs] += from_sum[lo.cols - 1];
      }
    }
    levels.push_back(std::move(up));
  }
  return levels;
}

std::vector<uint8_t> encode_tile(std::span<const float> values, TileCodec codec) {
  std::vector<uint16_t> half(values.size());
  f32_to_fp16(values, half.data());
  const size_t raw = half.size() * 2;
  if (codec == TileCodec::F16) {
    std::vector<uint8_t> out(raw);
    std::memcpy(out.data(), half.data(), raw);
    return out;
  }
  std::vector<uint8_t> out(ZSTD_compressBound(raw));
  // zstd's fast level −5: on SmolLM2's 68×68 pyramid tiles (a 544-token prefill) 1.84× at ~930
  // MB/s, against level −1's 1.91× at ~310 MB/s and level 1's 2.09× at ~330 MB/s (the fp16 cells'
  // low bytes are noise no level shrinks; tiles are ~4% of a session), and the writer thread's
  // time is what recording costs. One context per thread: setting one up costs as much as a tile.
  struct Context {
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    ~Context() { ZSTD_freeCCtx(cctx); }
  };
  thread_local Context context;
  if (!context.cctx) throw Error("zstd: cannot allocate a compression context");
  const size_t n = ZSTD_compressCCtx(context.cctx, out.data(), out.size(), half.data(), raw, -5);
  if (ZSTD_isError(n)) throw Error(std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

std::vector<float> decode_tile(std::span<const uint8_t> bytes, TileCodec codec, int64_t n_values, const char* what) {
  std::vector<uint16_t> half(static_cast<size_t>(n_values));
  const size_t raw = half.size() * 2;
  if (codec == TileCodec::F16) {
    if (bytes.size() != raw)
      throw Error(std::string(what) + ": " + std::to_string(bytes.size()) + " bytes, expected " + std::to_string(raw));
    std::memcpy(half.data(), bytes.data(), raw);
  } else {
    const unsigned long long declared = ZSTD_getFrameContentSize(bytes.data(), bytes.size());
    if (declared != raw)
      throw Error(std::string(what) + ": compressed tile does not hold " + std::to_string(raw) + " bytes");
    struct Context {
      ZSTD_DCtx* dctx = ZSTD_createDCtx();
      ~Context() { ZSTD_freeDCtx(dctx); }
    };
    thread_local Context context;  // as for compression: a context per tile would cost as much as the tile
    if (!context.dctx) throw Error("zstd: cannot allocate a decompression context");
    const size_t n = ZSTD_decompressDCtx(context.dctx, half.data(), raw, bytes.data(), bytes.size());
    if (ZSTD_isError(n) || n != raw) throw Error(std::string(what) + ": corrupt compressed tile");
  }
  std::vector<float> out(half.size());
  fp16_to_f32(half, out.data());
  return out;
}

}  // namespace mnemo::profiler
