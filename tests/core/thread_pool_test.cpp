#include "mnemo/core/thread_pool.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "mnemo/core/error.h"

namespace mnemo {
namespace {

TEST(ThreadPool, EveryPartRunsExactlyOnce) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (int rep = 0; rep < 2000; ++rep) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(threads));
      pool.run([&](int part, int n) {
        EXPECT_EQ(n, threads);
        hits[static_cast<size_t>(part)].fetch_add(1);
      });
      for (auto& h : hits) ASSERT_EQ(h.load(), 1) << threads << " threads, rep " << rep;
    }
  }
}

TEST(ThreadPool, ParallelForCoversTheRangeOnce) {
  ThreadPool pool(3);
  for (int64_t n : {0, 1, 2, 7, 100, 12345}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    pool.parallel_for(n, 4, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
    });
    for (auto& h : hits) ASSERT_EQ(h.load(), 1);
  }
}

// How many threads of the pool ran parts, over up to 200 runs of 200 µs parts.
size_t threads_taking_part(ThreadPool& pool) {
  std::set<std::thread::id> ids;
  std::mutex mu;
  for (int rep = 0; rep < 200 && ids.size() < static_cast<size_t>(pool.size()); ++rep)
    pool.run([&](int, int) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      std::lock_guard<std::mutex> lock(mu);
      ids.insert(std::this_thread::get_id());
    });
  return ids.size();
}

TEST(ThreadPool, UsesSeveralThreadsWhenTheyAreFree) {
  ThreadPool pool(2);
  EXPECT_EQ(threads_taking_part(pool), 2u);
}

TEST(ThreadPool, CallerDoesNotWaitForAWorkerThatNeverJoined) {
  // A part that blocks until another part has run: with claimed (not assigned) parts the caller
  // can run both, so this finishes even if the worker is slow to wake.
  ThreadPool pool(2);
  for (int rep = 0; rep < 500; ++rep) {
    std::atomic<int> done{0};
    pool.run([&](int, int) { done.fetch_add(1); });
    ASSERT_EQ(done.load(), 2);
  }
}

// Runs `fn` on another thread and fails instead of hanging when it does not return in time.
template <class Fn>
void finishes_within(std::chrono::seconds limit, Fn fn, const char* what) {
  auto done = std::async(std::launch::async, std::move(fn));
  ASSERT_EQ(done.wait_for(limit), std::future_status::ready) << what << " did not return";
  done.get();
}

// Threads that cannot be started (`ulimit -v` leaves no room for their stacks, `ulimit -u`) are an
// error naming how far the pool got, after the workers already started are joined: destroying
// them unjoined would terminate the process ("terminate called without an active exception").
// In a child process, whose address space is capped a little above what it uses.
TEST(ThreadPool, AThreadThatCannotStartIsAnErrorNotATermination) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    long pages = 0;
    if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(f, "%ld", &pages) != 1) pages = 0;
      std::fclose(f);
    }
    const rlim_t cap = static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE)) + (rlim_t{256} << 20);
    const struct rlimit limit = {cap, cap};
    if (pages == 0 || ::setrlimit(RLIMIT_AS, &limit) != 0) ::_exit(10);
    try {
      ThreadPool pool(1024);  // 1024 stacks of 2-8 MiB each cannot fit in 256 MiB
      ::_exit(11);
    } catch (const Error& e) {
      std::fprintf(stderr, "%s\n", e.what());
      if (std::string(e.what()).find("cannot start thread ") != 0 ||
          std::string(e.what()).find(" of the 1024 asked for") == std::string::npos)
        ::_exit(12);
    } catch (...) {
      ::_exit(13);
    }
    // The workers that did start were joined and their stacks freed: a small pool still works.
    ThreadPool small(4);
    std::atomic<int> parts{0};
    small.run([&](int, int) { parts.fetch_add(1); });
    ::_exit(parts.load() == 4 ? 0 : 14);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_FALSE(WIFSIGNALED(status)) << "the child died of signal " << WTERMSIG(status) << " (std::terminate aborts)";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: no limit set, 11: every thread started, 12: wrong message, "
                                       "13: not a mnemo::Error, 14: a pool afterwards did not run";
}

TEST(ThreadPoolCoreLoan, APoolOfOneThreadHasNoCoreToLend) {
  ThreadPool pool(1);
  EXPECT_FALSE(pool.borrow_core());
  pool.return_core();  // harmless
  int ran = 0;
  pool.run([&](int, int) { ++ran; });
  EXPECT_EQ(ran, 1);
}

TEST(ThreadPoolCoreLoan, ASleepingWorkerLendsItsCoreWithoutWaking) {
  ThreadPool pool(2);
  pool.run([](int, int) {});
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // past the spin: the worker sleeps
  finishes_within(std::chrono::seconds(10), [&] { EXPECT_TRUE(pool.borrow_core()); }, "borrow_core");
  pool.return_core();
}

TEST(ThreadPoolCoreLoan, WhileLentTheCallerRunsEveryPartAndTheWorkerTakesNone) {
  ThreadPool pool(2);
  ASSERT_TRUE(pool.borrow_core());
  const auto caller = std::this_thread::get_id();
  for (int rep = 0; rep < 500; ++rep) {
    std::vector<std::thread::id> ran(2);
    pool.run([&](int part, int) {
      std::this_thread::sleep_for(std::chrono::microseconds(rep % 10 == 0 ? 200 : 0));
      ran[static_cast<size_t>(part)] = std::this_thread::get_id();
    });
    ASSERT_EQ(ran[0], caller) << "rep " << rep;
    ASSERT_EQ(ran[1], caller) << "rep " << rep;
  }
  pool.return_core();
  EXPECT_EQ(threads_taking_part(pool), 2u) << "given back, the worker joins runs again";
}

