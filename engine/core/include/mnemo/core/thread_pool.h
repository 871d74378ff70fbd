// A fixed pool of worker threads for data-parallel kernels. The calling thread takes part in
// every run, so a pool of N threads starts N-1 workers. Workers spin briefly before sleeping: a
// decode step issues hundreds of short parallel sections, and waking a sleeping thread costs more
// than most of them take.
//
// Work is claimed, not assigned: the N parts of a run go to whichever threads ask first, and the
// caller waits only for workers that actually joined. When another process holds a core and a
// worker is descheduled, the caller does the whole run itself instead of waiting a time slice.
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

  // Calls fn(part, n_threads) once for every part in [0, n_threads), each on some thread of the
  // pool (a thread may run several parts), and returns when all calls have returned. fn must not
  // rely on which thread runs a part. Not reentrant: fn must not call run() on the same pool.
  void run(const std::function<void(int, int)>& fn);

  // Splits [0, n) into contiguous chunks of at least `grain` items, one per thread, and calls
  // fn(begin, end) for each non-empty chunk.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

  static int hardware_threads();  // cores available to this process

 private:
  void worker_loop();
  void run_parts(const std::function<void(int, int)>& fn);

  // run_state_ packs the current run's bookkeeping so joining and closing are one atomic step:
  // bits 0-15 workers joined, bits 16-30 workers finished, bit 31 closed to new joins.
  static constexpr uint32_t kJoinedMask = 0xffffu;
  static constexpr uint32_t kFinishedOne = 1u << 16;
  static constexpr uint32_t kClosed = 1u << 31;

  int n_threads_;
  std::vector<std::thread> workers_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<int> next_part_{0};
  std::atomic<uint32_t> run_state_{kClosed};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace mnemo
