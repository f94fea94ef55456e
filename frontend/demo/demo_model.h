// The embedded default: a small network gamma builds itself, so the README's
// first command works with nothing to download. A 5-16-16-5 ReLU network with
// deterministic weights (the shape of an ACAS Xu network, smaller) and a local
// robustness property around the origin.
#pragma once

#include "ir/graph.h"

#include <string>

namespace gm::demo {

constexpr const char *kModelName = "demo";

Graph buildModel();

// VNNLIB text: inputs in [-kEpsilon, kEpsilon]^5, counterexample when some
// output Y_j >= Y_label, where label is the top output at the origin.
constexpr double kEpsilon = 0.02;
std::string propertyText();

} // namespace gm::demo
