// Prefill of the recurrent-family mixers, recurrent form against chunked form (chunks of 64), at
// 8 heads with dk = dv = dim (Mamba-2: 8 heads, P = dim, N = 128). Arguments: family (0 linear
// attention, 1 GLA, 2 Gated DeltaNet, 3 Mamba-2 SSD), T, dim, form (0 recurrent, 1 chunked).
// Items are tokens.
#include <benchmark/benchmark.h>

#include <cmath>

#include "bench_util.h"
#include "mnemo/core/thread_pool.h"
#include "mnemo/kernels/linear_attention.h"
#include "mnemo/kernels/ssm.h"

namespace mnemo::kernels::bench {
namespace {

constexpr int64_t kHeads = 8;

void run_linear(ThreadPool& pool, benchmark::State& state, int family, int64_t T, int64_t kDim, bool chunked) {
  auto q = random_floats(T * kHeads * kDim, 1), k = random_floats(T * kHeads * kDim, 2), v = random_floats(T * kHeads * kDim, 3);
  std::vector<float> gates(T * kHeads * kDim, -0.05f), beta(T * kHeads, 0.5f), st(kHeads * kDim * kDim), out(T * kHeads * kDim);
  for (int64_t r = 0; r < T * kHeads; ++r) {  // normalised keys keep the delta rule bounded
    float n2 = 0;
    for (int64_t d = 0; d < kDim; ++d) n2 += k[r * kDim + d] * k[r * kDim + d];
    for (int64_t d = 0; d < kDim; ++d) k[r * kDim + d] /= std::sqrt(n2);
  }
  LinearAttentionArgs a;
  a.q = q.data(), a.k = k.data(), a.v = v.data(), a.T = T, a.n_heads = kHeads, a.dk = a.dv = kDim;
  a.scale = 0.125f, a.state = st.data(), a.out = out.data();
  if (family == 1) a.key_log_gate = gates.data();
  if (family == 2) a.head_log_gate = gates.data(), a.beta = beta.data();
  for (auto _ : state) {
    if (family == 2) chunked ? delta_rule_chunked(pool, a) : delta_rule_recurrent(pool, a);
    else chunked ? decay_attention_chunked(pool, a) : decay_attention_recurrent(pool, a);
    benchmark::DoNotOptimize(out.data());
  }
}

void run_ssd(ThreadPool& pool, benchmark::State& state, int64_t T, int64_t kDim, bool chunked) {
  constexpr int64_t N = 128;
  const auto x = random_floats(T * kHeads * kDim, 1), B = random_floats(T * N, 2), C = random_floats(T * N, 3);
  std::vector<float> dt(T * kHeads, 0.05f), A(kHeads, -1.f), st(kHeads * kDim * N), out(T * kHeads * kDim);
  SsdArgs a;
  a.x = x.data(), a.dt = dt.data(), a.A = A.data(), a.B = B.data(), a.C = C.data();
  a.T = T, a.H = kHeads, a.P = kDim, a.N = N, a.G = 1, a.state = st.data(), a.out = out.data();
  for (auto _ : state) {
    chunked ? ssd_chunked(pool, a) : ssd_recurrent(pool, a);
    benchmark::DoNotOptimize(out.data());
  }
}

void BM_RecurrentFamily(benchmark::State& state) {
  const int family = static_cast<int>(state.range(0));
  const int64_t T = state.range(1);
  const int64_t dim = state.range(2);
  const bool chunked = state.range(3) != 0;
  ThreadPool pool(bench_threads());
  family == 3 ? run_ssd(pool, state, T, dim, chunked) : run_linear(pool, state, family, T, dim, chunked);
  state.SetItemsProcessed(state.iterations() * T);
}

BENCHMARK(BM_RecurrentFamily)
    ->ArgsProduct({{0, 1, 2, 3}, {2048}, {64, 128}, {0, 1}})
    ->ArgNames({"family", "T", "dim", "chunked"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace mnemo::kernels::bench
