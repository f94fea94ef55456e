// fuse-pos-neg: a split_sign whose two halves feed one pos/neg consumer
// (W+ l + W- u in ibp.matmul, A+ D_l + A- D_u in lb.relax, A+ lo + A- hi in
// lb.concretize) becomes the _pn form of that consumer, which chooses the
// side per element as it reads the one operand. Nothing is split at run time
// any more; a constant W is read once per product instead of as a W+, W-
// pair (codegen's PosNegProduct). The numbers are unchanged: the unfused ops
// add W+ + W- (one of them an exact zero) before they multiply.
#include "passes/pass.h"

#include <algorithm>
#include <optional>

namespace gm {

namespace {

std::optional<Op> fusedForm(Op op) {
  switch (op) {
  case Op::IbpMatMul:
    return Op::IbpMatMulPN;
  case Op::LbRelax:
    return Op::LbRelaxPN;
  case Op::LbConcretize:
    return Op::LbConcretizePN;
  default:
    return std::nullopt;
  }
}

} // namespace

bool fusePosNeg(Graph &graph, const PassOptions &) {
  std::vector<int> uses(graph.numValues(), 0);
  std::vector<NodeId> user(graph.numValues(), 0);
  for (NodeId id = 0; id < graph.numNodes(); ++id)
    for (ValueId v : graph.node(id).operands)
      ++uses[v], user[v] = id;
  for (ValueId v : graph.outputs())
    uses[v] += 2;
  // split nodes to drop, and for each consumer the value it reads instead
  std::vector<bool> drop(graph.numNodes(), false);
  std::vector<ValueId> fusedSource(graph.numNodes(), kNoValue);
  for (NodeId id = 0; id < graph.numNodes(); ++id) {
    const Node &split = graph.node(id);
    if (split.op != Op::SplitSign)
      continue;
    ValueId p = split.results[0], n = split.results[1];
    if (uses[p] != 1 || uses[n] != 1 || user[p] != user[n])
      continue;
    const Node &consumer = graph.node(user[p]);
    if (!fusedForm(consumer.op) || consumer.operands[0] != p || consumer.operands[1] != n)
      continue;
    drop[id] = true;
    fusedSource[user[p]] = split.operands[0];
  }
  if (std::find(drop.begin(), drop.end(), true) == drop.end())
    return false;
  graph = rewriteNodes(graph, [&](NodeId id, Node &node) {
    if (drop[id])
      return false;
    if (fusedSource[id] != kNoValue) {
      node.op = *fusedForm(node.op);
      node.operands.erase(node.operands.begin(), node.operands.begin() + 2);
      node.operands.insert(node.operands.begin(), fusedSource[id]);
    }
    return true;
  });
  return true;
}

} // namespace gm
