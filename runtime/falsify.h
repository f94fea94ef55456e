// Counterexample search by sampling: the cheap half of a verdict. Points are the
// box centre, its corners (up to 2^12 of them) and seeded uniform samples; each
// is evaluated by the reference interpreter in f64 and checked against every
// row of the disjunct, so a counterexample found here is already checked.
#pragma once

#include "frontend/vnnlib/vnnlib.h"
#include "ir/graph.h"

#include <chrono>
#include <optional>
#include <vector>

namespace gm {

struct Counterexample {
  std::size_t disjunct = 0;
  std::vector<double> input;
  std::vector<double> output;
};

struct FalsifyOptions {
  std::size_t samples = 1000; // uniform samples per disjunct
  std::uint64_t seed = 1;
  std::optional<std::chrono::steady_clock::time_point> deadline; // stop sampling (nullopt result) once passed
};

// Checks that the property's variable counts match the model (InputError if not).
void checkPropertyFits(const Graph &graph, const vnnlib::Property &property);

// Evaluates the graph on a flat input (the single graph input, row-major).
std::vector<double> evaluateFlat(const Graph &graph, const std::vector<double> &input);

// True when the point satisfies every row of the disjunct (and lies in its box).
bool violates(const vnnlib::Disjunct &disjunct, const std::vector<double> &input, const std::vector<double> &output);

std::optional<Counterexample> falsifyBySampling(const Graph &graph, const vnnlib::Property &property,
                                                const FalsifyOptions &options);

} // namespace gm
