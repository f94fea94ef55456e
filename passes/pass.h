// The pass interface. A pass is a function that rewrites a graph in place and
// says whether it changed anything; passes.def lists them, pipeline.cpp orders
// them. One pass per file, one name in three spellings: file dce.cpp, registry
// name "dce", function dce().
#pragma once

#include "ir/graph.h"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace gm {

struct PassOptions {
  bool verifyEach = false;    // run the verifier after every pass (always on in debug builds)
  bool printAfterAll = false; // print the IR after every pass
  std::function<void(const std::string &)> print; // where --print-after-all goes
  // lower-bounds: the bound method ("ibp", "crown", "crown-ibp") and the
  // number of spec rows the program takes (0: no spec inputs). Rows are a
  // run-time input, so one program serves every property with at most this
  // many rows (pad with zero rows).
  std::string boundMethod = "crown";
  std::int64_t specRows = 0;
  // Filled by plan-memory: the arena the program needs, in bytes.
  std::int64_t *arenaBytes = nullptr;
};

using PassFn = bool (*)(Graph &, const PassOptions &);

struct PassInfo {
  std::string_view name;
  PassFn run;
  std::string_view summary;
};

#define GAMMA_PASS(name, function, summary) bool function(Graph &graph, const PassOptions &options);
#include "passes/passes.def"

const std::vector<PassInfo> &passRegistry();
const PassInfo *findPass(std::string_view name);

// The default pipelines (pipeline.cpp), as pass names: for network graphs,
// and for bound programs (lower-bounds first).
std::vector<std::string> defaultPipeline();
std::vector<std::string> boundPipeline();

// The arena a planned bound program needs (plan-memory's `arena` offsets), bytes.
std::int64_t arenaSize(const Graph &graph);

// Whether a graph is a bound program (has a bound-family op).
bool isBoundProgram(const Graph &graph);

// Runs the named passes in order. Throws InputError for an unknown name.
// `where` names the model in verifier messages.
void runPasses(Graph &graph, const std::vector<std::string> &names, const PassOptions &options,
               const std::string &where);

// Helpers for passes that rebuild. rewriteNodes: a copy of `graph` in which
// edit(id, node) may change each node (op, attrs, operands — still naming
// values of `graph`) and returns false to drop it; operands are remapped to
// the copy. Dropped nodes must be unused by kept ones and by the outputs.
// copyNodes: the same, keeping the nodes for which keep(id) is true.
Graph rewriteNodes(const Graph &graph, const std::function<bool(NodeId, Node &)> &edit);
Graph copyNodes(const Graph &graph, const std::function<bool(NodeId)> &keep);

} // namespace gm
