#include "mnemo/core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <vector>

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

TEST(ThreadPool, UsesSeveralThreadsWhenTheyAreFree) {
  ThreadPool pool(2);
  std::set<std::thread::id> ids;
  std::mutex mu;
  for (int rep = 0; rep < 200 && ids.size() < 2; ++rep)
    pool.run([&](int, int) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      std::lock_guard<std::mutex> lock(mu);
      ids.insert(std::this_thread::get_id());
    });
  EXPECT_EQ(ids.size(), 2u);
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

}  // namespace
}  // namespace mnemo
