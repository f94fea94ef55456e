#include "ir/error.h"
#include "ir/text.h"
#include "ir/verifier.h"
#include "passes/pass.h"

namespace gm {

const std::vector<PassInfo> &passRegistry() {
  static const std::vector<PassInfo> registry = {
#define GAMMA_PASS(name, function, summary) PassInfo{name, function, summary},
#include "passes/passes.def"
  };
  return registry;
}

const PassInfo *findPass(std::string_view name) {
  for (const PassInfo &info : passRegistry())
    if (info.name == name)
      return &info;
  return nullptr;
}

void runPasses(Graph &graph, const std::vector<std::string> &names, const PassOptions &options,
               const std::string &where) {
  std::vector<const PassInfo *> passes;
  for (const std::string &name : names) {
    const PassInfo *info = findPass(name);
    if (!info) {
      std::string known;
      for (const PassInfo &p : passRegistry())
        known += (known.empty() ? "" : ", ") + std::string(p.name);
      fail("--passes", "unknown pass '{}' (known: {})", name, known);
    }
    passes.push_back(info);
  }
#ifndef NDEBUG
  constexpr bool kDebugBuild = true;
#else
  constexpr bool kDebugBuild = false;
#endif
  for (const PassInfo *pass : passes) {
    pass->run(graph, options);
    if (options.verifyEach || kDebugBuild)
      verify(graph, fmt::format("{}: after pass '{}'", where, pass->name));
    if (options.printAfterAll && options.print)
      options.print(fmt::format("// ----- IR after {} -----\n{}", pass->name, printGraph(graph)));
  }
}

Graph copyNodes(const Graph &graph, const std::function<bool(NodeId)> &keep) {
  return rewriteNodes(graph, [&](NodeId id, Node &) { return keep(id); });
}

Graph rewriteNodes(const Graph &graph, const std::function<bool(NodeId, Node &)> &edit) {
  Graph out;
  out.name = graph.name;
  std::vector<ValueId> remap(graph.numValues(), kNoValue);
  for (NodeId id = 0; id < graph.numNodes(); ++id) {
    Node node = graph.node(id);
    if (!edit(id, node))
      continue;
    for (ValueId &v : node.operands) {
      GAMMA_ASSERT(remap[v] != kNoValue, "rewriteNodes dropped a node that is still used");
      v = remap[v];
    }
    std::vector<TensorType> types;
    for (ValueId v : node.results)
      types.push_back(graph.type(v));
    std::vector<ValueId> oldResults = node.results;
    std::vector<ValueId> newResults = out.addUnchecked(std::move(node), types);
    for (std::size_t i = 0; i < oldResults.size(); ++i)
      remap[oldResults[i]] = newResults[i];
  }
  std::vector<ValueId> outputs;
  for (ValueId v : graph.outputs()) {
    GAMMA_ASSERT(remap[v] != kNoValue, "rewriteNodes dropped an output");
    outputs.push_back(remap[v]);
  }
  out.setOutputs(std::move(outputs));
  return out;
}

} // namespace gm
