// Linear layers whose weights are read a row at a time. A Linear weight is
// stored [out, in] and used as matmul(x, transpose(W)); an evaluator that
// materialises every constant, and then its transpose, holds the model twice
// over in float64. For these matmuls, W's rows are the output features, so
// y[.., j] = Σ_k x[.., k]·W[j, k] can be computed decoding W a few rows at a
// time, and neither W nor its transpose is ever materialised.
#pragma once

#include "ir/graph.h"

#include <vector>

namespace gm {

struct LinearWeights {
  // Per value: for the right operand of such a matmul (the transpose's
  // result), the [out, in] constant it reads; null elsewhere.
  std::vector<const Constant *> rows;
  // Per value: true for the weight and its transpose when every use of them
  // is such a matmul, so no evaluator needs their values.
  std::vector<bool> unused;
};

// Matmuls matmul(x, transpose(const W, perm [1, 0])) with W of at least
// `minElements` elements (0: every size).
LinearWeights findLinearWeights(const Graph &g, std::int64_t minElements);

} // namespace gm