TEST(ThreadPoolCoreLoan, TheWorkerFinishesItsPartBeforeItLends) {
  // Parts of 30 ms on two threads: a borrower that asks in the middle gets the core only once the
  // worker's part has returned, never while it runs.
  ThreadPool pool(2);
  int worker_parts = 0;
  for (int rep = 0; rep < 5; ++rep) {
    std::atomic<int> worker_in_part{0}, worker_ran{0};
    std::atomic<bool> borrowed_while_worker_ran{false};
    std::atomic<bool> asked{false};
    const auto caller = std::this_thread::get_id();
    std::thread borrower([&] {
      while (!asked.load()) std::this_thread::yield();
      pool.borrow_core();
      if (worker_in_part.load() != 0) borrowed_while_worker_ran = true;
      pool.return_core();
    });
    pool.run([&](int, int) {
      const bool worker = std::this_thread::get_id() != caller;
      if (worker) worker_in_part.fetch_add(1), worker_ran.fetch_add(1);
      asked = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      if (worker) worker_in_part.fetch_sub(1);
    });
    borrower.join();
    EXPECT_FALSE(borrowed_while_worker_ran.load()) << "rep " << rep;
    worker_parts += worker_ran.load();
  }
  EXPECT_GT(worker_parts, 0) << "the worker never took a part: the test proved nothing";
}

TEST(ThreadPoolCoreLoan, LoansInterleavedWithRunsLoseNoPartAndNeverHang) {
  for (int threads : {2, 3, 4}) {
    ThreadPool pool(threads);
    std::atomic<bool> stop{false};
    std::atomic<int64_t> loans{0};
    std::thread borrower([&] {
      while (!stop.load()) {
        pool.borrow_core();
        loans.fetch_add(1);
        std::this_thread::sleep_for(std::chrono::microseconds(loans.load() % 3 * 50));
        pool.return_core();
        std::this_thread::sleep_for(std::chrono::microseconds(loans.load() % 5 * 20));
      }
    });
    finishes_within(std::chrono::seconds(60), [&] {
      for (int rep = 0; rep < 20000; ++rep) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(threads));
        pool.run([&](int part, int) { hits[static_cast<size_t>(part)].fetch_add(1); });
        for (auto& h : hits) ASSERT_EQ(h.load(), 1) << threads << " threads, rep " << rep;
        if (rep % 1000 == 999) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // let the worker sleep
      }
    }, "runs beside a borrower");
    stop = true;
    borrower.join();
    EXPECT_GT(loans.load(), 0);
  }
}

TEST(ThreadPoolCoreLoan, ThePinnedLenderHasItsCpuToItself) {
  ThreadPool single(1);
  EXPECT_EQ(single.pin_lender(), -1);
  if (ThreadPool::hardware_threads() < 2) GTEST_SKIP() << "one CPU: nothing to pin apart";
  cpu_set_t before;
  ASSERT_EQ(pthread_getaffinity_np(pthread_self(), sizeof(before), &before), 0);
  ThreadPool pool(3);
  const int cpu = pool.pin_lender();
  ASSERT_GE(cpu, 0);
  EXPECT_EQ(pool.lender_cpu(), cpu);
  EXPECT_EQ(pool.pin_lender(), cpu);  // pinned once; a second call changes nothing
  EXPECT_TRUE(CPU_ISSET(cpu, &before));
  cpu_set_t mine;
  ASSERT_EQ(pthread_getaffinity_np(pthread_self(), sizeof(mine), &mine), 0);
  EXPECT_FALSE(CPU_ISSET(cpu, &mine)) << "the calling thread, which runs parts, stays off the lender's CPU";
  EXPECT_EQ(CPU_COUNT(&mine), CPU_COUNT(&before) - 1);

  // The lender (the last worker) runs only on its CPU, every other thread never there.
  std::mutex mu;
  std::map<std::thread::id, std::set<int>> cpus_by_thread;
  for (int rep = 0; rep < 200; ++rep)
    pool.run([&](int, int) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
      std::lock_guard lock(mu);
      cpus_by_thread[std::this_thread::get_id()].insert(sched_getcpu());
    });
  int on_lender_cpu_only = 0;
  for (const auto& [id, cpus] : cpus_by_thread) {
    if (cpus == std::set<int>{cpu}) ++on_lender_cpu_only;
    else EXPECT_FALSE(cpus.count(cpu)) << "a thread other than the lender ran on its CPU";
  }
  EXPECT_EQ(on_lender_cpu_only, 1);

  pool.unpin_lender();
  EXPECT_EQ(pool.lender_cpu(), -1);
  ASSERT_EQ(pthread_getaffinity_np(pthread_self(), sizeof(mine), &mine), 0);
  EXPECT_TRUE(CPU_EQUAL(&mine, &before)) << "unpin_lender restores the calling thread's CPUs";
  EXPECT_EQ(threads_taking_part(pool), 3u);
}

TEST(ThreadPoolCoreLoan, APoolDestroyedWhileLentDoesNotHang) {
  finishes_within(std::chrono::seconds(10), [] {
    auto pool = std::make_unique<ThreadPool>(2);
    pool->borrow_core();
    pool.reset();
  }, "~ThreadPool");
}

}  // namespace
}  // namespace mnemo
