// Register-blocked AVX-512 P·V product for one attention tile, used instead of a small sgemm
// (64×64×256): it reads P and V in place, where sgemm packs both. Measured one thread, T = 1024:
// ~48-54 GFLOP/s for the whole attention vs ~35-40 with sgemm. (Q·Kᵀ stays on sgemm: a kernel
// that transposes each key block spent more on the transpose than it saved.)
#pragma once

#include <cstdint>

namespace mnemo::kernels {

// True when the tile kernels handle this head size (whole 16-lane vectors).
inline bool attention_tiles_support(int64_t head_dim) { return head_dim % 16 == 0; }

// O[r][:] += Σ_j P[r][j] · V[j][:] for r < rows, j < keys; O rows are head_dim floats apart.
void pv_tile_avx512(const float* P, int64_t ldp, const float* V, int64_t head_dim, int64_t rows,
                    int64_t keys, float* O);

}  // namespace mnemo::kernels
