// A fixed pool of worker threads for data-parallel kernels. The calling thread takes part in
// every run, so a pool of N threads starts N-1 workers. Workers spin briefly before sleeping: a
// decode step issues hundreds of short parallel sections, and waking a sleeping thread costs more
// than most of them take.
//
// Work is claimed, not assigned: the N parts of a run go to whichever threads ask first, and the
// caller waits only for workers that actually joined. When another process holds a core and a
// worker is descheduled, the caller does the whole run itself instead of waiting a time slice.
#pragma once

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace mnemo {

class ThreadPool {
 public:
  // n_threads is clamped to 1..1024; 1 means run everything inline. Throws mnemo::Error naming
  // the thread that could not be started (after joining those that were).
  explicit ThreadPool(int n_threads);
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
  // The most threads worth asking for: 4 per core, at most 1024. Past one per core threads only
  // take turns, and each reserves a stack of address space (8 MiB by default).
  static int max_threads();

  // Lends one worker's core to another thread of the process (the session recorder's writer).
  // borrow_core() blocks until the lending worker has finished the part it is on and stepped
  // aside (at once when it sleeps); until return_core(), runs go on with one thread fewer.
  // Why: on a machine whose cores the pool fills, a thread that the scheduler puts beside it
  // preempts a worker in the middle of a part, and the whole run then waits for that part: about
  // a second of the pool's wall for every CPU-second of the other thread. Lent between parts,
  // the core costs the pool half that. One borrower at a time; a pool of one thread has no
  // worker to lend, and borrow_core() returns false without waiting. The borrower returns the
  // core before the pool is destroyed.
  bool borrow_core();
  void return_core();
  // True while a core is wanted or lent: a kernel about to start a long run can split it finer,
  // so that the worker coming back in its middle still finds parts to take.
  bool core_lent() const { return lend_.load(std::memory_order_relaxed) != kFree; }
  // Pins the lending worker to one CPU the process may use and keeps the pool's other threads
  // off it: the other workers, and the calling thread, taken to be the one that calls run().
  // Returns the CPU (-1 when there is no worker to lend, one CPU only, or pinning failed). A
  // borrower that runs on that CPU finds it free when lent, instead of being woken beside an
  // engine thread while the lent CPU idles; and an engine thread that the scheduler would move
  // onto the lender's CPU (where it then shares one CPU with the pinned worker while another
  // idles, for tens of milliseconds until the load balancer moves it back) stays where it is.
  // unpin_lender(), from any thread, restores every affinity pin_lender() changed.
  int pin_lender();
  void unpin_lender();
  int lender_cpu() const { return lender_cpu_; }
  static bool pin_calling_thread(int cpu);  // the borrower's half of pin_lender()

 private:
  static constexpr int kMaxThreads = 1024;
  void worker_loop(bool lender);
  void stop_workers();  // stops and joins every worker started
  void run_parts(const std::function<void(int, int)>& fn);
  void step_aside_while_lent();

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

  // The lending worker (the last one) and borrow_core() meet through lend_: free, wanted by the
  // borrower, or lent (the worker is parked). lender_asleep_ lets a borrower take the core of a
  // worker that sleeps between runs without waking it.
  static constexpr uint32_t kFree = 0, kWanted = 1, kLent = 2;
  std::atomic<uint32_t> lend_{kFree};
  std::atomic<bool> lender_asleep_{false};
  // What pin_lender() changed, for unpin_lender() to restore.
  int lender_cpu_ = -1;
  pthread_t pinned_caller_{};
  cpu_set_t caller_affinity_{};
};

}  // namespace mnemo
