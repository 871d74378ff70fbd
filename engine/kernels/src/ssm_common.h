// Helpers the Mamba kernels share.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "mnemo/core/error.h"

namespace mnemo::kernels::detail {

// torch.nn.functional.softplus with its default threshold: x itself above 20.
inline float softplus(float x) { return x > 20.f ? x : std::log1p(std::exp(x)); }

// The step size a scan uses: raw + bias, through softplus when asked.
inline float step_size(float raw, const float* bias, int64_t i, bool use_softplus) {
  const float x = raw + (bias ? bias[i] : 0.f);
  return use_softplus ? softplus(x) : x;
}

inline float silu(float x) { return x / (1.f + std::exp(-x)); }

inline void require(bool ok, const char* who, const char* what) {
  if (!ok) throw UsageError(std::string(who) + ": " + what);
}

}  // namespace mnemo::kernels::detail
