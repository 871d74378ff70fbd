// Implicit attention of the delta rule, exactly: A[i][j] = scale · β_j q_iᵀ P_{i,j} k_j, where
// P_{i,j} = M_i ⋯ M_{j+1} and M_t = α_t (I − β_t k_t k_tᵀ). Nothing of the key removal is dropped.
//
// The tile's columns are carried forward in time as vectors x_j = β_j P_{t,j} k_j (column j is
// born at t = j): each step applies M_t to every born column (a matrix-vector product and a
// rank-1 update), and at a row time t the row is q_tᵀ x_j · scale. Between the last column and
// the first row (a tile far below the diagonal) the steps are taken 64 at a time in WY form:
//   Π_{chunk} (I − β_t k_t k_tᵀ) = I − Kᵀ Y,   (I + strictly_lower(diag(β) K Kᵀ)) Y = diag(β) K,
// one triangular solve per chunk, applied to the columns (or, when there are more columns than
// key dims, accumulated into a dim × dim transition applied once) with sgemm.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "mnemo/profiler/session/implicit_attention.h"
#include "tile_math.h"

namespace mnemo::profiler {
namespace {

constexpr int64_t kJumpChunk = 64;

using tile_math::single_threaded_blas;

float alpha_at(const DeltaFactors& f, int64_t t) { return f.log_alpha ? std::exp(f.log_alpha[t * f.log_alpha_stride]) : 1.f; }

// X[:, 0:n] ← M_t X[:, 0:n]: X is [dim][ld], w is scratch of n.
void step(const DeltaFactors& f, int64_t t, float* X, int64_t ld, int64_t n, std::vector<float>& w) {
  const float* k = f.k + t * f.k_stride;
  const float alpha = alpha_at(f, t), beta = f.beta[t * f.beta_stride];
  w.assign(n, 0.f);
  for (int64_t d = 0; d < f.dim; ++d)
    for (int64_t c = 0; c < n; ++c) w[c] += k[d] * X[d * ld + c];  // w = kᵀ X
  for (int64_t d = 0; d < f.dim; ++d) {
    const float kb = alpha * beta * k[d];
    for (int64_t c = 0; c < n; ++c) X[d * ld + c] = alpha * X[d * ld + c] - kb * w[c];
  }
}

// X ← (M_{s1−1} ⋯ M_{s0}) X for an X of [dim][n] (row stride n), by chunks in WY form.
void apply_steps_wy(const DeltaFactors& f, int64_t s0, int64_t s1, float* X, int64_t n) {
  single_threaded_blas();
  const int64_t dim = f.dim, C = kJumpChunk;
  std::vector<float> K(C * dim), Y(C * dim), L(C * C), Z(C * n);
  for (int64_t c0 = s0; c0 < s1; c0 += C) {
    const int64_t m = std::min(C, s1 - c0);
    double log_gamma = 0;
    for (int64_t i = 0; i < m; ++i) {
      const float* k = f.k + (c0 + i) * f.k_stride;
      const float beta = f.beta[(c0 + i) * f.beta_stride];
      std::copy(k, k + dim, &K[i * dim]);
      for (int64_t d = 0; d < dim; ++d) Y[i * dim + d] = beta * k[d];
      if (f.log_alpha) log_gamma += f.log_alpha[(c0 + i) * f.log_alpha_stride];
    }
    // L = diag(β) K Kᵀ below the diagonal (the unit diagonal is implied by the solve).
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, m, dim, 1.f, Y.data(), dim, K.data(), dim, 0.f, L.data(), C);
    cblas_strsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasUnit, m, dim, 1.f, L.data(), C, Y.data(), dim);
    // X ← Γ (X − Kᵀ (Y X)).
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, dim, 1.f, Y.data(), dim, X, n, 0.f, Z.data(), n);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dim, n, m, -1.f, K.data(), dim, Z.data(), n, 1.f, X, n);
    if (f.log_alpha) {
      const float gamma = static_cast<float>(std::exp(log_gamma));
      for (int64_t x = 0; x < dim * n; ++x) X[x] *= gamma;
    }
  }
}

// The columns [0, n) of X (row stride n) carried over steps [s0, s1).
void jump(const DeltaFactors& f, int64_t s0, int64_t s1, std::vector<float>& X, int64_t n) {
  const int64_t dim = f.dim;
  if (n <= dim) {
    apply_steps_wy(f, s0, s1, X.data(), n);
    return;
  }
  std::vector<float> phi(dim * dim, 0.f), out(dim * n);
  for (int64_t d = 0; d < dim; ++d) phi[d * dim + d] = 1.f;
  apply_steps_wy(f, s0, s1, phi.data(), dim);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, dim, n, dim, 1.f, phi.data(), dim, X.data(), n, 0.f,
              out.data(), n);
  X.swap(out);
}

}  // namespace

void delta_implicit_attention(const DeltaFactors& f, const TileRange& t, float* out, int64_t ld) {
  for (int64_t i = 0; i < t.rows(); ++i) std::fill(out + i * ld, out + i * ld + t.cols(), 0.f);
  const int64_t c_end = std::min(t.c1, t.r1), n = c_end - t.c0, dim = f.dim;
  if (n <= 0 || t.rows() <= 0) return;
  std::vector<float> X(dim * n, 0.f), w;
  int64_t born = 0;  // columns c0 .. c0 + born − 1 are being carried
  for (int64_t s = t.c0; s < t.r1;) {
    if (born == n && s + kJumpChunk <= t.r0) {  // every column born, no row before r0: jump there
      jump(f, s, t.r0, X, n);
      s = t.r0;
      continue;
    }
    if (born) step(f, s, X.data(), n, born, w);
    if (s < c_end) {  // column s is born: x_s = β_s k_s
      const float* k = f.k + s * f.k_stride;
      for (int64_t d = 0; d < dim; ++d) X[d * n + born] = f.beta[s * f.beta_stride] * k[d];
      ++born;
    }
    if (s >= t.r0) {  // row s: q_sᵀ x_j for the columns born so far (j ≤ s)
      const float* q = f.q + s * f.q_stride;
      float* row = out + (s - t.r0) * ld;
      for (int64_t d = 0; d < dim; ++d)
        for (int64_t c = 0; c < born; ++c) row[c] += q[d] * X[d * n + c];
      for (int64_t c = 0; c < born; ++c) row[c] *= f.scale;
    }
    ++s;
  }
}

}  // namespace mnemo::profiler
