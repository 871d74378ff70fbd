// Implicit attention of the diagonal-decay families (linear attention, RetNet, GLA, Mamba-1 per
// channel, Mamba-2 per head), any tile of the map, stably:
//
//   A[i][j] = scale · w_j · Σ_d q_i[d] k_j[d] exp(G_i[d] − G_j[d]),  j ≤ i.
//
// G is summed here in double from the per-token log decays, relative to the tile's first column,
// so a tile far down the map loses nothing to a large cumulative sum. exp is only ever taken of a
// non-positive number: rows are taken 16 at a time; the columns before a block are measured from
// a reference column r just before it (q_i·exp(G_i − G_r) and k_j·exp(G_r − G_j), one sgemm), and
// the columns inside the block take each exp(G_i − G_j) directly. A tile wholly below the
// diagonal is therefore one sgemm of 256 × 256 × dim.
#include <algorithm>
#include <cmath>
#include <vector>

#include "mnemo/profiler/session/implicit_attention.h"
#include "tile_math.h"

namespace mnemo::profiler {
namespace {

using tile_math::exp_in_place;
using tile_math::sgemm_nt;

constexpr int64_t kRowBlock = 16;

// How many values G has per token: 0 (no decay), 1 (one per token) or dim (one per key dim).
int64_t gate_dims(const DecayFactors& f) {
  const LogDecay& g = f.decay;
  if ((g.per_token && g.per_dim) || (g.per_token && g.rates)) return f.dim;
  return g.per_token || g.per_step != 0.f ? 1 : 0;
}

// G_t − G_{c0} in double for the tile's columns [c0, c_end) and rows [r0, r1).
struct CumulativeDecay {
  int64_t dims = 0;
  std::vector<double> cols, rows;  // [t − c0][dims], [t − r0][dims]
};

CumulativeDecay cumulative_decay(const DecayFactors& f, int64_t c0, int64_t c_end, int64_t r0, int64_t r1) {
  CumulativeDecay cd;
  cd.dims = gate_dims(f);
  const int64_t n = cd.dims;
  if (n == 0) return cd;
  cd.cols.assign((c_end - c0) * n, 0.0);
  cd.rows.assign((r1 - r0) * n, 0.0);
  const LogDecay& g = f.decay;
  std::vector<double> acc(n, 0.0);
  for (int64_t t = c0; t < std::max(c_end, r1); ++t) {
    if (t > c0)
      for (int64_t d = 0; d < n; ++d) {
        double step = g.per_step;
        if (g.per_token) {
          const double value = g.per_token[t * g.stride + (g.per_dim ? d : 0)];
          step += g.rate * value * (g.rates ? g.rates[d] : 1.f);
        }
        acc[d] += step;
      }
    if (t < c_end) std::copy(acc.begin(), acc.end(), cd.cols.begin() + (t - c0) * n);
    if (t >= r0 && t < r1) std::copy(acc.begin(), acc.end(), cd.rows.begin() + (t - r0) * n);
  }
  return cd;
}

// Rows [ra, rb) against columns [c0, jr] with jr < ra: both sides measured from column jr.
void far_block(const DecayFactors& f, const CumulativeDecay& cd, const TileRange& t, int64_t ra, int64_t rb,
               int64_t jr, float* out, int64_t ld, std::vector<float>& qt, std::vector<float>& kt) {
  const int64_t dim = f.dim, nr = rb - ra, nc = jr + 1 - t.c0, n = cd.dims;
  qt.resize(nr * dim);
  kt.resize(nc * dim);
  const double* gr = n ? &cd.cols[(jr - t.c0) * n] : nullptr;
  for (int64_t i = 0; i < nr; ++i) {
    float* row = &qt[i * dim];
    for (int64_t d = 0; d < dim; ++d) row[d] = n ? static_cast<float>(cd.rows[(ra - t.r0 + i) * n + (n > 1 ? d : 0)] - gr[n > 1 ? d : 0]) : 0.f;
    exp_in_place(row, dim);
    const float* q = f.q + (ra + i) * f.q_stride;
    for (int64_t d = 0; d < dim; ++d) row[d] *= f.scale * q[d];
  }
  for (int64_t j = 0; j < nc; ++j) {
    float* row = &kt[j * dim];
    for (int64_t d = 0; d < dim; ++d) row[d] = n ? static_cast<float>(gr[n > 1 ? d : 0] - cd.cols[j * n + (n > 1 ? d : 0)]) : 0.f;
    exp_in_place(row, dim);
    const float* k = f.k + (t.c0 + j) * f.k_stride;
    for (int64_t d = 0; d < dim; ++d) row[d] *= k[d];
  }
  sgemm_nt(nr, nc, dim, qt.data(), kt.data(), out + (ra - t.r0) * ld, ld);
}

// Rows [a, ae) against columns [j0, j1) around the diagonal: each exp(G_i − G_j) directly.
void near_block(const DecayFactors& f, const CumulativeDecay& cd, const TileRange& t, int64_t a, int64_t ae,
                int64_t j0, int64_t j1, float* out, int64_t ld, std::vector<float>& diff) {
  const int64_t dim = f.dim, n = cd.dims;
  diff.resize(dim);
  for (int64_t i = a; i < ae; ++i) {
    const float* q = f.q + i * f.q_stride;
    for (int64_t j = j0; j < std::min(j1, i + 1); ++j) {
      const float* k = f.k + j * f.k_stride;
      const double* gi = n ? &cd.rows[(i - t.r0) * n] : nullptr;
      const double* gj = n ? &cd.cols[(j - t.c0) * n] : nullptr;
      float s = 0.f;
      if (n == dim && n > 1) {
        for (int64_t d = 0; d < dim; ++d) diff[d] = static_cast<float>(gi[d] - gj[d]);
        exp_in_place(diff.data(), dim);
        for (int64_t d = 0; d < dim; ++d) s += q[d] * k[d] * diff[d];
      } else {
        for (int64_t d = 0; d < dim; ++d) s += q[d] * k[d];
        if (n) s *= std::exp(static_cast<float>(gi[0] - gj[0]));
      }
      out[(i - t.r0) * ld + (j - t.c0)] = f.scale * s;
    }
  }
}

}  // namespace

void decay_implicit_attention(const DecayFactors& f, const TileRange& t, float* out, int64_t ld) {
  for (int64_t i = 0; i < t.rows(); ++i) std::fill(out + i * ld, out + i * ld + t.cols(), 0.f);
  const int64_t c_end = std::min(t.c1, t.r1);  // columns after the last row are 0
  if (c_end <= t.c0 || t.rows() <= 0) return;
  const CumulativeDecay cd = cumulative_decay(f, t.c0, c_end, t.r0, t.r1);
  std::vector<float> qt, kt, diff;

  // Rows at or after the last column: all columns are behind them, one block from column c_end − 1.
  const int64_t far_rows = std::max(t.r0, c_end);
  if (far_rows < t.r1) far_block(f, cd, t, far_rows, t.r1, c_end - 1, out, ld, qt, kt);
  // Rows beside the columns: blocks of 16, columns before each block measured from just before it.
  for (int64_t a = t.r0; a < far_rows; a += kRowBlock) {
    const int64_t ae = std::min(far_rows, a + kRowBlock);
    if (a > t.c0) far_block(f, cd, t, a, ae, std::min(c_end, a) - 1, out, ld, qt, kt);
    near_block(f, cd, t, a, ae, std::max(t.c0, a), std::min(c_end, ae), out, ld, diff);
  }
  if (f.col_weight)
    for (int64_t i = 0; i < t.rows(); ++i)
      for (int64_t j = t.c0; j < c_end; ++j) out[i * ld + (j - t.c0)] *= f.col_weight[j * f.col_weight_stride];
}

DecayFactors mamba1_channel_factors(const Mamba1Factors& f, int64_t d) {
  const int64_t g = d / (f.D / f.G);
  DecayFactors df;
  df.q = f.C + g * f.N, df.q_stride = f.G * f.N;
  df.k = f.B + g * f.N, df.k_stride = f.G * f.N;
  df.dim = f.N;
  df.decay.per_token = f.delta + d, df.decay.stride = f.D, df.decay.rates = f.A + d * f.N;
  df.col_weight = f.delta + d, df.col_weight_stride = f.D;
  return df;
}

void mamba1_implicit_attention(const Mamba1Factors& f, int64_t d, const TileRange& t, float* out, int64_t ld) {
  decay_implicit_attention(mamba1_channel_factors(f, d), t, out, ld);
}

DecayFactors mamba2_head_factors(const Mamba2Factors& f, int64_t h) {
  const int64_t g = h / (f.H / f.G);
  DecayFactors df;
  df.q = f.C + g * f.N, df.q_stride = f.G * f.N;
  df.k = f.B + g * f.N, df.k_stride = f.G * f.N;
  df.dim = f.N;
  df.decay.per_token = f.dt + h, df.decay.stride = f.H, df.decay.rate = f.A[h];
  df.col_weight = f.dt + h, df.col_weight_stride = f.H;
  return df;
}

void mamba2_implicit_attention(const Mamba2Factors& f, int64_t h, const TileRange& t, float* out, int64_t ld) {
  decay_implicit_attention(mamba2_head_factors(f, h), t, out, ld);
}

}  // namespace mnemo::profiler
