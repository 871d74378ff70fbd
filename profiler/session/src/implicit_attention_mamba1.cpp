// Mamba-1's head view: the mean over channels [d0, d1) of the channel maps
//
//   A_c[i][j] = Σ_n C_i[n] exp(A[c][n] (S_i[c] − S_j[c])) Δ_j[c] B_j[n],   S_t[c] = Σ_{u≤t} Δ_u[c],
//
// computed for all the channels at once rather than channel by channel: the cumulative Δ of every
// channel in one pass (double, relative to the tile's first column), and the channels stacked
// along the inner dimension of one sgemm, (channel, n) pairs as K. The blocks are those of
// decay_implicit_attention (implicit_attention_decay.cpp): rows from a reference column r before
// them as q_i[c,n] = C_i[n] exp(A[c][n](S_i − S_r)) and k_j[c,n] = Δ_j[c] B_j[n] exp(A[c][n](S_r − S_j)),
// both exponents ≤ 0 (A < 0, Δ > 0); the 16-row blocks beside the diagonal take each pair directly.
// One channel at a time re-summed T values of Δ per channel and ran a 256×256×N product each:
// 64 channels cost ~45 ms a tile at T = 8192; stacked, the tile is one 256×256×(64·N) product.
#include <algorithm>
#include <vector>

#include "mnemo/profiler/session/implicit_attention.h"
#include "tile_math.h"

namespace mnemo::profiler {
namespace {

constexpr int64_t kRowBlock = 16;
constexpr int64_t kChannelChunk = 64;  // channels per sgemm: K = 64·N, scratch 2 · 256 · K floats

struct Mean {
  const Mamba1Factors& f;
  const TileRange& t;
  int64_t d0, nd, c_end, per_group;
  std::vector<double> s_cols, s_rows;  // S − S_{c0}: [j − c0][nd], [i − r0][nd]
  std::vector<float> qt, kt, pair;

  const float* B(int64_t j, int64_t c) const { return f.B + j * f.G * f.N + ((d0 + c) / per_group) * f.N; }
  const float* C(int64_t i, int64_t c) const { return f.C + i * f.G * f.N + ((d0 + c) / per_group) * f.N; }
  float delta(int64_t j, int64_t c) const { return f.delta[j * f.D + d0 + c]; }
  const float* A(int64_t c) const { return f.A + (d0 + c) * f.N; }

  void cumulative_delta() {
    s_cols.assign((c_end - t.c0) * nd, 0.0);
    s_rows.assign(t.rows() * nd, 0.0);
    std::vector<double> acc(nd, 0.0);
    for (int64_t u = t.c0; u < std::max(c_end, t.r1); ++u) {
      if (u > t.c0) {
        const float* d = f.delta + u * f.D + d0;
        for (int64_t c = 0; c < nd; ++c) acc[c] += d[c];
      }
      if (u < c_end) std::copy(acc.begin(), acc.end(), s_cols.begin() + (u - t.c0) * nd);
      if (u >= t.r0 && u < t.r1) std::copy(acc.begin(), acc.end(), s_rows.begin() + (u - t.r0) * nd);
    }
  }

