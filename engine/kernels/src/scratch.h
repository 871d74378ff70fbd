// Per-thread float buffers, grown on demand and then reused, so steady-state kernels allocate
// nothing (a fresh page costs more than the math it would feed). One slot per purpose, so two
// kernels that run on the same thread never hand each other a buffer still in use.
#pragma once

#include <cstddef>
#include <vector>

namespace mnemo::kernels {

enum class Scratch : int { MatmulPanel, AttentionScores, AttentionAccum, AttentionState, AttentionPooled, AttentionBlockMax, RopeAngles, kCount };

inline float* scratch_floats(Scratch slot, size_t n) {
  thread_local std::vector<float> buffers[static_cast<int>(Scratch::kCount)];
  auto& b = buffers[static_cast<int>(slot)];
  if (b.size() < n) b.resize(n);
  return b.data();
}

}  // namespace mnemo::kernels
