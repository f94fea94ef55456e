#include "ir/linear_weights.h"

namespace gm {

namespace {
constexpr NodeId kGraphOutput = ~NodeId(0); // a use by the graph's outputs
} // namespace

LinearWeights findLinearWeights(const Graph &g, std::int64_t minElements) {
  LinearWeights lw;
  lw.rows.assign(g.numValues(), nullptr);
  lw.unused.assign(g.numValues(), false);
  std::vector<std::vector<std::pair<NodeId, std::size_t>>> uses(g.numValues());
  for (NodeId n = 0; n < g.numNodes(); ++n)
    for (std::size_t k = 0; k < g.node(n).operands.size(); ++k)
      uses[g.node(n).operands[k]].push_back({n, k});
  for (ValueId v : g.outputs())
    uses[v].push_back({kGraphOutput, 0});
  auto onlyMatmulRight = [&](ValueId v) {
    for (auto [n, k] : uses[v])
      if (n == kGraphOutput || g.node(n).op != Op::MatMul || k != 1)
        return false;
    return !uses[v].empty();
  };
  for (NodeId n = 0; n < g.numNodes(); ++n) {
    const Node &t = g.node(n);
    if (t.op != Op::Transpose || t.attrs.getInts("perm") != std::vector<std::int64_t>{1, 0})
      continue;
    const Node &w = g.node(g.value(t.operands[0]).def);
    if (w.op != Op::Const || w.constant->type().numElements() < minElements || !isFloat(w.constant->type().dtype))
      continue;
    ValueId wt = t.results[0];
    lw.rows[wt] = w.constant.get();
    if (!onlyMatmulRight(wt))
      continue;
    lw.unused[wt] = true;
    bool weightOnlyTransposed = true;
    for (auto [user, k] : uses[t.operands[0]])
      weightOnlyTransposed = weightOnlyTransposed && user != kGraphOutput && g.node(user).op == Op::Transpose &&
                             g.node(user).attrs.getInts("perm") == std::vector<std::int64_t>{1, 0};
    if (weightOnlyTransposed)
      lw.unused[t.operands[0]] = true;
  }
  return lw;
}

} // namespace gm
