// Reverse-mode differentiation in float64 on top of the reference interpreter.
// The counterexample search needs the direction in which a linear function of
// the outputs falls fastest; finite differences would cost one forward pass
// per input element (3072 for a CIFAR image), this costs one forward and one
// backward pass.
#pragma once

#include "ir/linear_weights.h"

#include "ir/interp/interpreter.h"

#include <optional>
#include <span>
#include <vector>

namespace gm::ref {

struct GradientResult {
  std::vector<double> outputs;  // all graph outputs, flat and concatenated in order
  std::vector<double> gradient; // d(sum_j weights[j] * outputs[j]) / d input, row-major like the input
};

// Gradient of sum_j weights[j] * y_j, y the flat outputs of the graph, with
// respect to its single input at `input`. At kinks (relu and abs at 0, ties in
// max_pool) it returns one subgradient: 0 for relu and abs, the first maximal
// tap for max_pool. Throws InputError when the graph does not have exactly one
// input, the input has the wrong shape, or `weights` does not have one entry
// per output element.
GradientResult inputGradient(const Graph &graph, const Tensor &input, std::span<const double> weights);

// The same for many points of one graph (a search takes hundreds of steps):
// everything that does not depend on the input (weights widened to f64,
// folded constant subgraphs) is evaluated once, at construction, so each call
// costs only the input-dependent nodes. The graph must outlive it; calls
// must not overlap (operands are moved in and out of the cache).
class GradientEvaluator {
public:
  explicit GradientEvaluator(const Graph &graph);
  GradientResult operator()(const Tensor &input, std::span<const double> weights);

private:
  const Graph &graph_;
  ValueId input_;
  std::size_t numOutputs_ = 0;
  std::vector<bool> varies_;                 // value depends on the input
  std::vector<std::optional<Tensor>> fixed_; // the values that do not, computed once
  LinearWeights linear_;                     // weights read a row at a time
  // The row-read weight of a matmul node, or null.
  const Constant *streamedWeight(const Node &node) const;
};

} // namespace gm::ref
