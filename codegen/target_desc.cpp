#include "codegen/target_desc.h"

#include "ir/error.h"

#include <llvm/ADT/StringMap.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/Triple.h>

#include <algorithm>

namespace gm::codegen {

namespace {

TargetDesc hostTarget() {
  TargetDesc t{"host", llvm::sys::getProcessTriple(), llvm::sys::getHostCPUName().str(), "", 128, 16};
  llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
  // Sorted, so the same machine always gives the same string.
  std::vector<std::string> names;
  for (const auto &entry : features)
    names.push_back((entry.getValue() ? "+" : "-") + entry.getKey().str());
  std::sort(names.begin(), names.end());
  for (const std::string &name : names)
    t.features += (t.features.empty() ? "" : ",") + name;
  llvm::Triple triple(t.triple);
  if (triple.isAArch64()) {
    t.vectorRegisters = 32;
  } else if (features.lookup("avx512f")) {
    // 512-bit vectors also where LLVM's tuning would prefer 256: the kernels
    // are throughput loops with no frequency-sensitive neighbours.
    t.vectorBits = 512;
    t.vectorRegisters = 32;
  } else if (features.lookup("avx2")) {
    t.vectorBits = 256;
  }
  return t;
}

} // namespace

TargetDesc describeTarget(std::string_view name) {
  if (name == "host")
    return hostTarget();
  if (name == "x86-64-v3") // AVX2 + FMA
    return {"x86-64-v3", "x86_64-pc-linux-gnu", "x86-64-v3", "", 256, 16};
  if (name == "x86-64-v4") // AVX-512 F/BW/CD/DQ/VL
    return {"x86-64-v4", "x86_64-pc-linux-gnu", "x86-64-v4", "", 512, 32};
  if (name == "aarch64") // NEON is part of the base ISA; neoverse-n1 schedules it
    return {"aarch64", "aarch64-linux-gnu", "neoverse-n1", "+neon", 128, 32};
  std::string known;
  for (const std::string &k : knownTargets())
    known += (known.empty() ? "" : ", ") + k;
  fail("--target", "unknown target '{}' (known: {})", name, known);
}

} // namespace gm::codegen
