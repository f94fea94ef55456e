#include "codegen/target_info.h"

#include <llvm/ADT/StringMap.h>
#include <llvm/ADT/StringRef.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/TargetParser/Host.h>

namespace gm::codegen {

std::string llvmVersion() { return LLVM_VERSION_STRING; }

std::string hostCpuName() { return llvm::sys::getHostCPUName().str(); }

std::vector<std::string> hostVectorFeatures() {
  llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
  std::vector<std::string> present;
  for (const char *name : {"avx2", "fma", "avx512f", "neon"})
    if (features.lookup(name))
      present.emplace_back(name);
  return present;
}

} // namespace gm::codegen
