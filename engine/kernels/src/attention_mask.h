// Which keys a query sees: a contiguous range [begin, end) of key positions for every mask kind.
#pragma once

#include <algorithm>
#include <cstdint>

#include "mnemo/kernels/attention.h"

namespace mnemo::kernels {

struct KeyRange {
  int64_t begin = 0, end = 0;
};

inline KeyRange visible_keys(const AttentionArgs& a, int64_t query_row) {
  const int64_t pos = a.q_pos0 + query_row;
  switch (a.mask) {
    case MaskKind::None: return {0, a.T_k};
    case MaskKind::Causal: return {0, std::clamp<int64_t>(pos + 1, 0, a.T_k)};
    case MaskKind::Window: {
      const int64_t end = std::clamp<int64_t>(pos + 1, 0, a.T_k);
      return {std::clamp<int64_t>(pos - a.window + 1, 0, end), end};
    }
  }
  return {0, 0};
}

}  // namespace mnemo::kernels
