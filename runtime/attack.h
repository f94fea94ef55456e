// Counterexample search by projected gradient descent on the concrete network:
// the half of a verdict that sampling cannot do when the violating region is
// small. Gradients come from ref::inputGradient (f64, reference interpreter);
// every point returned has been re-evaluated with evaluateFlat and checked
// with violates(), so a counterexample from here is as trustworthy as one from
// falsifyBySampling.
#pragma once

#include "frontend/vnnlib/vnnlib.h"
#include "ir/graph.h"
#include "runtime/falsify.h"

#include <chrono>
#include <cstdint>
#include <optional>

namespace gm {

struct AttackOptions {
  int restarts = 8; // per disjunct: the box centre, then seeded random starts
  int steps = 60;   // gradient evaluations per restart after its start
  std::uint64_t seed = 1;
  // Checked before every step; once passed, the search stops and returns nullopt.
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

// For each disjunct, minimises  max_r row_r(x, y(x))  (rows as in
// frontend/vnnlib/vnnlib.h; a point is a counterexample when every row is
// <= 0, or < 0 for strict rows) over the disjunct's box, by signed-gradient
// steps projected back onto the box: per-coordinate steps start at a quarter
// of the width, halve when a step does not lower the margin or the gradient's
// sign flips, and grow while it holds. Restarts go round the disjuncts, the
// closest first; the best point of all is refined last. Coordinates the box
// leaves unbounded are searched in a finite range next to their finite side
// (or around 0). Deterministic for a given seed. Throws InputError when the
// property does not fit the model (checkPropertyFits).
std::optional<Counterexample> attackProperty(const Graph &graph, const vnnlib::Property &property,
                                             const AttackOptions &options);

} // namespace gm
