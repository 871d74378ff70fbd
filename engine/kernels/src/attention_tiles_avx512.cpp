// GCC 12 warns falsely inside avx512fintrin.h (its own _mm512_undefined_* helpers).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>

#include "attention_tiles.h"

namespace mnemo::kernels {
namespace {

// R rows × NV·16 output dims, accumulated over the keys.
template <int R, int NV>
inline void pv_block(const float* P, int64_t ldp, const float* V, int64_t hd, int64_t keys, float* O) {
  __m512 acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_loadu_ps(O + r * hd + 16 * v);
  for (int64_t j = 0; j < keys; ++j) {
    __m512 vv[NV];
    for (int v = 0; v < NV; ++v) vv[v] = _mm512_loadu_ps(V + j * hd + 16 * v);
    for (int r = 0; r < R; ++r) {
      const __m512 p = _mm512_set1_ps(P[r * ldp + j]);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(p, vv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(O + r * hd + 16 * v, acc[r][v]);
}

template <int R>
void pv_rows(const float* P, int64_t ldp, const float* V, int64_t hd, int64_t keys, float* O) {
  for (int64_t d0 = 0; d0 < hd; d0 += 64) {
    switch (std::min<int64_t>(4, (hd - d0) / 16)) {
      case 4: pv_block<R, 4>(P, ldp, V + d0, hd, keys, O + d0); break;
      case 3: pv_block<R, 3>(P, ldp, V + d0, hd, keys, O + d0); break;
      case 2: pv_block<R, 2>(P, ldp, V + d0, hd, keys, O + d0); break;
      default: pv_block<R, 1>(P, ldp, V + d0, hd, keys, O + d0); break;
    }
  }
}

}  // namespace

void pv_tile_avx512(const float* P, int64_t ldp, const float* V, int64_t hd, int64_t rows, int64_t keys,
                    float* O) {
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) pv_rows<4>(P + r * ldp, ldp, V, hd, keys, O + r * hd);
  for (; r < rows; ++r) pv_rows<1>(P + r * ldp, ldp, V, hd, keys, O + r * hd);
}

}  // namespace mnemo::kernels
