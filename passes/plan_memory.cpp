// plan-memory: every intermediate of a bound program gets an offset in one
// arena, from value lifetimes, so running the program allocates nothing. A
// value lives from its defining node to its last use (graph outputs to the
// end); blocks are placed first-fit among the blocks live at that moment
// (XNNPACK's memory planner, ggml-alloc). Results never share memory with the
// operands of their own node, so every kernel may read its operands while it
// writes. Offsets are the node attribute `arena` (one per result, bytes);
// inputs and constants live outside the arena.
#include "passes/pass.h"

#include <algorithm>

namespace gm {

namespace {

constexpr std::int64_t kAlign = 64; // a cache line: every block starts on one

struct Block {
  std::int64_t offset, size;
  std::size_t lastUse;
};

} // namespace

std::int64_t arenaSize(const Graph &graph) {
  std::int64_t size = 0;
  for (const Node &node : graph.nodes())
    if (const AttrValue *a = node.attrs.find("arena"))
      for (std::size_t i = 0; i < node.results.size(); ++i) {
        const TensorType &t = graph.type(node.results[i]);
        size = std::max(size, std::get<std::vector<std::int64_t>>(*a)[i] +
                                  t.numElements() * static_cast<std::int64_t>(dtypeSize(t.dtype)));
      }
  return size;
}

bool planMemory(Graph &graph, const PassOptions &options) {
  if (!isBoundProgram(graph))
    return false;
  std::size_t end = graph.numNodes();
  std::vector<std::size_t> lastUse(graph.numValues(), 0);
  for (NodeId id = 0; id < graph.numNodes(); ++id)
    for (ValueId v : graph.node(id).operands)
      lastUse[v] = id;
  for (ValueId v : graph.outputs())
    lastUse[v] = end;
  std::vector<Block> live; // sorted by offset
  std::vector<std::vector<std::int64_t>> offsets(graph.numNodes());
  for (NodeId id = 0; id < graph.numNodes(); ++id) {
    const Node &node = graph.node(id);
    if (node.op == Op::Input || node.op == Op::Const)
      continue;
    // Blocks whose last use was before this node are free; this node's
    // operands stay allocated while it runs.
    std::erase_if(live, [&](const Block &b) { return b.lastUse < id; });
    for (ValueId v : node.results) {
      const TensorType &t = graph.type(v);
      std::int64_t size = (t.numElements() * static_cast<std::int64_t>(dtypeSize(t.dtype)) + kAlign - 1) / kAlign * kAlign;
      std::int64_t offset = 0;
      for (const Block &b : live) {
        if (offset + size <= b.offset)
          break;
        offset = std::max(offset, b.offset + b.size);
      }
      // A result nobody reads still needs its space until the node is done.
      Block block{offset, size, std::max<std::size_t>(lastUse[v], id)};
      live.insert(std::upper_bound(live.begin(), live.end(), block,
                                   [](const Block &a, const Block &b) { return a.offset < b.offset; }),
                  block);
      offsets[id].push_back(offset);
    }
  }
  bool changed = false;
  graph = rewriteNodes(graph, [&](NodeId id, Node &node) {
    if (!offsets[id].empty()) {
      const AttrValue *had = node.attrs.find("arena");
      changed = changed || !had || *had != AttrValue(offsets[id]);
      node.attrs.set("arena", offsets[id]);
    }
    return true;
  });
  if (options.arenaBytes)
    *options.arenaBytes = arenaSize(graph);
  return changed;
}

} // namespace gm
