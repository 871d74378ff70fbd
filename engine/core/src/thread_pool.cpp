#include "mnemo/core/thread_pool.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <exception>
#include <string>

#include "mnemo/core/error.h"

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

cpu_set_t only_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return set;
}
}  // namespace

int ThreadPool::hardware_threads() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

int ThreadPool::max_threads() { return std::min(kMaxThreads, 4 * hardware_threads()); }

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::clamp(n_threads, 1, kMaxThreads)) {
  workers_.reserve(static_cast<size_t>(n_threads_ - 1));
  try {
    for (int i = 1; i < n_threads_; ++i) {
      const bool lender = i == n_threads_ - 1;
      workers_.emplace_back([this, lender] { worker_loop(lender); });
    }
  } catch (const std::exception& e) {
    // Out of threads or of address space for their stacks (ulimit -u, ulimit -v). No destructor
    // runs for a constructor that throws: the workers already started must be stopped and joined
    // here, or destroying their std::thread objects would terminate the process.
    const size_t started = workers_.size();
    stop_workers();
    throw Error("cannot start thread " + std::to_string(started + 2) + " of the " + std::to_string(n_threads_) +
                " asked for (" + e.what() + "): ask for fewer threads");
  }
}

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::stop_workers() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  lend_.store(kFree, std::memory_order_release);  // a borrower that never returned must not hang the join
  lend_.notify_all();
  for (auto& w : workers_) w.join();
  workers_.clear();
}

bool ThreadPool::borrow_core() {
  if (n_threads_ == 1) return false;
  lend_.store(kWanted, std::memory_order_seq_cst);
  // Sleeping between runs, the worker holds no core: take it without waking it. It checks lend_
  // after it wakes (the seq_cst pair lender_asleep_/lend_ makes one side see the other).
  if (lender_asleep_.load(std::memory_order_seq_cst)) {
    uint32_t wanted = kWanted;
    lend_.compare_exchange_strong(wanted, kLent, std::memory_order_acq_rel);
  }
  for (uint32_t s = lend_.load(std::memory_order_acquire); s == kWanted; s = lend_.load(std::memory_order_acquire))
    lend_.wait(kWanted, std::memory_order_acquire);
  return true;
}

void ThreadPool::return_core() {
  lend_.store(kFree, std::memory_order_release);
  lend_.notify_all();
}

int ThreadPool::pin_lender() {
  if (workers_.empty() || lender_cpu_ >= 0) return lender_cpu_;
  // The calling thread's CPUs: the workers it started inherited them, and all get them back.
  cpu_set_t allowed;
  pinned_caller_ = pthread_self();
  if (pthread_getaffinity_np(pinned_caller_, sizeof(allowed), &allowed) != 0 || CPU_COUNT(&allowed) < 2) return -1;
  int cpu = -1;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &allowed)) cpu = c;  // the last one: the first is where most of the system starts
  cpu_set_t others = allowed;
  CPU_CLR(cpu, &others);
  const cpu_set_t one = only_cpu(cpu);
  if (pthread_setaffinity_np(workers_.back().native_handle(), sizeof(one), &one) != 0) return -1;
  lender_cpu_ = cpu;
  caller_affinity_ = allowed;
  for (size_t i = 0; i + 1 < workers_.size(); ++i)
    pthread_setaffinity_np(workers_[i].native_handle(), sizeof(others), &others);
  pthread_setaffinity_np(pinned_caller_, sizeof(others), &others);
  return cpu;
}

bool ThreadPool::pin_calling_thread(int cpu) {
  if (cpu < 0 || cpu >= CPU_SETSIZE) return false;
  const cpu_set_t one = only_cpu(cpu);
  return pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0;
}

void ThreadPool::unpin_lender() {
  if (lender_cpu_ < 0) return;
  lender_cpu_ = -1;
  for (auto& w : workers_) pthread_setaffinity_np(w.native_handle(), sizeof(caller_affinity_), &caller_affinity_);
  pthread_setaffinity_np(pinned_caller_, sizeof(caller_affinity_), &caller_affinity_);
}

void ThreadPool::step_aside_while_lent() {
  uint32_t s = lend_.load(std::memory_order_acquire);
  if (s == kFree) return;
  if (s == kWanted && lend_.compare_exchange_strong(s, kLent, std::memory_order_acq_rel)) lend_.notify_all();
  for (s = lend_.load(std::memory_order_acquire); s == kLent; s = lend_.load(std::memory_order_acquire))
    lend_.wait(kLent, std::memory_order_acquire);
}

void ThreadPool::run_parts(const std::function<void(int, int)>& fn) {
  for (int part = next_part_.fetch_add(1, std::memory_order_acq_rel); part < n_threads_;
       part = next_part_.fetch_add(1, std::memory_order_acq_rel))
    fn(part, n_threads_);
}

void ThreadPool::worker_loop(bool lender) {
  uint64_t seen = 0;
  // Only between parts: a core lent in the middle of one would hold up the whole run.
  auto asked_to_lend = [&] { return lender && lend_.load(std::memory_order_seq_cst) != kFree; };
  for (;;) {
    if (lender) step_aside_while_lent();
    uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int spin = 0; gen == seen && spin < kSpinIterations && !asked_to_lend(); ++spin) {
      MNEMO_CPU_RELAX();
      gen = generation_.load(std::memory_order_acquire);
    }
    bool lend_now = false;
    while (gen == seen && !lend_now) {
      if (lender) lender_asleep_.store(true, std::memory_order_seq_cst);
      if (!asked_to_lend()) generation_.wait(seen, std::memory_order_acquire);
      if (lender) lender_asleep_.store(false, std::memory_order_seq_cst);
      lend_now = asked_to_lend();
      gen = generation_.load(std::memory_order_acquire);
    }
    if (stop_.load(std::memory_order_acquire)) return;
    if (lend_now) continue;  // steps aside at the top; a run that started meanwhile is joined after
    seen = gen;
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
