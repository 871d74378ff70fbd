// What the recurrent and chunked linear-attention forms share: argument checks and the log decay
// of one token, head and key dim (the sum of whichever gate fields are set).
#pragma once

#include <cstdint>

#include "mnemo/core/error.h"
#include "mnemo/kernels/linear_attention.h"

namespace mnemo::kernels::detail {

inline void check_linear_attention(const LinearAttentionArgs& a, bool delta_rule, const char* who) {
  if (a.T < 0 || a.n_heads <= 0 || a.dk <= 0 || a.dv <= 0) throw UsageError(std::string(who) + ": bad sizes");
  if (!a.state || !a.out || (a.T > 0 && (!a.q || !a.k || !a.v))) throw UsageError(std::string(who) + ": missing buffer");
  if (delta_rule && !a.beta) throw UsageError(std::string(who) + ": the delta rule needs beta");
  if (delta_rule && a.key_log_gate) throw UsageError(std::string(who) + ": the delta rule takes one gate per head, not per key dim");
  if (!delta_rule && a.beta) throw UsageError(std::string(who) + ": beta is for the delta-rule forms");
}

// Log decay of head h at token t shared by all key dims (RetNet's and the per-head gate).
inline float head_log_decay(const LinearAttentionArgs& a, int64_t t, int64_t h) {
  float g = 0.f;
  if (a.head_log_decay) g += a.head_log_decay[h];
  if (a.head_log_gate) g += a.head_log_gate[t * a.n_heads + h];
  return g;
}

// Log decay of key dim d of head h at token t.
inline float key_log_decay(const LinearAttentionArgs& a, int64_t t, int64_t h, int64_t d) {
  float g = head_log_decay(a, t, h);
  if (a.key_log_gate) g += a.key_log_gate[(t * a.n_heads + h) * a.dk + d];
  return g;
}

}  // namespace mnemo::kernels::detail
