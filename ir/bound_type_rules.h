// Type rules of the bound-program ops; inferResultTypes dispatches here.
#pragma once

#include "ir/graph.h"

#include <string>
#include <vector>

namespace gm {

std::vector<TensorType> inferBoundResultTypes(Op op, std::span<const TensorType> operands, const Attrs &attrs);

// The network node an ibp.node or lb.node applies (ir/ops.def): its op and
// attributes, and per network operand where its program operands start and
// its group (0: a constant, j > 0: the j-th distinct bounded operand, whose
// `perBounded` interval tensors appear once, where j is first named).
struct NodeRule {
  Op op;
  Attrs attrs;
  std::vector<std::int64_t> group;
  std::vector<std::size_t> at;
  std::int64_t numBounded = 0;
};
// `first`: program operands before the network's (lb.node: A and c).
NodeRule nodeRule(const Attrs &attrs, std::size_t first, std::size_t perBounded, std::size_t numOperands);

// The steps of an ibp.chain ("add,mul,relu"), checked.
std::vector<std::string> chainSteps(const Attrs &attrs);

} // namespace gm
