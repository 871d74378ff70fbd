#include "mnemo/profiler/session/attention_math.h"

#include <immintrin.h>
#include <zstd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "mnemo/core/error.h"
#include "mnemo/core/fp16.h"

namespace mnemo::profiler {
namespace {

// exp for x ≤ 0 (all our arguments: log-probabilities), written so GCC vectorizes the loops that
// call it. Cody–Waite reduction x = n·ln2 + r, |r| ≤ ln2/2, degree-6 polynomial: ≤ 2 ulp; below
// −87 it returns 0 (probabilities under 1e-38 do not show in any view).
inline float exp_nonpositive(float x) {
  x = std::max(x, -87.f);
  const float n = std::nearbyint(x * 1.44269504088896341f);
  float r = std::fma(n, -0.693145751953125f, x);
  r = std::fma(n, -1.428606765330187045e-06f, r);
  float p = 1.3981999507e-3f;
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  p = std::fma(p, r * r, r + 1.f);
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return p * std::bit_cast<float>(bits);
}

constexpr int64_t kRowBlock = 4, kColBlock = 16;

// s = q·kᵀ for up to 4 rows and 16 keys, k transposed [d][16].
inline void dot_block(const float* q, int64_t nr, int d, const float* kt, float acc[kRowBlock][kColBlock]) {
  for (int64_t r = 0; r < kRowBlock; ++r)
    for (int64_t c = 0; c < kColBlock; ++c) acc[r][c] = 0.f;
  for (int t = 0; t < d; ++t) {
    const float* kr = kt + t * kColBlock;
    for (int64_t r = 0; r < kRowBlock; ++r) {
      const float qv = r < nr ? q[r * d + t] : 0.f;
      for (int64_t c = 0; c < kColBlock; ++c) acc[r][c] += qv * kr[c];
    }
  }
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

void attention_logits(std::span<const float> q, std::span<const QueryRow> rows, std::span<const float> k, int64_t col0,
                      int64_t cols, int d, float scale, const MaskSpec& mask, float* out) {
  const auto n_rows = static_cast<int64_t>(rows.size());
  constexpr float kHidden = -std::numeric_limits<float>::infinity();
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
    const float lse = rows[r].lse;
    // exp(-inf - lse) clamps to exp(-87) ≈ 0 below; hidden cells are set to exactly 0.
    for (int64_t c = 0; c < cols; ++c) {
      const float l = o[c];
      const float p = exp_nonpositive(std::min(l - lse, 0.f));
      o[c] = l == -std::numeric_limits<float>::infinity() ? 0.f : p;
    }
  }
}

float softmax_in_place(float* logits, int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n; ++j) m = std::max(m, logits[j]);
  if (m == -std::numeric_limits<float>::infinity()) {
    std::fill(logits, logits + n, 0.f);
    return m;
  }
  float sum = 0.f;
  for (int64_t j = 0; j < n; ++j) {
    const float l = logits[j];
    const float e = exp_nonpositive(l - m);
    logits[j] = l == -std::numeric_limits<float>::infinity() ? 0.f : e;
    sum += logits[j];
  }
  const float inv = 1.f / sum;
  for (int64_t j = 0; j < n; ++j) logits[j] *= inv;
  return m + std::log(sum);
}

int64_t count_for_mass(std::span<float> v, double mass) {
  // Quickselect on mass: keep the part of v where the boundary lies, counting what is above it.
  int64_t count = 0;
  size_t lo = 0, hi = v.size();
  double need = mass;
  while (lo < hi && need > 0) {
    const float a = v[lo], b = v[(lo + hi) / 2], c = v[hi - 1];
    const float pivot = std::max(std::min(a, b), std::min(std::max(a, b), c));
    // Three-way partition: [lo, gt) > pivot, [gt, eq) == pivot, [eq, hi) < pivot.
    size_t gt = lo, i = lo, lt = hi;
    while (i < lt) {
      if (v[i] > pivot) std::swap(v[i++], v[gt++]);
      else if (v[i] < pivot) std::swap(v[i], v[--lt]);
      else ++i;
    }
    double above = 0;
    for (size_t j = lo; j < gt; ++j) above += v[j];
    if (above >= need) {
      hi = gt;
      continue;
    }
    const double equal_mass = static_cast<double>(pivot) * static_cast<double>(lt - gt);
    count += static_cast<int64_t>(gt - lo);
    need -= above;
    if (equal_mass >= need) return count + (pivot > 0 ? static_cast<int64_t>(std::ceil(need / pivot - 1e-9)) : 0);
    count += static_cast<int64_t>(lt - gt);
    need -= equal_mass;
    lo = lt;
  }
  return count;
}

void HeadMetricAccumulator::add_row(std::span<const float> p, const QueryRow& row, const MaskSpec& mask) {
  const int64_t b = std::min<int64_t>(mask.begin(row), static_cast<int64_t>(p.size()));
  const int64_t e = std::min<int64_t>(mask.end(row), static_cast<int64_t>(p.size()));
  double entropy = 0, distance = 0;
  for (int64_t j = b; j < e; ++j) {
    const double pj = p[j];
    if (pj > 0) entropy -= pj * std::log(pj);
    distance += pj * static_cast<double>(row.pos - j);
  }
  entropy_ += entropy;
  distance_ += distance;
  sink_ += (b == 0 && e > 0) ? p[0] : 0.0;
  const int64_t visible = e - b;
  if (visible > 0) {
    scratch_.assign(p.begin() + b, p.begin() + e);
    double total = 0;
    for (float x : scratch_) total += x;
    sparsity_ += 1.0 - static_cast<double>(count_for_mass(scratch_, 0.9 * total)) / static_cast<double>(visible);
  }
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
  range.last = last;
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

std::vector<PooledLevel> PyramidBuilder::finish() {
  std::vector<PooledLevel> levels;
  levels.push_back(std::move(base_));
  while (std::max(levels.back().rows, levels.back().cols) > kTileSize) {
    const PooledLevel& lo = levels.back();
    PooledLevel up;
    up.level = lo.level + 1;
    up.rows = (lo.rows + 1) / 2;
    up.cols = (lo.cols + 1) / 2;
    up.max.assign(static_cast<size_t>(up.rows * up.cols), 0.f);
    up.sum.assign(up.max.size(), 0.f);
    for (int64_t r = 0; r < lo.rows; ++r)
      for (int64_t c = 0; c < lo.cols; ++c) {
        const size_t from = static_cast<size_t>(r * lo.cols + c), to = static_cast<size_t>((r / 2) * up.cols + c / 2);
        up.max[to] = std::max(up.max[to], lo.max[from]);
        up.sum[to] += lo.sum[from];
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
  const size_t n = ZSTD_compress(out.data(), out.size(), half.data(), raw, 3);
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
    const size_t n = ZSTD_decompress(half.data(), raw, bytes.data(), bytes.size());
    if (ZSTD_isError(n) || n != raw) throw Error(std::string(what) + ": corrupt compressed tile");
  }
  std::vector<float> out(half.size());
  fp16_to_f32(half, out.data());
  return out;
}

}  // namespace mnemo::profiler
