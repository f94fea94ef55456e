// One entry point for every model format: the tools call loadModel and get a
// verified graph, whatever the file was.
#pragma once

#include "ir/graph.h"

#include <string>

namespace gm {

// "demo" (or empty) is the embedded default; otherwise by extension:
// .onnx (ONNX), .gir (textual IR). Throws InputError for anything else.
Graph loadModel(const std::string &path);

} // namespace gm
