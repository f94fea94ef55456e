// What the code generator knows about the machine. Only codegen/ includes LLVM
// headers; the rest of gamma sees these plain functions.
#pragma once

#include <string>
#include <vector>

namespace gm::codegen {

std::string llvmVersion();                  // "19.1.7"
std::string hostCpuName();                  // "znver3", "skylake-avx512", ...
std::vector<std::string> hostVectorFeatures(); // of avx2, avx512f, fma, neon: those present

} // namespace gm::codegen
