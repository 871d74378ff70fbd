// Decode matrix-vector throughput (bytes of weights streamed per second) per storage type, at
// GPT-2-small and SmolLM2-135M shapes. Compare with the machine's 32-52 GB/s (PLATFORM.md).
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "mnemo/core/thread_pool.h"
#include "mnemo/kernels/matmul.h"

namespace mnemo::kernels::bench {
namespace {

constexpr uint64_t kBeyondCache = uint64_t{256} << 20;

void BM_Matvec(benchmark::State& state, DType t, int64_t N, int64_t K) {
  ThreadPool pool(static_cast<int>(state.range(0)));
  WeightSet weights(t, N, K, kBeyondCache);
  const auto x = random_floats(static_cast<size_t>(K), 2);
  std::vector<float> y(static_cast<size_t>(N));
  for (auto _ : state) {
    matmul(pool, x.data(), 1, K, weights.next(), nullptr, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * weights.bytes_per_matrix()));
  state.SetLabel(cpu_level());
}

#define MATVEC(name, type, N, K)                                                             \
  BENCHMARK_CAPTURE(BM_Matvec, name, DType::type, N, K)->Arg(1)->Arg(2)->UseRealTime()->Unit( \
      benchmark::kMicrosecond)

// GPT-2 small: fused QKV (768→2304), MLP up (768→3072), MLP down (3072→768), tied LM head.
MATVEC(gpt2_qkv_f32, F32, 2304, 768);
MATVEC(gpt2_up_f32, F32, 3072, 768);
MATVEC(gpt2_down_f32, F32, 768, 3072);
MATVEC(gpt2_lmhead_f32, F32, 50257, 768);
MATVEC(gpt2_qkv_f16, F16, 2304, 768);
MATVEC(gpt2_down_f16, F16, 768, 3072);
MATVEC(gpt2_lmhead_f16, F16, 50257, 768);
MATVEC(gpt2_qkv_bf16, BF16, 2304, 768);
MATVEC(gpt2_qkv_q8_0, Q8_0, 2304, 768);
MATVEC(gpt2_qkv_q4_0, Q4_0, 2304, 768);
MATVEC(gpt2_qkv_q4_1, Q4_1, 2304, 768);
// SmolLM2-135M: MLP gate/up (576→1536) and down (1536→576) in Q4_1, Q8_0 LM head 49152×576.
MATVEC(smol_gate_q4_1, Q4_1, 1536, 576);
MATVEC(smol_down_q4_1, Q4_1, 576, 1536);
MATVEC(smol_lmhead_q8_0, Q8_0, 49152, 576);
MATVEC(gpt2_qkv_q4_k, Q4_K, 2304, 768);  // dequantize-row fallback, for comparison

}  // namespace
}  // namespace mnemo::kernels::bench
