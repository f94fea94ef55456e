// The seeded generator of the counterexample search (splitmix64): small,
// fast, and the same sequence on every platform, so a seed reproduces a run.
#pragma once

#include <cstdint>

namespace gm {

struct Rng {
  std::uint64_t state;
  double unit() { // [0, 1)
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return static_cast<double>((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
  }
};

} // namespace gm
