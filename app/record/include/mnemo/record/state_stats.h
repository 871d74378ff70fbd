// Per-head statistics of a recurrent layer's state, recorded every step (_state_stat): the
// Frobenius norm and the participation ratio (Σσ²)² / Σσ⁴, an effective rank that is 1 for a
// rank-1 state and n for n equal singular values.
#pragma once

#include <cstdint>
#include <vector>

namespace mnemo::record {

struct NormAndRank {
  double norm = 0, effective_rank = 0;  // both 0 for the zero matrix
};

// One rows × cols matrix (row-major). No SVD: Σσ⁴ = ‖G‖²_F with G the Gram matrix on the smaller
// side, formed by one BLAS sgemm (fp32, so the rank is good to ~1e-6 relative; Σσ² is summed in
// double). `scratch` is reused between calls to keep the engine's thread free of allocations.
NormAndRank norm_and_effective_rank(const float* s, int64_t rows, int64_t cols, std::vector<float>& scratch);

}  // namespace mnemo::record
