#include "mnemo/runtime/probes.h"

#include <time.h>

#include <cmath>

#include "mnemo/core/error.h"

namespace mnemo::rt {

int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

const FactorSpan* MixerProbe::factor(std::string_view name) const {
  for (const auto& f : factors)
    if (name == f.name) return &f;
  return nullptr;
}

std::vector<float> attention_row(const MixerProbe& p, int32_t head, int64_t row) {
  const FactorSpan* q = p.factor("q");
  const FactorSpan* k = p.factor("k");
  const FactorSpan* lse = p.factor("lse");
  if (!p.is_softmax() || !q || !k || !lse) throw Error("attention_row needs a softmax probe with q, k and lse");
  std::vector<float> out(static_cast<size_t>(p.n_k), 0.f);
  const int32_t group = p.n_heads / p.n_kv_heads;
  const float* qv = q->at(head, row);
  const int64_t qpos = p.query_positions[static_cast<size_t>(row)];
  const float l = *lse->at(head, row);
  for (int64_t j = 0; j < p.n_k; ++j) {
    if (!visible(p.mask, qpos, p.key_positions[static_cast<size_t>(j)], p.key_resident[static_cast<size_t>(j)] != 0)) continue;
    const float* kv = k->at(head / group, j);
    double dot = 0;
    for (int64_t d = 0; d < q->cols; ++d) dot += static_cast<double>(qv[d]) * kv[d];
    out[static_cast<size_t>(j)] = static_cast<float>(std::exp(dot * p.scale - l));
  }
  return out;
}

}  // namespace mnemo::rt
