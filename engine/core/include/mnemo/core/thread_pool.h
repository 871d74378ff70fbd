// A fixed pool of worker threads for data-parallel kernels. The calling thread takes part in
// every parallel_for, so a pool of N threads starts N-1 workers. Workers spin briefly before
// sleeping: a decode step issues hundreds of short parallel sections, and waking a sleeping
// thread costs more than most of them take.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace mnemo {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // n_threads >= 1; 1 means run everything inline
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(thread_index, n_threads) once on every thread of the pool and returns when all
  // calls have returned. Not reentrant: fn must not call run() on the same pool.
  void run(const std::function<void(int, int)>& fn);

  // Splits [0, n) into contiguous chunks of at least `grain` items, one per thread, and calls
  // fn(begin, end) for each non-empty chunk.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

  static int hardware_threads();  // cores available to this process

 private:
  void worker_loop(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace mnemo
