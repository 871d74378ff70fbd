// Causal prefill attention at GPT-2-small shape (12 heads of 64) and decode over a long cache.
// FLOPs counted for the visible (lower-triangular) scores only: 4·head_dim per visible pair.
// The third argument adds what a recording asks for: 1 the row statistics, 2 the 4×4 pooled map
// (multi-row steps), 3 both; compare BM_Attention/T/T/k against BM_Attention/T/T/0.
#include <benchmark/benchmark.h>

#include <cmath>

#include "bench_util.h"
#include "mnemo/core/thread_pool.h"
#include "mnemo/kernels/attention.h"

namespace mnemo::kernels::bench {
namespace {

constexpr int64_t kHeads = 12, kDim = 64;

void BM_Attention(benchmark::State& state) {
  const int64_t T_q = state.range(0), T_k = state.range(1);
  const bool row_stats = (state.range(2) & 1) != 0, pooled = (state.range(2) & 2) != 0 && T_q > 1;
  ThreadPool pool(bench_threads());
  const auto q = random_floats(static_cast<size_t>(T_q * kHeads * kDim), 1);
  const auto k = random_floats(static_cast<size_t>(T_k * kHeads * kDim), 2);
  const auto v = random_floats(static_cast<size_t>(T_k * kHeads * kDim), 3);
  std::vector<float> out(q.size()), lse(static_cast<size_t>(kHeads * T_q));
  AttentionArgs a;
  a.q = q.data();
  a.k = k.data();
  a.v = v.data();
  a.kv_head_stride = T_k * kDim;
  a.T_q = T_q;
  a.T_k = T_k;
  a.n_heads = a.n_kv_heads = kHeads;
  a.head_dim = kDim;
  a.q_pos0 = T_k - T_q;
  a.scale = 1.f / std::sqrt(float(kDim));
  a.out = out.data();
  a.lse = lse.data();
  const size_t rows = static_cast<size_t>(kHeads * T_q), cells = static_cast<size_t>(kHeads * ((T_q + 3) / 4) * ((T_k + 3) / 4));
  std::vector<float> entropy(rows), distance(rows), sink(rows), keys(rows), pooled_max(cells), pooled_sum(cells);
  if (row_stats) a.row_stats = {entropy.data(), distance.data(), sink.data(), keys.data()};
  if (pooled) a.pooled = {pooled_max.data(), pooled_sum.data()};
  for (auto _ : state) {
    attention(pool, a);
    benchmark::DoNotOptimize(out.data());
  }
  double pairs = 0;
  for (int64_t i = 0; i < T_q; ++i) pairs += static_cast<double>(a.q_pos0 + i + 1);
  state.counters["GFLOP/s"] =
      benchmark::Counter(4.0 * kDim * kHeads * pairs * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

BENCHMARK(BM_Attention)
    ->ArgsProduct({{512}, {512}, {0, 1, 2, 3}})
    ->ArgsProduct({{1024}, {1024}, {0, 1, 2, 3}})
    ->ArgsProduct({{1}, {1024}, {0, 1}})
    ->UseRealTime()->Unit(
    benchmark::kMillisecond);

}  // namespace
}  // namespace mnemo::kernels::bench
