// Kernels compiled ahead of time for a named target, as bytes and text that
// the plan writer stores and tests inspect. No LLVM type in this header.
#pragma once

#include "codegen/kernel_spec.h"
#include "codegen/target_desc.h"

#include <string>

namespace gm::codegen {

enum class AotFormat {
  Object,   // relocatable ELF object code, position independent
  Assembly, // the same code as assembler text
  LlvmIr,   // the optimised LLVM IR, for inspection
};

// Emits and optimises (O3 for the target) every kernel of the set. The
// target need not be this machine's. Object code is returned as raw bytes.
std::string compileKernels(const KernelSet &kernels, const TargetDesc &target, AotFormat format);

} // namespace gm::codegen
