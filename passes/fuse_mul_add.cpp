// fuse-mul-add: a run of elementwise interval steps (ibp.add, ibp.mul,
// ibp.relu, or chains already fused) where each step's interval feeds only the
// next becomes one ibp.chain, codegen's IntervalChain: one read and one write
// per element instead of one per step. The steps keep their rounding (every
// rounded end one ulp outward), so the numbers do not change.
#include "ir/bound_type_rules.h"
#include "passes/pass.h"

#include <optional>

namespace gm {

namespace {

struct Chain {
  ValueId lo = kNoValue, hi = kNoValue; // the interval the chain starts from (old ids)
  std::vector<std::string> steps;
  std::vector<ValueId> operands; // old ids
  std::string name;
};

std::optional<Chain> asChain(const Node &node) {
  switch (node.op) {
  case Op::IbpAdd:
  case Op::IbpMul:
    return Chain{node.operands[0], node.operands[1], {node.op == Op::IbpAdd ? "add" : "mul"}, {node.operands[2]},
                 node.name};
  case Op::IbpRelu:
    return Chain{node.operands[0], node.operands[1], {"relu"}, {}, node.name};
  case Op::IbpChain:
    return Chain{node.operands[0], node.operands[1], chainSteps(node.attrs),
                 std::vector<ValueId>(node.operands.begin() + 2, node.operands.end()), node.name};
  default:
    return std::nullopt;
  }
}

std::string join(const std::vector<std::string> &steps) {
  std::string s;
  for (const std::string &step : steps)
    s += (s.empty() ? "" : ",") + step;
  return s;
}

} // namespace

bool fuseMulAdd(Graph &graph, const PassOptions &) {
  std::vector<int> uses(graph.numValues(), 0);
  for (const Node &node : graph.nodes())
    for (ValueId v : node.operands)
      ++uses[v];
  for (ValueId v : graph.outputs())
    uses[v] += 2;
  // pending[node]: the chain ending at this node, when its consumer absorbs it.
  std::vector<std::optional<Chain>> chains(graph.numNodes());
  std::vector<bool> absorbed(graph.numNodes(), false);
  bool changed = false;
  for (NodeId id = 0; id < graph.numNodes(); ++id) {
    const Node &node = graph.node(id);
    std::optional<Chain> c = asChain(node);
    if (!c)
      continue;
    const Value &lo = graph.value(c->lo);
    NodeId prev = lo.def;
    if (chains[prev] && lo.result == 0 && graph.node(prev).results[1] == c->hi && uses[c->lo] == 1 &&
        uses[c->hi] == 1) {
      Chain merged = *chains[prev];
      merged.steps.insert(merged.steps.end(), c->steps.begin(), c->steps.end());
      merged.operands.insert(merged.operands.end(), c->operands.begin(), c->operands.end());
      merged.name = c->name.empty() ? merged.name : c->name;
      absorbed[prev] = true;
      changed = true;
      c = merged;
    }
    chains[id] = c;
  }
  if (!changed)
    return false;
  graph = rewriteNodes(graph, [&](NodeId id, Node &node) {
    if (absorbed[id])
      return false;
    if (chains[id] && chains[id]->steps.size() > 1) {
      const Chain &c = *chains[id];
      node.op = Op::IbpChain;
      node.operands = {c.lo, c.hi};
      node.operands.insert(node.operands.end(), c.operands.begin(), c.operands.end());
      node.attrs = Attrs{};
      node.attrs.set("steps", join(c.steps));
    }
    return true;
  });
  return true;
}

} // namespace gm
