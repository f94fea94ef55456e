// Which nodes of a bound program a plan's object code serves, read the same
// way by gammac (runtime/plan_write.h builds the kernels) and by the runtime
// (runtime/program_runner.h calls them): one reading, so a kernel is never
// bound to a node it was not compiled for.
#pragma once

#include "ir/graph.h"

#include <optional>
#include <string>
#include <vector>

namespace gm {

// One step of an ibp.chain as its kernel sees it.
struct ChainKernelStep {
  enum Kind { Relu, Add, Mul } kind;
  // A scalar constant is baked into the code (value); any other operand is an
  // array of the chain's length passed at run time (operand).
  bool scalar = false;
  double value = 0;
  ValueId operand = 0;
};

// The steps of an ibp.chain node, or nothing when an operand is neither a
// scalar constant nor an array of the chain's length (a broadcast): that
// node is then interpreted.
std::optional<std::vector<ChainKernelStep>> chainKernelSteps(const Graph &program, NodeId id);

// The kernels' symbols: the node index and what the code is specialised to,
// so a plan whose IR and code disagree fails to link instead of running the
// wrong kernel: a chain names its steps, each scalar constant baked into the
// code in hex ("chain7.arms0x1.8p+0.16"), a product its shape ("pn3.50x5").
std::string chainKernelName(const Graph &program, NodeId id, const std::vector<ChainKernelStep> &steps);
std::string productKernelName(const Graph &program, NodeId id);

} // namespace gm
