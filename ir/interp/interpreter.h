// The reference interpreter: evaluates a graph concretely in double precision,
// op by op, in the plainest way that is obviously right. It is the oracle the
// JIT kernels and every bound method are tested against, and the importer uses
// it to fold constant subgraphs.
#pragma once

#include "ir/graph.h"

#include <span>
#include <vector>

namespace gm::ref {

struct Tensor {
  Shape shape;
  std::vector<double> data; // row-major, numElements(shape) entries

  static Tensor fromConstant(const Constant &constant);
};

// Evaluates the whole graph; inputs in the order of Graph::inputs(), with the
// shapes of the input values. Returns the graph outputs. Throws InputError for
// a wrong input count or shape and for out-of-range gather indices.
std::vector<Tensor> evaluate(const Graph &graph, std::span<const Tensor> inputs);

// Evaluates one op on concrete operands. `resultTypes` are the node's result
// types (integer dtypes make div truncate and results round toward zero).
std::vector<Tensor> evaluateOp(Op op, const Attrs &attrs, std::span<const Tensor> operands,
                               std::span<const TensorType> resultTypes);

// A bound-program op over operands and results that live elsewhere (the
// runtime's arena): results are written into `results`, sized by the node's
// result types, which must not overlap the operands. The same arithmetic as
// evaluateOp. False, with nothing written, for ibp.node and lb.node (bounds/'s
// rules, which return their own tensors: use evaluateOp).
struct View {
  std::span<const double> data;
  std::span<const std::int64_t> shape;
};
bool boundOpInto(Op op, const Attrs &attrs, std::span<const View> operands, std::span<const std::span<double>> results);

// ibp.node and lb.node apply a network op's own rules from bounds/, which ir/
// cannot link: bounds::registerProgramRules() installs them for the process.
using NodeRuleKernel = std::vector<Tensor> (*)(Op op, const Attrs &attrs, std::span<const Tensor> operands);
void setNodeRuleKernel(NodeRuleKernel kernel);

} // namespace gm::ref
