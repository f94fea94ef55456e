// The fuzzer's random numbers: a fixed generator and hand-written
// distributions, so a case seed means the same case with every standard
// library (std::uniform_*_distribution is implementation-defined).
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace gm::fuzz {

inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

class Rng {
public:
  explicit Rng(std::uint64_t seed) : engine_(splitmix64(seed)) {}

  std::uint64_t next() { return engine_(); }
  // Uniform in [0, 1).
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [lo, hi].
  std::int64_t integer(std::int64_t lo, std::int64_t hi) {
    return lo + std::int64_t(next() % std::uint64_t(hi - lo + 1));
  }
  bool chance(double p) { return uniform() < p; }
  double normal() {
    // Box-Muller; 1 - u keeps the logarithm's argument in (0, 1].
    double u = 1.0 - uniform(), v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
  }
  template <typename T> const T &pick(const std::vector<T> &items) { return items[next() % items.size()]; }

private:
  std::mt19937_64 engine_;
};

} // namespace gm::fuzz
