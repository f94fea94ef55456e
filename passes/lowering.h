// The two halves of lower-bounds (docs/IR.md, "Bound programs").
#pragma once

#include "ir/graph.h"

#include <cstdint>
#include <string_view>
#include <vector>

namespace gm {

// Any network the direct methods bound, op by op (ibp.node, lb.node): the
// schedule and numbers of bounds/compute.cpp's DAG engine. lower_graph.cpp.
Graph lowerGraph(const Graph &net, std::string_view method, std::int64_t specRows);

// A network constant (and the constant subgraph behind it) in the program:
// the network's constants reused as they are (file references stay);
// `copied` maps network values to program values, kNoValue until copied.
ValueId copyConstant(const Graph &net, Graph &program, ValueId v, std::vector<ValueId> &copied);

} // namespace gm
