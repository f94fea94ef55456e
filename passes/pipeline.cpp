// The default pipeline, in order, each entry with why it is there. Empty until
// the bound program lands: the network graph is already what the importers
// verified, and nothing downstream needs it rewritten yet.
#include "passes/pass.h"

namespace gm {

std::vector<std::string> defaultPipeline() {
  return {
      // "dce": not yet needed by default — the ONNX importer folds constant
      //        subgraphs and never materialises unused values.
  };
}

} // namespace gm
