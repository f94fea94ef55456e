// The verifier: arity, types (by each op's type rule), dominance and the
// source ops' invariants. Run after import, after parsing, and after every pass
// under --verify-each (always in debug builds).
#pragma once

#include "ir/graph.h"

#include <string>

namespace gm {

// Throws InputError "where: node 'name' (op): problem" on the first problem.
void verify(const Graph &graph, const std::string &where);

} // namespace gm
