#include "mnemo/core/thread_pool.h"

#include <sched.h>

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#define MNEMO_CPU_RELAX() _mm_pause()
#else
#define MNEMO_CPU_RELAX() ((void)0)
#endif

namespace mnemo {
namespace {
// About 50-100 µs of spinning: longer than the gap between two kernels of a decode step, far
// shorter than the gap between two steps of an interactive session.
constexpr int kSpinIterations = 20000;
}  // namespace

int ThreadPool::hardware_threads() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::clamp(n_threads, 1, 1024)) {
  workers_.reserve(static_cast<size_t>(n_threads_ - 1));
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::run_parts(const std::function<void(int, int)>& fn) {
  for (int part = next_part_.fetch_add(1, std::memory_order_acq_rel); part < n_threads_;
       part = next_part_.fetch_add(1, std::memory_order_acq_rel))
    fn(part, n_threads_);
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int spin = 0; gen == seen && spin < kSpinIterations; ++spin) {
      MNEMO_CPU_RELAX();
      gen = generation_.load(std::memory_order_acquire);
    }
    while (gen == seen) {
      generation_.wait(seen, std::memory_order_acquire);
      gen = generation_.load(std::memory_order_acquire);
    }
    seen = gen;
    if (stop_.load(std::memory_order_acquire)) return;
    // Join the run unless the caller already closed it (it finished every part alone).
    uint32_t state = run_state_.load(std::memory_order_acquire);
    bool joined = false;
    while (!(state & kClosed)) {
      if (run_state_.compare_exchange_weak(state, state + 1, std::memory_order_acq_rel)) {
        joined = true;
        break;
      }
    }
    if (!joined) continue;
    run_parts(*job_);
    run_state_.fetch_add(kFinishedOne, std::memory_order_acq_rel);
    run_state_.notify_all();
  }
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  job_ = &fn;
  next_part_.store(0, std::memory_order_release);
  run_state_.store(0, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  run_parts(fn);

  const uint32_t joined = run_state_.fetch_or(kClosed, std::memory_order_acq_rel) & kJoinedMask;
  auto finished = [&](uint32_t s) { return ((s & ~kClosed) >> 16) == joined; };
  uint32_t state = run_state_.load(std::memory_order_acquire);
  for (int spin = 0; !finished(state) && spin < kSpinIterations; ++spin) {
    MNEMO_CPU_RELAX();
    state = run_state_.load(std::memory_order_acquire);
  }
  while (!finished(state)) {
    run_state_.wait(state, std::memory_order_acquire);
    state = run_state_.load(std::memory_order_acquire);
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t max_chunks = (n + grain - 1) / grain;
  const int chunks = static_cast<int>(std::min<int64_t>(n_threads_, max_chunks));
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  run([&](int t, int) {
    if (t >= chunks) return;
    const int64_t begin = n * t / chunks;
    const int64_t end = n * (t + 1) / chunks;
    if (begin < end) fn(begin, end);
  });
}

}  // namespace mnemo
