// Prefill GEMM throughput (GFLOP/s) at GPT-2-small shapes, M = 512 tokens. OpenBLAS alone reaches
// ~182 GFLOP/s on large shapes here (PLATFORM.md); BM_OpenBlasOwnThreads measures it directly.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "bench_util.h"
#include "mnemo/core/blas_core.h"
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

// Another thread of the same process taking `duty` of one core in 1.5 ms bursts, as a session
// recorder's writer does: a split that waits for a descheduled thread loses the whole burst.
class Burner {
 public:
  explicit Burner(double duty) {
    if (duty <= 0) return;
    thread_ = std::thread([this, duty] {
      using clock = std::chrono::steady_clock;
      const auto busy = std::chrono::microseconds(1500);
      const auto idle = std::chrono::microseconds(static_cast<int64_t>(1500 * (1 - duty) / duty));
      while (!stop_.load(std::memory_order_relaxed)) {
        const auto until = clock::now() + busy;
        while (clock::now() < until) {
        }
        std::this_thread::sleep_for(idle);
      }
    });
  }
  ~Burner() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// SmolLM2-135M's prefill products (540 tokens, Q4_1 weights), alone and next to a burner taking
// 15% of a core: the ratio of the two is what a recording's writer thread costs the prefill.
void BM_MatmulSmolLM2(benchmark::State& state) {
  const int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  ThreadPool pool(bench_threads());
  WeightSet weights(DType::Q4_1, N, K, 0);
  const auto x = random_floats(static_cast<size_t>(M * K), 3);
  std::vector<float> y(static_cast<size_t>(M * N));
  Burner burner(static_cast<double>(state.range(3)) / 100.0);
  for (auto _ : state) {
    matmul(pool, x.data(), M, K, weights.next(), nullptr, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  set_flops(state, M, N, K);
}

void smollm2_shapes(benchmark::internal::Benchmark* b) {
  for (int duty : {0, 15})
    for (auto [K, N] : {std::pair{576, 576}, {576, 192}, {576, 1536}, {1536, 576}}) b->Args({540, K, N, duty});
  b->ArgNames({"M", "K", "N", "burner%"})->UseRealTime()->Unit(benchmark::kMillisecond);
}

// OpenBLAS with its own threads on the same product: the ceiling our split should reach.
void BM_OpenBlasOwnThreads(benchmark::State& state) {
  const int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  const auto x = random_floats(static_cast<size_t>(M * K), 3);
  const auto w = random_floats(static_cast<size_t>(N * K), 5);
  std::vector<float> y(static_cast<size_t>(M * N));
  mnemo::setup_openblas_core();  // the kernels the engine's sgemm runs, even when this runs first
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
BENCHMARK(BM_MatmulSmolLM2)->Apply(smollm2_shapes);
BENCHMARK_CAPTURE(BM_Matmul, small_m_f32, DType::F32)->Apply(small_m_shapes);
BENCHMARK_CAPTURE(BM_Matmul, small_m_q4_1, DType::Q4_1)->Apply(small_m_shapes);

}  // namespace
}  // namespace mnemo::kernels::bench
