// Kernels of the reference interpreter, one function per op family. Internal
// to ir/interp: evaluateOp (interpreter.cpp) dispatches to these. Every kernel
// computes its result shape from the semantics (docs/IR.md), in double
// precision, in the plainest way that is obviously right; integer rounding of
// results is applied afterwards by evaluateOp.
#pragma once

#include "ir/interp/interpreter.h"

#include <cstdint>
#include <span>
#include <vector>

namespace gm::ref::kernels {

// Index helpers shared by the kernels.
std::int64_t product(std::span<const std::int64_t> dims);
// Strides of `in` as seen from an output of shape `out` under numpy
// broadcasting: 0 where `in` has size 1 (or no dimension), aligned right.
std::vector<std::int64_t> broadcastStrides(const Shape &in, const Shape &out);
Tensor makeTensor(Shape shape); // zero-filled

// kernels_elementwise.cpp
Tensor unary(Op op, const Tensor &x);
Tensor binary(Op op, const Tensor &a, const Tensor &b, bool integerResult);

// kernels_linalg.cpp
Tensor matmul(const Tensor &a, const Tensor &b);
Tensor conv(const Attrs &attrs, std::span<const Tensor> operands);
Tensor batchNorm(const Attrs &attrs, std::span<const Tensor> operands);

// kernels_pool.cpp
Tensor maxPool(const Attrs &attrs, const Tensor &x);
Tensor averagePool(const Attrs &attrs, const Tensor &x);
// Output lengths come from gm::windowCount (ir/shape.h), shared with the type rules.

// kernels_reduce.cpp
Tensor softmax(const Attrs &attrs, const Tensor &x);
Tensor layerNorm(const Attrs &attrs, std::span<const Tensor> operands);
// matmul(x, transpose(W)) with W [N, K] read a row at a time (ir/linear_weights.h):
// the same sums in the same order as matmul, without materialising W or Wᵀ.
Tensor linearRows(const Tensor &x, const Constant &w);
// Its gradient for x: dx[.., k] += Σ_j g[.., j]·W[j, k].
void linearRowsVjp(const Constant &w, std::span<const double> g, double *dx, std::int64_t rows);
Tensor rmsNorm(const Attrs &attrs, std::span<const Tensor> operands);
Tensor reduce(Op op, const Attrs &attrs, const Tensor &x);

// kernels_movement.cpp
Tensor reshape(const Attrs &attrs, const Tensor &x);
Tensor transpose(const Attrs &attrs, const Tensor &x);
Tensor concat(const Attrs &attrs, std::span<const Tensor> operands);
Tensor slice(const Attrs &attrs, const Tensor &x);
Tensor gather(const Attrs &attrs, const Tensor &data, const Tensor &indices);

// kernels_bound.cpp: the bound-program family (several results each, of
// the node's result types; boundOpInto is interpreter.h's)
std::vector<Tensor> boundOp(Op op, const Attrs &attrs, std::span<const Tensor> operands,
                            std::span<const TensorType> resultTypes);

} // namespace gm::ref::kernels
