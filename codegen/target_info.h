// What the code generator knows about the machine. Only codegen/ includes LLVM
// headers; the rest of gamma sees these plain functions. The features gamma
// checks are detected without LLVM in cpu_features.h (what gamma-run links).
#pragma once

#include <string>
#include <vector>

namespace gm::codegen {

std::string llvmVersion();                  // "19.1.7"
std::string hostCpuName();                  // "znver3", "skylake-avx512", ...
std::vector<std::string> llvmHostFeatures(); // every feature LLVM finds on this CPU, sorted

} // namespace gm::codegen
