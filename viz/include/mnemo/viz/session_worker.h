// A session file read off the UI thread: one worker thread with its own SessionReader runs jobs
// in priority order. Canvases submit jobs and poll their results once per frame, so drawing
// never waits on disk or on recomputing attention from the factors.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "mnemo/profiler/session/session_reader.h"

namespace mnemo::viz {

enum class Priority : int {
  Now = 0,         // what the user points at (a hovered score)
  Visible = 1,     // what is on screen
  Prefetch = 2,    // what panning or zooming will show next
  Background = 3,  // bulk loads (thumbnails, timelines)
};
inline constexpr int kPriorities = 4;

// A value computed on the worker: ready() turns true once, then value() or error() is set.
template <class T>
class Pending {
 public:
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  bool failed() const { return ready() && !value_; }
  const T* value() const { return ready() && value_ ? &*value_ : nullptr; }
  T* mutable_value() { return ready() && value_ ? &*value_ : nullptr; }  // to move the result out
  const std::string& error() const { return error_; }  // valid once ready()

  void set(T v) {
    value_ = std::move(v);
    ready_.store(true, std::memory_order_release);
  }
  void fail(std::string why) {
    error_ = std::move(why);
    ready_.store(true, std::memory_order_release);
  }

 private:
  std::atomic<bool> ready_{false};
  std::optional<T> value_;
  std::string error_;
};

template <class T>
using PendingPtr = std::shared_ptr<Pending<T>>;

class SessionWorker {
 public:
  using Job = std::function<void(profiler::SessionReader&)>;

  explicit SessionWorker(std::string path);  // opens the file on the worker thread
  ~SessionWorker();                          // drops queued jobs, finishes the running one
  SessionWorker(const SessionWorker&) = delete;
  SessionWorker& operator=(const SessionWorker&) = delete;

  const std::string& path() const { return path_; }
  // Whether the file opened; until then (or when it failed) jobs wait or are dropped.
  bool opened() const { return state_.load() == State::Open; }
  bool open_failed() const { return state_.load() == State::Failed; }
  std::string open_error() const;  // why it failed, once open_failed()

  // Queues a job. Jobs of one priority run in submission order; a job that throws is logged in
  // last_error() (jobs that return values catch their own errors into their Pending).
  void submit(Priority p, Job job);
  // Computes fn(reader) on the worker into a Pending; exceptions become its error.
  template <class T>
  PendingPtr<T> compute(Priority p, std::function<T(profiler::SessionReader&)> fn) {
    auto out = std::make_shared<Pending<T>>();
    submit(p, [out, fn = std::move(fn)](profiler::SessionReader& r) {
      try {
        out->set(fn(r));
      } catch (const std::exception& e) {
        out->fail(e.what());
      }
    });
    return out;
  }
  void drop(Priority p);  // forgets the queued jobs of one priority (stale prefetches)
  size_t queued() const;
  bool idle() const;      // nothing queued and nothing running
  std::string last_error() const;

 private:
  enum class State { Opening, Open, Failed };
  void loop();

  std::string path_;
  std::atomic<State> state_{State::Opening};
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Job> queues_[kPriorities];
  bool stop_ = false;
  bool running_ = false;
  std::string open_error_, last_error_;
  std::thread thread_;
};

}  // namespace mnemo::viz
