// Dead code elimination: a node whose results nobody uses goes. Inputs stay,
// because they are the graph's interface even when unused.
#include "passes/pass.h"

namespace gm {

bool dce(Graph &graph, const PassOptions &) {
  std::vector<bool> live(graph.numValues(), false);
  for (ValueId v : graph.outputs())
    live[v] = true;
  std::vector<bool> keep(graph.numNodes(), false);
  for (NodeId id = static_cast<NodeId>(graph.numNodes()); id-- > 0;) {
    const Node &node = graph.node(id);
    bool used = node.op == Op::Input;
    for (ValueId v : node.results)
      used = used || live[v];
    if (!used)
      continue;
    keep[id] = true;
    for (ValueId v : node.operands)
      live[v] = true;
  }
  std::size_t kept = 0;
  for (bool k : keep)
    kept += k;
  if (kept == graph.numNodes())
    return false;
  graph = copyNodes(graph, [&](NodeId id) { return keep[id]; });
  return true;
}

} // namespace gm
