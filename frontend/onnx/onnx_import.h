// ONNX import (opsets 8-17): ModelProto -> gamma IR, through the protobuf
// classes Debian's libonnx-dev generates.
#pragma once

#include "ir/graph.h"

#include <string>

namespace gm::onnx_import {

// Reads `path`, folds shape-only and constant subgraphs, sets the dynamic batch
// dimension of the input to 1, and returns a verified graph whose large
// initializers refer to the bytes of the mapped file. Throws InputError
// "path: node 'name' (OpType): message" for anything it cannot import.
Graph importFile(const std::string &path);

} // namespace gm::onnx_import
