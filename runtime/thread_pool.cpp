#include "runtime/thread_pool.h"

#include <cstdlib>
#include <string>

namespace gm {

namespace {
thread_local bool insideTask = false;
}

ThreadPool::ThreadPool(unsigned threads) {
  for (unsigned t = 1; t < threads; ++t)
    workers_.emplace_back([this] { work(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread &t : workers_)
    t.join();
}

// Takes tasks until none is left; called with the mutex unlocked.
void ThreadPool::runTasks() {
  insideTask = true;
  while (true) {
    std::size_t i;
    {
      std::lock_guard lock(mutex_);
      if (next_ >= count_)
        break;
      i = next_++;
    }
    try {
      (*fn_)(i);
    } catch (...) {
      std::lock_guard lock(mutex_);
      if (!error_)
        error_ = std::current_exception();
    }
    std::lock_guard lock(mutex_);
    if (++finished_ == count_)
      done_.notify_all();
  }
  insideTask = false;
}

void ThreadPool::work() {
  unsigned seen = 0;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_)
        return;
      seen = generation_;
      ++busy_;
    }
    runTasks();
    {
      std::lock_guard lock(mutex_);
      --busy_;
    }
    done_.notify_all();
  }
}

void ThreadPool::parallelFor(std::size_t n, const std::function<void(std::size_t)> &fn) {
  if (n == 0)
    return;
  if (insideTask || workers_.empty() || n == 1) {
    for (std::size_t i = 0; i < n; ++i)
      fn(i);
    return;
  }
  {
    std::unique_lock lock(mutex_);
    // Another caller's loop may still be finishing on a worker.
    done_.wait(lock, [&] { return busy_ == 0 && fn_ == nullptr; });
    fn_ = &fn;
    count_ = n;
    next_ = 0;
    finished_ = 0;
    error_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
  runTasks();
  std::exception_ptr error;
  {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return finished_ == count_ && busy_ == 0; });
    fn_ = nullptr;
    error = error_;
  }
  done_.notify_all();
  if (error)
    std::rethrow_exception(error);
}

ThreadPool &ThreadPool::shared() {
  static ThreadPool pool([] {
    if (const char *env = std::getenv("GAMMA_THREADS")) {
      int n = std::atoi(env);
      if (n >= 1)
        return static_cast<unsigned>(n);
    }
    unsigned hw = std::thread::hardware_concurrency();
    return hw ? hw : 1u;
  }());
  return pool;
}

} // namespace gm
