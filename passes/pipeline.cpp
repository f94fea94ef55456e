// The default pipelines, in order, each entry with why it is there.
#include "passes/pass.h"

namespace gm {

// Network graphs: empty. The network graph is already what the importers
// verified, and nothing downstream needs it rewritten yet.
std::vector<std::string> defaultPipeline() {
  return {
      // "dce": not yet needed by default — the ONNX importer folds constant
      //        subgraphs and never materialises unused values.
  };
}

// Bound programs (gammac --emit bound-ir, plans).
std::vector<std::string> boundPipeline() {
  return {
      "lower-bounds", // the network and the method become interval / linear-bound ops
      "fuse-pos-neg", // each sign split read once, inside the product that needs it
      "fuse-mul-add", // elementwise interval steps: one pass over memory per run
      "dce",          // whatever fusion left unused
      // Later: "plan-checkpoints" (which intervals to keep under a memory
      // limit) and position scheduling go here, after fusion (they work on
      // the kernels that will run) and before plan-memory (they change what
      // is live when).
      "plan-memory", // last: offsets for exactly the ops that will run
  };
}

} // namespace gm
