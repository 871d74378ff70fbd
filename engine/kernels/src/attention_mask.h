// Which keys a query row of one attention call sees: the contiguous range that the visibility
// function (mnemo/core/visibility.h) gives when key j sits at position j, all resident.
#pragma once

#include <cstdint>

#include "mnemo/core/visibility.h"
#include "mnemo/kernels/attention.h"

namespace mnemo::kernels {

using KeyRange = mnemo::KeyRange;

inline KeyRange visible_keys(const AttentionArgs& a, int64_t query_row) {
  return visible_key_range(Mask{a.mask, a.window}, a.q_pos0 + query_row, a.T_k);
}

}  // namespace mnemo::kernels
