// Graph surgery for the fuzzer: rebuild a graph with some uses rerouted, some
// values frozen to constants and a new output, dropping what the output no
// longer needs. The shrinker is built from these edits; the generator uses the
// same rebuild to drop branches it did not end up using.
#pragma once

#include "ir/graph.h"

#include <map>
#include <memory>
#include <optional>

namespace gm::fuzz {

struct Edit {
  std::map<ValueId, ValueId> reroute; // every use of the key reads the (earlier, same-typed) value instead
  std::map<ValueId, std::shared_ptr<const Constant>> freeze; // the value is defined by this constant instead
  std::map<NodeId, std::shared_ptr<const Constant>> payload; // a const node gets this payload instead
  std::map<NodeId, std::vector<ValueId>> operands;           // a node reads these operands instead
  std::optional<ValueId> output;                             // the new graph output
};

// The edited graph, verified. Result types are inferred again, so an edit may
// change the types downstream (an InputError when some type rule then fails).
// The single input is always kept, even when the output no longer depends on
// it (bounds need an input to range over).
Graph applyEdit(const Graph &graph, const Edit &edit);

// Values whose evaluation does not depend on the input.
std::vector<bool> constantValues(const Graph &graph);

} // namespace gm::fuzz