  // Rows [ra, rb) against columns [c0, jr], jr < ra, accumulated into out.
  void far_block(int64_t ra, int64_t rb, int64_t jr, float* out, int64_t ld) {
    const int64_t N = f.N, nr = rb - ra, nc = jr + 1 - t.c0;
    const double* sr = &s_cols[(jr - t.c0) * nd];
    for (int64_t c0 = 0; c0 < nd; c0 += kChannelChunk) {
      const int64_t cn = std::min(kChannelChunk, nd - c0), K = cn * N;
      qt.resize(nr * K);
      kt.resize(nc * K);
      for (int64_t i = 0; i < nr; ++i) {
        float* row = &qt[i * K];
        const double* si = &s_rows[(ra - t.r0 + i) * nd];
        for (int64_t c = c0; c < c0 + cn; ++c) {
          const float gap = static_cast<float>(si[c] - sr[c]);
          for (int64_t n = 0; n < N; ++n) row[(c - c0) * N + n] = A(c)[n] * gap;
        }
        tile_math::exp_in_place(row, K);
        for (int64_t c = c0; c < c0 + cn; ++c)
          for (int64_t n = 0; n < N; ++n) row[(c - c0) * N + n] *= C(ra + i, c)[n];
      }
      for (int64_t j = 0; j < nc; ++j) {
        float* row = &kt[j * K];
        const double* sj = &s_cols[j * nd];
        for (int64_t c = c0; c < c0 + cn; ++c) {
          const float gap = static_cast<float>(sr[c] - sj[c]);
          for (int64_t n = 0; n < N; ++n) row[(c - c0) * N + n] = A(c)[n] * gap;
        }
        tile_math::exp_in_place(row, K);
        for (int64_t c = c0; c < c0 + cn; ++c) {
          const float w = delta(t.c0 + j, c);
          for (int64_t n = 0; n < N; ++n) row[(c - c0) * N + n] *= w * B(t.c0 + j, c)[n];
        }
      }
      tile_math::sgemm_nt(nr, nc, K, qt.data(), kt.data(), out + (ra - t.r0) * ld, ld, 1.f);
    }
  }

  // Rows [a, ae) against columns [j0, j1) beside the diagonal (j ≤ i): each exp taken directly.
  void near_block(int64_t a, int64_t ae, int64_t j0, int64_t j1, float* out, int64_t ld) {
    const int64_t N = f.N;
    pair.resize(nd * N);
    for (int64_t i = a; i < ae; ++i) {
      const double* si = &s_rows[(i - t.r0) * nd];
      for (int64_t j = j0; j < std::min(j1, i + 1); ++j) {
        const double* sj = &s_cols[(j - t.c0) * nd];
        for (int64_t c = 0; c < nd; ++c) {
          const float gap = static_cast<float>(si[c] - sj[c]);
          for (int64_t n = 0; n < N; ++n) pair[c * N + n] = A(c)[n] * gap;
        }
        tile_math::exp_in_place(pair.data(), nd * N);
        double s = 0;
        for (int64_t c = 0; c < nd; ++c) {
          const float *ci = C(i, c), *bj = B(j, c);
          float sc = 0.f;
          for (int64_t n = 0; n < N; ++n) sc += ci[n] * bj[n] * pair[c * N + n];
          s += static_cast<double>(sc) * delta(j, c);
        }
        out[(i - t.r0) * ld + (j - t.c0)] += static_cast<float>(s);
      }
    }
  }
};

}  // namespace

void mamba1_mean_implicit_attention(const Mamba1Factors& f, int64_t d0, int64_t d1, const TileRange& t, float* out,
                                    int64_t ld) {
  for (int64_t i = 0; i < t.rows(); ++i) std::fill(out + i * ld, out + i * ld + t.cols(), 0.f);
  const int64_t c_end = std::min(t.c1, t.r1);  // columns after the last row are 0
  if (d1 <= d0 || c_end <= t.c0 || t.rows() <= 0) return;
  Mean m{f, t, d0, d1 - d0, c_end, f.D / f.G, {}, {}, {}, {}, {}};
  m.cumulative_delta();
  const int64_t far_rows = std::max(t.r0, c_end);
  if (far_rows < t.r1) m.far_block(far_rows, t.r1, c_end - 1, out, ld);
  for (int64_t a = t.r0; a < far_rows; a += kRowBlock) {
    const int64_t ae = std::min(far_rows, a + kRowBlock);
    if (a > t.c0) m.far_block(a, ae, std::min(c_end, a) - 1, out, ld);
    m.near_block(a, ae, std::max(t.c0, a), std::min(c_end, ae), out, ld);
  }
  const float inv = 1.f / static_cast<float>(d1 - d0);
  for (int64_t i = 0; i < t.rows(); ++i)
    for (int64_t j = 0; j < t.cols(); ++j) out[i * ld + j] *= inv;
}

}  // namespace mnemo::profiler
