// A small pool of threads for data-parallel loops.
//
// parallelFor(n, fn) runs fn(0), ..., fn(n-1) on the pool's threads and the
// calling thread and returns when all are done; tasks are taken in index
// order from a shared counter, so which thread runs a task varies but the
// set of tasks does not. The first exception a task throws is rethrown to
// the caller (the others are dropped). A parallelFor called from inside a
// task runs serially on that thread, so nesting is safe.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gm {

class ThreadPool {
public:
  // `threads` counts the caller: 1 means no extra threads.
  explicit ThreadPool(unsigned threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  unsigned size() const { return static_cast<unsigned>(workers_.size()) + 1; }
  void parallelFor(std::size_t n, const std::function<void(std::size_t)> &fn);

  // One pool for the process, sized by the environment variable GAMMA_THREADS
  // when set (1 = serial), else by the number of hardware threads.
  static ThreadPool &shared();

private:
  void work();
  void runTasks();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(std::size_t)> *fn_ = nullptr;
  std::size_t count_ = 0, next_ = 0, finished_ = 0;
  unsigned generation_ = 0, busy_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

} // namespace gm
