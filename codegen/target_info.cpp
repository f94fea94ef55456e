#include "codegen/target_info.h"

#include <llvm/ADT/StringMap.h>
#include <llvm/ADT/StringRef.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/TargetParser/Host.h>

#include <algorithm>

namespace gm::codegen {

std::string llvmVersion() { return LLVM_VERSION_STRING; }

std::string hostCpuName() { return llvm::sys::getHostCPUName().str(); }

std::vector<std::string> llvmHostFeatures() {
  std::vector<std::string> present;
  for (const auto &entry : llvm::sys::getHostCPUFeatures())
    if (entry.getValue())
      present.push_back(entry.getKey().str());
  std::sort(present.begin(), present.end());
  return present;
}

} // namespace gm::codegen
