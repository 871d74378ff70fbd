// Dynamic work sharing on top of ThreadPool::run: [0, n) is handed out in chunks through an
// atomic counter, so a thread the OS delays (the two cores are shared) leaves its share to the
// others instead of holding up the whole section with a static split.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "mnemo/core/thread_pool.h"

namespace mnemo::kernels {

template <class Fn>
void parallel_chunks(ThreadPool& pool, int64_t n, int64_t chunk, Fn&& fn) {
  if (n <= 0) return;
  chunk = std::max<int64_t>(1, chunk);
  if (pool.size() == 1 || n <= chunk) {
    fn(int64_t{0}, n);
    return;
  }
  std::atomic<int64_t> next{0};
  pool.run([&](int, int) {
    for (int64_t b = next.fetch_add(chunk, std::memory_order_relaxed); b < n;
         b = next.fetch_add(chunk, std::memory_order_relaxed))
      fn(b, std::min(n, b + chunk));
  });
}

}  // namespace mnemo::kernels
