// Naive attention in double precision: the specification the tiled kernel is tested against.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "mnemo/kernels/attention.h"

namespace mnemo::kernels {
namespace {

// The pairwise definition (mnemo::visible), where the kernel walks key ranges
// (mnemo::visible_key_range): the tests compare the two readings of the mask, not one.
bool key_visible(const AttentionArgs& a, int64_t query_pos, int64_t key_pos) {
  return visible(Mask{a.mask, a.window}, query_pos, key_pos, /*resident=*/true);
}

}  // namespace

void attention_reference(const AttentionArgs& a) {
  const int64_t group = a.n_heads / a.n_kv_heads;
  const int64_t ldq = a.n_heads * a.head_dim;
  std::vector<double> score(static_cast<size_t>(a.T_k));
  for (int64_t h = 0; h < a.n_heads; ++h) {
    const float* K = a.k + (h / group) * a.kv_head_stride;
    const float* V = a.v + (h / group) * a.kv_head_stride;
    for (int64_t i = 0; i < a.T_q; ++i) {
      const float* q = a.q + i * ldq + h * a.head_dim;
      float* out = a.out + i * ldq + h * a.head_dim;
      const int64_t pos = a.q_pos0 + i;
      double max = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < a.T_k; ++j) {
        if (!key_visible(a, pos, j)) continue;
        double s = 0;
        for (int64_t d = 0; d < a.head_dim; ++d) s += static_cast<double>(q[d]) * K[j * a.head_dim + d];
        score[static_cast<size_t>(j)] = s * a.scale;
        max = std::max(max, score[static_cast<size_t>(j)]);
      }
      double sum = 0;
      for (int64_t j = 0; j < a.T_k; ++j)
        if (key_visible(a, pos, j)) sum += std::exp(score[static_cast<size_t>(j)] - max);
      for (int64_t d = 0; d < a.head_dim; ++d) {
        double acc = 0;
        for (int64_t j = 0; j < a.T_k; ++j)
          if (key_visible(a, pos, j)) acc += std::exp(score[static_cast<size_t>(j)] - max) * V[j * a.head_dim + d];
        out[d] = sum > 0 ? static_cast<float>(acc / sum) : 0.f;
      }
      if (a.lse)
        a.lse[h * a.T_q + i] = sum > 0 ? static_cast<float>(max + std::log(sum))
                                       : -std::numeric_limits<float>::infinity();
    }
  }
}

}  // namespace mnemo::kernels
