// Weight sets for the kernel benchmarks. Decode streams every weight once per token, so a
// benchmark that reuses one matrix small enough for the L3 cache would overstate bandwidth: each
// set holds enough copies to exceed the cache, and iterations walk through them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "mnemo/core/tensor.h"
#include "mnemo/core/thread_pool.h"
#include "mnemo/kernels/quant.h"

namespace mnemo::kernels::bench {

// Threads for the benchmarks: MNEMO_BENCH_THREADS, else every core (1 gives the least noisy
// per-core figures on a shared machine).
inline int bench_threads() {
  if (const char* env = std::getenv("MNEMO_BENCH_THREADS")) return std::max(1, std::atoi(env));
  return ThreadPool::hardware_threads();
}

inline std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

class WeightSet {
 public:
  WeightSet(DType t, int64_t N, int64_t K, uint64_t min_total_bytes) {
    const uint64_t rb = *row_bytes(t, K);
    one_bytes_ = rb * static_cast<uint64_t>(N);
    std::vector<uint8_t> one(one_bytes_);
    const auto f = random_floats(static_cast<size_t>(K), 1);
    // Every row the same: fine for timing. Types without a quantizer (K-quants) keep zero bytes,
    // which decode exactly as fast as real blocks.
    if (can_quantize(t))
      for (int64_t n = 0; n < N; ++n) quantize_row(t, f.data(), one.data() + n * rb, K);
    copies_ = static_cast<int>(std::max<uint64_t>(1, (min_total_bytes + one_bytes_ - 1) / one_bytes_));
    storage_.resize(one_bytes_ * static_cast<uint64_t>(copies_));
    for (int c = 0; c < copies_; ++c) std::memcpy(storage_.data() + c * one_bytes_, one.data(), one_bytes_);
    view_.dtype = t;
    view_.ndim = 2;
    view_.shape = {N, K, 0, 0};
    view_.nbytes = one_bytes_;
  }
  // The next copy, round robin.
  const TensorView& next() {
    view_.data = storage_.data() + static_cast<uint64_t>(cursor_) * one_bytes_;
    cursor_ = (cursor_ + 1) % copies_;
    return view_;
  }
  uint64_t bytes_per_matrix() const { return one_bytes_; }

 private:
  uint64_t one_bytes_ = 0;
  int copies_ = 1;
  int cursor_ = 0;
  std::vector<uint8_t> storage_;
  TensorView view_;
};

}  // namespace mnemo::kernels::bench
