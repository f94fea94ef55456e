// The thread pool: every task runs once, exceptions reach the caller, nested
// loops run serially, and callers from several threads take turns.
#include "runtime/thread_pool.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

using gm::ThreadPool;

TEST_SUITE("thread_pool") {

TEST_CASE("every index runs exactly once, on more than one thread when there are several") {
  ThreadPool pool(3);
  CHECK(pool.size() == 3);
  for (std::size_t n : {0u, 1u, 2u, 7u, 1000u}) {
    std::vector<std::atomic<int>> hits(n);
    pool.parallelFor(n, [&](std::size_t i) { hits[i]++; });
    for (std::size_t i = 0; i < n; ++i)
      REQUIRE(hits[i] == 1);
  }
  // Slow tasks: the workers take some of them.
  std::mutex m;
  std::set<std::thread::id> seen;
  pool.parallelFor(12, [&](std::size_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::lock_guard lock(m);
    seen.insert(std::this_thread::get_id());
  });
  CHECK(seen.size() > 1);
}

TEST_CASE("a task's exception is rethrown to the caller and the pool stays usable") {
  ThreadPool pool(2);
  CHECK_THROWS_AS(pool.parallelFor(10,
                                   [](std::size_t i) {
                                     if (i == 3)
                                       throw std::runtime_error("task 3");
                                   }),
                  std::runtime_error);
  std::atomic<int> count = 0;
  pool.parallelFor(10, [&](std::size_t) { count++; });
  CHECK(count == 10);
}

TEST_CASE("nested loops run serially inside a task; concurrent callers take turns") {
  ThreadPool pool(2);
  std::atomic<int> inner = 0;
  pool.parallelFor(4, [&](std::size_t) { pool.parallelFor(5, [&](std::size_t) { inner++; }); });
  CHECK(inner == 20);

  std::atomic<int> total = 0;
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&] {
      for (int k = 0; k < 50; ++k)
        pool.parallelFor(8, [&](std::size_t) { total++; });
    });
  for (std::thread &t : callers)
    t.join();
  CHECK(total == 4 * 50 * 8);
}

TEST_CASE("a serial pool runs everything on the caller") {
  ThreadPool pool(1);
  std::thread::id me = std::this_thread::get_id();
  bool elsewhere = false;
  pool.parallelFor(20, [&](std::size_t) { elsewhere |= std::this_thread::get_id() != me; });
  CHECK_FALSE(elsewhere);
}

} // TEST_SUITE
