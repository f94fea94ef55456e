// Weights for small synthetic models written by tests: named tensors of
// values on a 1/64 grid in [-0.5, 0.5], exact in f32, f16 and bf16 alike, so
// files of every dtype hold the same numbers.
#pragma once

#include "ir/shape.h"

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace gm::test {

using Weights = std::map<std::string, std::pair<Shape, std::vector<double>>>;

// splitmix64 mapped to multiples of 1/64 in [-0.5, 0.5].
struct GridRng {
  std::uint64_t state;
  double next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return static_cast<double>(static_cast<std::int64_t>(z % 65) - 32) / 64.0;
  }
};

} // namespace gm::test
