// Type rules of the bound-program ops; inferResultTypes dispatches here.
#pragma once

#include "ir/graph.h"

#include <string>
#include <vector>

namespace gm {

std::vector<TensorType> inferBoundResultTypes(Op op, std::span<const TensorType> operands, const Attrs &attrs);

// The steps of an ibp.chain ("add,mul,relu"), checked.
std::vector<std::string> chainSteps(const Attrs &attrs);

} // namespace gm
