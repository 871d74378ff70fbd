#include "mnemo/viz/session_worker.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

namespace mnemo::viz {

namespace {
constexpr int kReaderNice = 10;
}  // namespace

SessionWorker::SessionWorker(std::string path) : path_(std::move(path)) {
  thread_ = std::thread([this] { loop(); });
}

SessionWorker::~SessionWorker() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    for (auto& q : queues_) q.clear();
  }
  wake_.notify_all();
  thread_.join();
}

std::string SessionWorker::open_error() const {
  std::lock_guard lock(mu_);
  return open_error_;
}

std::string SessionWorker::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

void SessionWorker::submit(Priority p, Job job) {
  {
    std::lock_guard lock(mu_);
    if (stop_ || state_.load() == State::Failed) return;
    queues_[static_cast<int>(p)].push_back(std::move(job));
  }
  wake_.notify_one();
}

void SessionWorker::drop(Priority p) {
  std::lock_guard lock(mu_);
  queues_[static_cast<int>(p)].clear();
}

size_t SessionWorker::queued() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& q : queues_) n += q.size();
  return n;
}

bool SessionWorker::idle() const {
  std::lock_guard lock(mu_);
  if (running_) return false;
  for (const auto& q : queues_)
    if (!q.empty()) return false;
  return true;
}

void SessionWorker::loop() {
  pthread_setname_np(pthread_self(), "mnemo-reader");
  // Tiles are computed for frames that the UI thread (and a software rasteriser's threads) must
  // draw first: on a machine with few cores the reader takes what they leave. Linux applies a
  // thread's own nice value to that thread alone.
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kReaderNice);
  std::unique_ptr<profiler::SessionReader> reader;
  try {
    reader = std::make_unique<profiler::SessionReader>(path_);
    state_.store(State::Open);
  } catch (const std::exception& e) {
    std::lock_guard lock(mu_);
    open_error_ = e.what();
    for (auto& q : queues_) q.clear();
    state_.store(State::Failed);
    return;
  }
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      running_ = false;
      wake_.wait(lock, [&] {
        if (stop_) return true;
        for (const auto& q : queues_)
          if (!q.empty()) return true;
        return false;
      });
      if (stop_) return;
      for (auto& q : queues_)
        if (!q.empty()) {
          job = std::move(q.front());
          q.pop_front();
          break;
        }
      running_ = true;
    }
    try {
      job(*reader);
    } catch (const std::exception& e) {
      std::lock_guard lock(mu_);
      last_error_ = e.what();
    }
  }
}

}  // namespace mnemo::viz
