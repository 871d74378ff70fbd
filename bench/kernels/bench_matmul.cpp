// Prefill GEMM throughput (GFLOP/s) at GPT-2-small shapes, M = 512 tokens. OpenBLAS alone reaches
// ~182 GFLOP/s on large shapes here (PLATFORM.md); BM_OpenBlasOwnThreads measures it directly.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include "bench_util.h"
#include "mnemo/core/thread_pool.h"
#include "mnemo/kernels/matmul.h"

namespace mnemo::kernels::bench {
namespace {

void set_flops(benchmark::State& state, int64_t M, int64_t N, int64_t K) {
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * M * N * K * state.iterations() / 1e9,
                                                 benchmark::Counter::kIsRate);
}

void BM_Matmul(benchmark::State& state, DType t) {
  const int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  ThreadPool pool(bench_threads());
  WeightSet weights(t, N, K, 0);
  const auto x = random_floats(static_cast<size_t>(M * K), 3);
  const auto bias = random_floats(static_cast<size_t>(N), 4);
  std::vector<float> y(static_cast<size_t>(M * N));
  for (auto _ : state) {
    matmul(pool, x.data(), M, K, weights.next(), bias.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  set_flops(state, M, N, K);
}

// OpenBLAS with its own threads on the same product: the ceiling our split should reach.
void BM_OpenBlasOwnThreads(benchmark::State& state) {
  const int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  const auto x = random_floats(static_cast<size_t>(M * K), 3);
  const auto w = random_floats(static_cast<size_t>(N * K), 5);
  std::vector<float> y(static_cast<size_t>(M * N));
  openblas_set_num_threads(bench_threads());
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.f, x.data(), K, w.data(), K, 0.f,
                y.data(), N);
    benchmark::DoNotOptimize(y.data());
  }
  openblas_set_num_threads(1);
  set_flops(state, M, N, K);
}

void gpt2_shapes(benchmark::internal::Benchmark* b) {
  for (auto [K, N] : {std::pair{768, 2304}, {768, 768}, {768, 3072}, {3072, 768}}) b->Args({512, K, N});
  b->UseRealTime()->Unit(benchmark::kMillisecond);
}
void small_m_shapes(benchmark::internal::Benchmark* b) {
  for (int M : {2, 4, 8, 16}) b->Args({M, 768, 3072});
  b->UseRealTime()->Unit(benchmark::kMicrosecond);
}

BENCHMARK_CAPTURE(BM_Matmul, f32, DType::F32)->Apply(gpt2_shapes);
BENCHMARK_CAPTURE(BM_Matmul, f16, DType::F16)->Apply(gpt2_shapes);
BENCHMARK_CAPTURE(BM_Matmul, q4_1, DType::Q4_1)->Args({512, 768, 3072})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_OpenBlasOwnThreads)->Apply(gpt2_shapes);
BENCHMARK_CAPTURE(BM_Matmul, small_m_f32, DType::F32)->Apply(small_m_shapes);
BENCHMARK_CAPTURE(BM_Matmul, small_m_q4_1, DType::Q4_1)->Apply(small_m_shapes);

}  // namespace
}  // namespace mnemo::kernels::bench
