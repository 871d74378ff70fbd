// Shared helpers of the kernel tests: seeded inputs, a scoped CPU-level override, error measures.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "mnemo/kernels/attention.h"
#include "mnemo/kernels/matmul.h"

// Readable parameters in test logs (GoogleTest finds these by argument-dependent lookup).
namespace mnemo {
inline void PrintTo(DType t, std::ostream* os) { *os << dtype_name(t); }
}  // namespace mnemo
namespace mnemo::kernels {
inline void PrintTo(MaskKind m, std::ostream* os) {
  *os << (m == MaskKind::None ? "none" : m == MaskKind::Causal ? "causal" : "window");
}
}  // namespace mnemo::kernels

namespace mnemo::kernels::testing {

inline std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Forces a CPU level through MNEMO_CPU for the lifetime of the object ("" = hardware level).
class ScopedCpuLevel {
 public:
  explicit ScopedCpuLevel(const std::string& level) {
    if (level.empty()) unsetenv("MNEMO_CPU");
    else setenv("MNEMO_CPU", level.c_str(), 1);
    reload_cpu_level();
  }
  ~ScopedCpuLevel() {
    unsetenv("MNEMO_CPU");
    reload_cpu_level();
  }
};

// The levels this machine can run, highest first ("" is the detected level).
inline std::vector<std::string> cpu_levels() { return {"", "avx2", "scalar"}; }

// One attention problem of the grids: sizes and the first query's position.
struct AttentionShape {
  const char* name;
  int64_t T_q, T_k, n_heads, n_kv_heads, head_dim, q_pos0;
};
// Test names already say which shape; keep ctest's log to that instead of raw bytes.
inline void PrintTo(const AttentionShape& s, std::ostream* os) { *os << s.name; }

// Arguments for shape s over q [T_q][n_heads][head_dim] and KV heads `stride` floats apart; the
// window is 7 for window masks, the scale 1/√head_dim. Outputs are left for the caller.
inline AttentionArgs attention_args(const AttentionShape& s, MaskKind mask, const std::vector<float>& q,
                                    const std::vector<float>& k, const std::vector<float>& v, int64_t stride) {
  AttentionArgs a;
  a.q = q.data(), a.k = k.data(), a.v = v.data();
  a.kv_head_stride = stride;
  a.T_q = s.T_q, a.T_k = s.T_k;
  a.n_heads = s.n_heads, a.n_kv_heads = s.n_kv_heads, a.head_dim = s.head_dim;
  a.q_pos0 = s.q_pos0;
  a.mask = mask;
  a.window = 7;
  a.scale = 1.f / std::sqrt(static_cast<float>(s.head_dim));
  return a;
}

// max |a - b| / (max |b| + tiny): one number per output, robust to values near zero.
inline double max_rel_error(const float* a, const double* b, size_t n) {
  double worst = 0, scale = 1e-30;
  for (size_t i = 0; i < n; ++i) scale = std::max(scale, std::fabs(b[i]));
  for (size_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs(a[i] - b[i]) / scale);
  return worst;
}

inline std::vector<char> read_golden(const std::string& name) {
  const std::string path = std::string(MNEMO_SOURCE_DIR) + "/tests/golden/quant/" + name;
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << "missing golden file " << path;
  return std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

}  // namespace mnemo::kernels::testing
