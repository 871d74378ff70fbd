#include "mnemo/runtime/probes.h"

#include <time.h>

#include <cmath>

namespace mnemo::rt {

const char* op_kind_name(OpKind k) {
  switch (k) {
    case OpKind::Embed: return "embed";
    case OpKind::Norm: return "norm";
    case OpKind::Matmul: return "matmul";
    case OpKind::Rope: return "rope";
    case OpKind::Attention: return "attention";
    case OpKind::Activation: return "activation";
    case OpKind::Add: return "add";
    case OpKind::LmHead: return "lm_head";
    case OpKind::Count: break;
  }
  return "unknown";
}

int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::vector<float> attention_row(const AttentionProbe& p, int32_t head, int64_t row) {
  std::vector<float> out(static_cast<size_t>(p.n_k), 0.f);
  const int32_t group = p.n_heads / p.n_kv_heads;
  const float* q = p.q + (row * p.n_heads + head) * p.head_dim;
  const float* kbase = p.k + static_cast<int64_t>(head / group) * p.kv_head_stride;
  const int64_t qpos = p.q_pos0 + row;
  const float lse = p.lse[static_cast<int64_t>(head) * p.n_q + row];
  for (int64_t j = 0; j < p.n_k; ++j) {
    if (p.mask != kernels::MaskKind::None && j > qpos) continue;
    if (p.mask == kernels::MaskKind::Window && qpos - j >= p.window) continue;
    const float* k = kbase + j * p.head_dim;
    double dot = 0;
    for (int32_t d = 0; d < p.head_dim; ++d) dot += static_cast<double>(q[d]) * k[d];
    out[static_cast<size_t>(j)] = static_cast<float>(std::exp(dot * p.scale - lse));
  }
  return out;
}

}  // namespace mnemo::rt
