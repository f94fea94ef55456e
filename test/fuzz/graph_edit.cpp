#include "test/fuzz/graph_edit.h"

#include "ir/error.h"
#include "ir/verifier.h"

namespace gm::fuzz {

namespace {

ValueId resolve(const Edit &edit, ValueId v) {
  // Reroute targets are earlier values, so chains end.
  for (auto it = edit.reroute.find(v); it != edit.reroute.end(); it = edit.reroute.find(v))
    v = it->second;
  return v;
}

} // namespace

Graph applyEdit(const Graph &graph, const Edit &edit) {
  GAMMA_ASSERT(edit.output || graph.outputs().size() == 1, "fuzz graphs have one output");
  ValueId output = resolve(edit, edit.output ? *edit.output : graph.outputs()[0]);

  // Backward liveness over the edited dependencies.
  std::vector<bool> needed(graph.numValues(), false);
  needed[output] = true;
  for (NodeId id = NodeId(graph.numNodes()); id-- > 0;) {
    const Node &node = graph.node(id);
    bool live = false;
    for (ValueId r : node.results)
      live = live || (needed[r] && !edit.freeze.count(r));
    auto it = edit.operands.find(id);
    if (live)
      for (ValueId v : it != edit.operands.end() ? it->second : node.operands)
        needed[resolve(edit, v)] = true;
  }

  Graph out;
  out.name = graph.name;
  std::vector<ValueId> map(graph.numValues(), kNoValue);
  for (NodeId id = 0; id < graph.numNodes(); ++id) {
    const Node &node = graph.node(id);
    if (node.op == Op::Input) {
      map[node.results[0]] = out.addInput(node.attrs.getString("name"), graph.type(node.results[0]), node.name);
      continue;
    }
    ValueId r = node.results[0];
    if (!needed[r])
      continue;
    if (auto it = edit.freeze.find(r); it != edit.freeze.end()) {
      map[r] = out.addConst(it->second);
      continue;
    }
    if (node.op == Op::Const) {
      auto it = edit.payload.find(id);
      map[r] = out.addConst(it != edit.payload.end() ? it->second : node.constant, node.name);
      continue;
    }
    std::vector<ValueId> operands;
    auto replaced = edit.operands.find(id);
    for (ValueId v : replaced != edit.operands.end() ? replaced->second : node.operands) {
      ValueId m = map[resolve(edit, v)];
      GAMMA_ASSERT(m != kNoValue, "rerouted to a value that is not defined before its use");
      operands.push_back(m);
    }
    std::vector<ValueId> results = out.add(node.op, std::move(operands), node.attrs, node.name);
    for (std::size_t i = 0; i < results.size(); ++i)
      map[node.results[i]] = results[i];
  }
  out.setOutputs({map[output]});
  verify(out, "fuzz edit");
  return out;
}

std::vector<bool> constantValues(const Graph &graph) {
  std::vector<bool> constant(graph.numValues(), true);
  for (const Node &node : graph.nodes()) {
    bool c = node.op != Op::Input;
    for (ValueId v : node.operands)
      c = c && constant[v];
    for (ValueId r : node.results)
      constant[r] = c;
  }
  return constant;
}

} // namespace gm::fuzz
