// The two halves of lower-bounds (docs/IR.md, "Bound programs").
#pragma once

#include "ir/graph.h"

#include <cstdint>
#include <string_view>

namespace gm {

// Any network the direct methods bound, op by op (ibp.node, lb.node): the
// schedule and numbers of bounds/compute.cpp's DAG engine. lower_graph.cpp.
Graph lowerGraph(const Graph &net, std::string_view method, std::int64_t specRows);

} // namespace gm
